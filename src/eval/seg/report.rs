//! The report of a segmentation evaluation: per-class results, text table and JSON.

use super::confusion::{Confusion, mean_defined};
use super::data::WORST_FRAMES_SHOWN;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// One class's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResult {
    pub index: usize,
    pub name: String,
    /// `None` when the class is in neither the ground truth nor the predictions.
    pub iou: Option<f64>,
    /// Ground-truth pixels of the class.
    pub gt_pixels: u64,
    /// Predicted pixels of the class.
    pub pred_pixels: u64,
    /// `gt_pixels` over all counted pixels (`None` when nothing is counted).
    pub gt_fraction: Option<f64>,
}

/// The result of [`evaluate_dirs`].
#[derive(Debug, Clone)]
pub struct SegReport {
    /// The ground-truth and prediction series evaluated (e.g. `#`, `drive-lanes-#`).
    pub gt_series: String,
    pub pred_series: String,
    pub ignore: Option<u8>,
    pub confusion: Confusion,
    pub classes: Vec<ClassResult>,
    /// Evaluated frames with their own mIoU (`None`: every pixel ignored), by frame number.
    pub per_frame: Vec<(u64, Option<f64>)>,
    /// Frame numbers of ground truth without a prediction, and the other way round.
    pub gt_without_prediction: Vec<u64>,
    pub predictions_without_gt: Vec<u64>,
    /// Things that look wrong but are not errors.
    pub warnings: Vec<String>,
}

impl SegReport {
    /// Builds the report from a summed matrix: as many classes as names, or more when higher
    /// indices were counted (named `class N`, as every class is without names).
    pub fn from_confusion(
        confusion: Confusion,
        names: Option<&[String]>,
        ignore: Option<u8>,
    ) -> SegReport {
        let n = names.map_or(0, <[String]>::len).max(confusion.classes());
        let px = confusion.pixels();
        let classes = (0..n)
            .map(|k| {
                let gt_pixels = confusion.gt_pixels(k);
                ClassResult {
                    index: k,
                    name: names
                        .and_then(|v| v.get(k).cloned())
                        .unwrap_or_else(|| format!("class {k}")),
                    iou: confusion.iou(k),
                    gt_pixels,
                    pred_pixels: confusion.pred_pixels(k),
                    gt_fraction: (px > 0).then(|| gt_pixels as f64 / px as f64),
                }
            })
            .collect();
        let mut warnings = vec![];
        if let Some(i) = ignore
            && confusion.ignored() > 0
            && confusion.gt_classes() <= 1
        {
            warnings.push(format!(
                "the ground truth holds only class 0 besides the ignore index {i}: if these are binary masks with {i} for the foreground, evaluate without an ignore index"
            ));
        }
        SegReport {
            gt_series: String::new(),
            pred_series: String::new(),
            ignore,
            confusion,
            classes,
            per_frame: vec![],
            gt_without_prediction: vec![],
            predictions_without_gt: vec![],
            warnings,
        }
    }

    /// Mean of the defined per-class IoUs.
    pub fn miou(&self) -> Option<f64> {
        mean_defined(&self.classes.iter().map(|c| c.iou).collect::<Vec<_>>())
    }

    pub fn pixel_accuracy(&self) -> Option<f64> {
        self.confusion.pixel_accuracy()
    }

    /// Evaluated frames.
    pub fn frames(&self) -> usize {
        self.per_frame.len()
    }

    /// Frames by their own mIoU, worst first (frames without one last); ties by frame number.
    pub fn worst_frames(&self) -> Vec<(u64, Option<f64>)> {
        let mut v = self.per_frame.clone();
        v.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => x.total_cmp(&y).then(a.0.cmp(&b.0)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.cmp(&b.0),
        });
        v
    }

    pub fn to_json(&self) -> Value {
        let mut classes = Map::new();
        for c in &self.classes {
            classes.insert(
                c.name.clone(),
                json!({
                    "index": c.index,
                    "iou": c.iou,
                    "gt_fraction": c.gt_fraction,
                    "gt_pixels": c.gt_pixels,
                    "pred_pixels": c.pred_pixels,
                }),
            );
        }
        json!({
            "miou": self.miou(),
            "pixel_accuracy": self.pixel_accuracy(),
            "frames": self.frames(),
            "gt_without_prediction": self.gt_without_prediction.len(),
            "predictions_without_gt": self.predictions_without_gt.len(),
            "pixels": self.confusion.pixels(),
            "ignored_pixels": self.confusion.ignored(),
            "ignore": self.ignore,
            "gt_series": self.gt_series,
            "pred_series": self.pred_series,
            "classes": classes,
            "per_frame": self.per_frame.iter().map(|(f, m)| json!([f, m])).collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }

    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}%", v * 100.0));
        let w = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w$} {:>8} {:>9} {:>9}",
            "class", "IoU", "GT", "pred"
        );
        let px = self.confusion.pixels().max(1) as f64;
        for c in &self.classes {
            let _ = writeln!(
                out,
                "{:<w$} {:>8} {:>9} {:>9}",
                c.name,
                pct(c.iou),
                pct(c.gt_fraction),
                pct((self.confusion.pixels() > 0).then(|| c.pred_pixels as f64 / px)),
            );
        }
        let defined = self.classes.iter().filter(|c| c.iou.is_some()).count();
        let _ = writeln!(
            out,
            "mIoU {} over {defined} of {} classes (a class in neither the ground truth nor the predictions has no IoU: -)",
            pct(self.miou()),
            self.classes.len()
        );
        let _ = writeln!(
            out,
            "pixel accuracy {}; {} pixels counted, {} ignored{}",
            pct(self.pixel_accuracy()),
            self.confusion.pixels(),
            self.confusion.ignored(),
            self.ignore
                .map_or(String::new(), |i| format!(" (ground truth {i})"))
        );
        let _ = writeln!(
            out,
            "frames: {} evaluated; {} ground-truth frames without prediction; {} predictions without ground truth",
            self.frames(),
            self.gt_without_prediction.len(),
            self.predictions_without_gt.len()
        );
        let worst: Vec<String> = self
            .worst_frames()
            .into_iter()
            .take(WORST_FRAMES_SHOWN)
            .map(|(f, m)| format!("{f} ({})", pct(m)))
            .collect();
        if !worst.is_empty() {
            let _ = writeln!(out, "worst frames by their own mIoU: {}", worst.join(", "));
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

//! The inputs and the report of a detection evaluation: frames of ground truth and predictions,
//! the per-class results and their text and JSON.

pub use crate::frame::mask::Rle;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What a match is scored on, as pycocotools' `iouType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IouType {
    /// Box IoU.
    #[default]
    Bbox,
    /// Mask IoU: instance masks (COCO RLE) on both sides.
    Segm,
}

impl IouType {
    pub fn name(self) -> &'static str {
        match self {
            IouType::Bbox => "bbox",
            IouType::Segm => "segm",
        }
    }
}

/// Detections kept per image and category, best scores first (pycocotools' `maxDets[-1]`).
pub const MAX_DETS: usize = 100;
/// Number of IoU thresholds, 0.50:0.05:0.95.
pub const IOU_THRESHOLDS: usize = 10;
/// Number of recall points, 0:0.01:1.
pub const RECALL_POINTS: usize = 101;

/// The IoU thresholds, bit for bit as `np.linspace(.5, 0.95, 10)` makes them.
pub fn iou_thresholds() -> [f64; IOU_THRESHOLDS] {
    let step = (0.95 - 0.5) / 9.0;
    let mut t = [0.0; IOU_THRESHOLDS];
    for (i, v) in t.iter_mut().enumerate() {
        *v = i as f64 * step + 0.5;
    }
    t[IOU_THRESHOLDS - 1] = 0.95;
    t
}

/// The recall points, bit for bit as `np.linspace(.0, 1.00, 101)` makes them.
pub fn recall_points() -> [f64; RECALL_POINTS] {
    let step = 1.0 / 100.0;
    let mut r = [0.0; RECALL_POINTS];
    for (i, v) in r.iter_mut().enumerate() {
        *v = i as f64 * step;
    }
    r[RECALL_POINTS - 1] = 1.0;
    r
}

/// What can go wrong reading ground truth or predictions. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
pub enum DetError {
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: COCO JSON: {message}", path.display())]
    Coco { path: PathBuf, message: String },
    #[error(
        "{}: not JSON Lines (line {line}: {jsonl}) and not one COCO JSON object ({whole}); ground truth is either one JSON object per line or a COCO `instances` file",
        path.display()
    )]
    Format {
        path: PathBuf,
        line: usize,
        jsonl: String,
        whole: String,
    },
    #[error(
        "{} line {line}: {key} appears twice (lines {first} and {line}); write each frame once",
        path.display()
    )]
    DuplicateFrame {
        path: PathBuf,
        key: FrameKey,
        first: usize,
        line: usize,
    },
    #[error(
        "{}: images {a} and {b} both map to frame {frame} (the last number in file_name, else the index by id); rename one or give each frame one image",
        path.display()
    )]
    DuplicateImageFrame {
        path: PathBuf,
        frame: u64,
        a: String,
        b: String,
    },
    #[error(
        "{}: no frames; ground truth needs one JSON object per frame, or a COCO file with images",
        path.display()
    )]
    EmptyGroundTruth { path: PathBuf },
    #[error(
        "{} line {line}: no `stream`, but the files hold several streams ({streams}), so frames are paired by (stream, frame); give every line a stream",
        path.display()
    )]
    MissingStream {
        path: PathBuf,
        line: usize,
        streams: String,
    },
    #[error(
        "{}: predictions hold several streams ({streams}), and COCO ground truth {} has none; evaluate one stream's predictions at a time",
        pred.display(),
        gt.display()
    )]
    StreamsWithCoco {
        gt: PathBuf,
        pred: PathBuf,
        streams: String,
    },
    #[error(
        "{}: {key}, {what} has no instance mask; `--iou-type segm` needs masks on both sides ({fix})",
        path.display()
    )]
    NoMask {
        path: PathBuf,
        key: FrameKey,
        what: String,
        fix: &'static str,
    },
    #[error(
        "{}: {key}, {what}: {problem}",
        path.display()
    )]
    BadMask {
        path: PathBuf,
        key: FrameKey,
        what: String,
        problem: String,
    },
}

/// Which ground-truth frame a record belongs to: `stream` is set only when the files hold several
/// streams (see the module doc). Ordered by stream, then frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameKey {
    pub stream: Option<String>,
    pub frame: u64,
}

impl FrameKey {
    pub fn frame(frame: u64) -> Self {
        Self {
            stream: None,
            frame,
        }
    }
}

impl std::fmt::Display for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.stream {
            Some(s) => write!(f, "stream {s} frame {}", self.frame),
            None => write!(f, "frame {}", self.frame),
        }
    }
}

/// `[x1, y1, x2, y2]` corners to pycocotools' `[x, y, w, h]` (`w = x2 - x1`, no +1).
pub fn xywh_from_corners(b: [f64; 4]) -> [f64; 4] {
    [b[0], b[1], b[2] - b[0], b[3] - b[1]]
}

/// One ground-truth box.
#[derive(Debug, Clone, PartialEq)]
pub struct GtObject {
    pub label: String,
    /// `[x, y, w, h]` in pixels (COCO's layout; see [`xywh_from_corners`]).
    pub xywh: [f64; 4],
    /// A crowd region: ignored ground truth that any number of detections may match.
    pub iscrowd: bool,
    /// The area that decides the area range (COCO's `area`); None: `w * h` (segm: the mask's).
    pub area: Option<f64>,
    /// The instance mask (JSONL `mask`, COCO `segmentation` as RLE), for `segm`.
    pub mask: Option<Rle>,
    /// COCO gave polygons, which are not read.
    pub polygon: bool,
}

/// One ground-truth frame (an image, even without objects).
#[derive(Debug, Clone, PartialEq)]
pub struct GtFrame {
    pub key: FrameKey,
    pub objects: Vec<GtObject>,
}

/// One predicted box.
#[derive(Debug, Clone, PartialEq)]
pub struct PredDetection {
    pub label: String,
    pub score: f64,
    /// `[x, y, w, h]` in pixels (see [`xywh_from_corners`]).
    pub xywh: [f64; 4],
    /// The instance mask (perceptd's JSONL `mask`), for `segm`.
    pub mask: Option<Rle>,
}

/// One frame of predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct PredFrame {
    pub key: FrameKey,
    pub detections: Vec<PredDetection>,
}

/// Ground truth and predictions read from files, keys paired (see [`load_paths`]).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// JSONL: sorted by key; COCO: in image id order (pycocotools' image order).
    pub gt: Vec<GtFrame>,
    /// In file order.
    pub pred: Vec<PredFrame>,
    /// Every ground-truth class, also those without boxes (COCO categories).
    pub gt_classes: Vec<String>,
}

/// One class's results.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResult {
    pub name: String,
    /// Ground-truth boxes that count (not crowd, inside the area range).
    pub gt: usize,
    /// Ignored ground-truth boxes (crowd, or outside the area range).
    pub ignored_gt: usize,
    /// Predicted boxes on ground-truth frames (before the per-image cut to [`MAX_DETS`]).
    pub detections: usize,
    /// AP@0.5:0.95; None without ground truth.
    pub ap: Option<f64>,
    pub ap50: Option<f64>,
    pub ap75: Option<f64>,
    /// Recall at the end of the ranked list, averaged over the IoU thresholds.
    pub ar100: Option<f64>,
    /// Interpolated precision at IoU 0.5 at the 101 recall points 0, 0.01, ..., 1.
    pub pr50: Option<Vec<f64>>,
}

/// Results per class and overall.
#[derive(Debug, Clone, PartialEq)]
pub struct DetReport {
    pub iou_type: IouType,
    /// Sorted by name.
    pub classes: Vec<ClassResult>,
    /// Ground-truth frames.
    pub images: usize,
    /// Prediction frames without ground truth (left out), and their detections.
    pub ignored_prediction_frames: usize,
    pub ignored_predictions: usize,
    /// pycocotools' `stats[0]`, `stats[1]`, `stats[2]`, `stats[8]`; None without a class that has
    /// ground truth.
    pub map: Option<f64>,
    pub map50: Option<f64>,
    pub map75: Option<f64>,
    pub ar100: Option<f64>,
}

impl DetReport {
    /// mAP@0.5:0.95.
    pub fn map(&self) -> Option<f64> {
        self.map
    }
    /// mAP@0.5.
    pub fn map50(&self) -> Option<f64> {
        self.map50
    }

    /// `{"map", "map50", "map75", "ar100", "images", "classes": {name: {"ap", "ap50", "ap75",
    /// "ar100", "gt", "ignored_gt", "detections", "pr50"}}, "ignored_prediction_frames",
    /// "ignored_predictions"}`; undefined values are null.
    pub fn to_json(&self) -> serde_json::Value {
        let classes: serde_json::Map<String, serde_json::Value> = self
            .classes
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    serde_json::json!({
                        "ap": c.ap,
                        "ap50": c.ap50,
                        "ap75": c.ap75,
                        "ar100": c.ar100,
                        "gt": c.gt,
                        "ignored_gt": c.ignored_gt,
                        "detections": c.detections,
                        "pr50": c.pr50,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "iou_type": self.iou_type.name(),
            "map": self.map,
            "map50": self.map50,
            "map75": self.map75,
            "ar100": self.ar100,
            "images": self.images,
            "classes": classes,
            "ignored_prediction_frames": self.ignored_prediction_frames,
            "ignored_predictions": self.ignored_predictions,
        })
    }

    /// One row per class, then `all`, as fractions like pycocotools prints them.
    pub fn table(&self) -> String {
        let w = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "class", "AP", "AP50", "AP75", "AR100", "GT", "dets"
        );
        for c in &self.classes {
            let _ = writeln!(
                out,
                "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
                c.name,
                f(c.ap),
                f(c.ap50),
                f(c.ap75),
                f(c.ar100),
                c.gt,
                c.detections
            );
        }
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "all",
            f(self.map),
            f(self.map50),
            f(self.map75),
            f(self.ar100),
            self.classes.iter().map(|c| c.gt).sum::<usize>(),
            self.classes.iter().map(|c| c.detections).sum::<usize>()
        );
        let _ = writeln!(
            out,
            "{} images; AP is COCO's (IoU 0.50:0.95 of {}, 101 recall points, 100 detections per image); '-': no ground truth",
            self.images,
            match self.iou_type {
                IouType::Bbox => "boxes",
                IouType::Segm => "instance masks",
            }
        );
        if self.ignored_prediction_frames > 0 {
            let _ = writeln!(
                out,
                "{} prediction frames ({} detections) have no ground truth and were left out",
                self.ignored_prediction_frames, self.ignored_predictions
            );
        }
        out
    }
}

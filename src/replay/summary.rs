//! What a replay writes about itself: per-drive and per-run summaries (`summary.json`,
//! `run.json`), and the errors a replay reports.

use crate::config::ConfigErrors;
use crate::graph::PipelineError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Config(#[from] Box<ConfigErrors>),
    #[error("{}: {why}", path.display())]
    Input { path: PathBuf, why: String },
    #[error("drive {drive}: {source}")]
    Pipeline {
        drive: String,
        #[source]
        source: Box<PipelineError>,
    },
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("ground truth for drive {drive}: {why}")]
    Eval { drive: String, why: String },
    #[error("interrupted; the drives done so far are in the output folder")]
    Interrupted,
    #[error(transparent)]
    Serve(#[from] crate::telemetry::ServeError),
}

impl ReplayError {
    /// Bad input (arguments, files, ground truth): exit code 2; the rest 1.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ReplayError::Config(_) | ReplayError::Input { .. } | ReplayError::Eval { .. }
        )
    }
}

/// Timings of one stage over a drive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageStats {
    pub name: String,
    pub frames: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// Counts per bin of [`HIST_EDGES_MS`].
    pub histogram: Vec<u64>,
}

/// A frame worth a look: many errors against ground truth, or slow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorstFrame {
    pub frame: u64,
    pub score: f64,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveSummary {
    /// The drive's name: its file stem, also its folder in the output.
    pub drive: String,
    pub input: PathBuf,
    pub frames: u64,
    pub elapsed_s: f64,
    pub fps: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub stages: Vec<StageStats>,
    /// Detections per class label, over the drive.
    pub detections: BTreeMap<String, u64>,
    /// `(seconds, frames done)`, sampled every 0.25 s.
    pub timeline: Vec<(f32, u64)>,
    /// The JSONL results, relative to the drive's folder.
    pub jsonl: String,
    pub video: Option<String>,
    pub masks: Option<String>,
    /// The class names of the masks (the pipeline's one segmentation head), in index order.
    #[serde(default)]
    pub seg_classes: Option<Vec<String>>,
    pub mot: Option<String>,
    /// `{"det": ..., "seg": ..., "mot": ...}` when ground truth was given.
    pub eval: Option<serde_json::Value>,
    /// The detection ground truth evaluated against, if any (its boxes go on the thumbnails).
    #[serde(default)]
    pub det_gt: Option<PathBuf>,
    pub worst: Vec<WorstFrame>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub pipeline_file: PathBuf,
    pub version: String,
    pub frames: u64,
    pub elapsed_s: f64,
    pub fps: f64,
    pub drives: Vec<DriveSummary>,
}

impl RunSummary {
    pub fn read(dir: &Path) -> Result<RunSummary, ReplayError> {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ReplayError::Input {
            path: path.clone(),
            why: format!("cannot read ({e}); give the --out folder of a `perceptd replay`"),
        })?;
        serde_json::from_str(&text).map_err(|e| ReplayError::Input {
            path,
            why: format!("not a replay summary: {e}"),
        })
    }
}

/// Bin edges (ms) of the stage-duration histograms: 0.1 ms to 10 s, ten bins per decade.
pub fn hist_edges_ms() -> Vec<f64> {
    (0..=50)
        .map(|i| 10f64.powf(-1.0 + i as f64 / 10.0))
        .collect()
}

pub(super) fn histogram(durations_s: &[f32]) -> Vec<u64> {
    let edges = hist_edges_ms();
    let mut h = vec![0u64; edges.len() - 1];
    for &d in durations_s {
        let ms = d as f64 * 1e3;
        let last = h.len() - 1;
        let i = edges.partition_point(|&e| e <= ms).saturating_sub(1);
        h[i.min(last)] += 1;
    }
    h
}

/// A metric for people to read: 3 significant digits (`0.348`, `12.3`, `1.00`), `n/a` when
/// absent. Integers (counts) print whole.
pub fn fmt_opt(v: &serde_json::Value) -> String {
    if v.is_i64() || v.is_u64() {
        return v.to_string();
    }
    v.as_f64().map_or("n/a".into(), sig3)
}

/// ID switches per 100 ground-truth tracks of a tracking evaluation (`null` without tracks).
pub fn switches_per_100(mot: &serde_json::Value) -> serde_json::Value {
    match (
        mot["num_switches"].as_f64(),
        mot["num_unique_objects"].as_f64(),
    ) {
        (Some(s), Some(n)) if n > 0.0 => serde_json::json!(100.0 * s / n),
        _ => serde_json::Value::Null,
    }
}

/// `x` with 3 significant digits.
pub fn sig3(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

/// `(class name, IoU)` of a segmentation evaluation's classes, in index order, IoUs for reading.
pub fn seg_class_ious(seg: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(u64, String, String)> = seg["classes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, c)| {
            (
                c["index"].as_u64().unwrap_or(u64::MAX),
                name.clone(),
                fmt_opt(&c["iou"]),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n, i)| (n, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::{fmt_opt, sig3};

    #[test]
    fn metrics_print_with_three_significant_digits() {
        assert_eq!(sig3(0.3476505656480308), "0.348");
        assert_eq!(sig3(0.041), "0.0410");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(1.0), "1.00");
        assert_eq!(sig3(-0.17221839344513368), "-0.172");
        assert_eq!(sig3(1234.4), "1234");
        assert_eq!(fmt_opt(&serde_json::json!(65)), "65");
        assert_eq!(fmt_opt(&serde_json::json!(null)), "n/a");
    }
}

//! COCO-style detection metrics of a perceptd JSONL run against ground truth, computed exactly as
//! pycocotools' `COCOeval` does with `iouType="bbox"` and its default parameters (area range
//! "all", at most 100 detections per image and category).
//!
//! # Inputs
//!
//! **Predictions**: perceptd's JSONL, one object per frame (see `sink::jsonl`):
//! `{"stream": "...", "frame": N, "detections": [{"label": "car", "score": 0.9, "bbox": [x1, y1,
//! x2, y2]}, ...], ...}`, boxes in pixels, corners. Other keys are ignored.
//!
//! **Ground truth**, one of two formats, told apart by the content:
//!
//! - *JSON Lines*, one object per frame: `{"frame": N, "stream": "cam0" (optional), "width": W,
//!   "height": H, "objects": [{"label": "car", "bbox": [x1, y1, x2, y2], "iscrowd": false,
//!   "id": 7, "area": 1234.5}]}`. `iscrowd` (a bool, or 0 / 1), `id`, `area`, `width` and
//!   `height` are optional; other keys are ignored. `area` (default: the box's) only decides
//!   whether a box is inside the evaluated area range, as in COCO. A frame listed with
//!   `"objects": []` is an image without objects: every prediction on it is a false positive.
//! - *COCO JSON* (`instances_*.json`): one JSON object with `images`, `annotations` (bbox
//!   `[x, y, w, h]`, `iscrowd`, `area`, `category_id`) and `categories`. An image's frame number
//!   is the last run of digits in its `file_name`'s stem (`frame_000123.jpg` is frame 123), else
//!   its 0-based index in `images` sorted by id; two images with one frame number are an error.
//!   Categories are matched to the predictions' `label` by `name`.
//!
//! # Frames
//!
//! Ground truth and predictions are paired by frame number. When either file holds more than one
//! stream (distinct `stream` values), they are paired by `(stream, frame)` instead, and every line
//! of both files needs a `stream` (COCO ground truth has no streams: split such predictions per
//! stream). Every ground-truth frame is an image, even without objects; prediction frames that are
//! not in the ground truth are ignored and counted ([`DetReport::ignored_prediction_frames`]).
//!
//! # Metrics
//!
//! Per image and category, detections are sorted by score (stable, highest first) and cut to the
//! best [`MAX_DETS`]; crowd boxes (`iscrowd`) are ignored ground truth, sorted last. At each IoU
//! threshold 0.50, 0.55, ..., 0.95 each detection in turn takes the unmatched ground-truth box it
//! overlaps most (at least the threshold), preferring boxes that are not ignored; a crowd box may
//! take any number of detections, and a detection that matched an ignored box is ignored. IoU is
//! pycocotools' (`[x, y, w, h]` boxes, `w = x2 - x1`, area `w * h`, no +1), except against a crowd
//! box, where it is the intersection over the detection's area.
//!
//! Per category, over all images, the detections are sorted by score (stable, images in order);
//! precision `tp / (tp + fp)` and recall `tp / gt` (gt: boxes not ignored) are taken at each
//! detection, precision is made non-increasing from the right, then read at the 101 recall points
//! 0, 0.01, ..., 1 (the first detection whose recall reaches the point; 0 beyond the highest
//! recall). AP is the mean of those 101 values; AP@0.5:0.95 also averages the 10 thresholds.
//! mAP is the mean over categories with ground truth; a category without ground truth has no AP
//! (pycocotools' -1) and is left out. AR@100 is the mean over thresholds and categories of the
//! final recall. Known difference: pycocotools takes a match with a ground-truth annotation whose
//! `id` is 0 for no match (it stores ids in a zero-initialised array); perceptd does not.
//!
//! Files: `data.rs` (inputs, errors, the report and its text and JSON), `read.rs` (parsing and
//! pairing the files), `score.rs` (matching and AP).

mod data;
mod read;
mod score;
#[cfg(test)]
mod tests;

pub use data::*;
pub use read::load_paths;
pub use score::{evaluate, evaluate_classes, frame_errors};

use std::path::Path;

/// Reads both files (see [`load_paths`]) and evaluates them.
pub fn evaluate_paths(gt: &Path, pred: &Path) -> Result<DetReport, DetError> {
    let l = load_paths(gt, pred)?;
    Ok(evaluate_classes(&l.gt, &l.pred, &l.gt_classes))
}

/// The `n` ground-truth frames with the most false positives + misses at IoU 0.5 (all scores),
/// most first (ties: earlier frame first), frames without errors left out: `(frame, fp, fn)`.
/// With several streams the stream is dropped from the key.
pub fn worst_frames(
    gt: &Path,
    pred: &Path,
    n: usize,
) -> Result<Vec<(u64, usize, usize)>, DetError> {
    let l = load_paths(gt, pred)?;
    let mut errors: Vec<(FrameKey, usize, usize)> = frame_errors(&l.gt, &l.pred, 0.0)
        .into_iter()
        .filter(|e| e.1 + e.2 > 0)
        .collect();
    errors.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then_with(|| a.0.cmp(&b.0)));
    Ok(errors
        .into_iter()
        .take(n)
        .map(|(k, fp, fneg)| (k.frame, fp, fneg))
        .collect())
}

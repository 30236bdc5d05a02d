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
//! # Instance masks (`--iou-type segm`)
//!
//! As pycocotools' `iouType="segm"`: every ground-truth object carries a COCO RLE mask (JSONL
//! `"mask": {"size": [h, w], "counts": "..." | [runs]}`, COCO `segmentation` as RLE; polygons
//! are refused with the conversion to use) and every detection on a ground-truth frame one too
//! (perceptd's JSONL `mask`, from a model with a mask head). IoU is mask IoU (over the
//! detection's mask area against a crowd region; 0 without overlap, also for empty masks); the
//! area that decides the area range is the object's `area`, else its mask's, and a detection's
//! mask area. A frame's masks must all be of one size.
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
pub use score::{evaluate, evaluate_as, evaluate_classes, frame_errors};

use std::collections::HashMap;
use std::path::Path;

/// Reads both files (see [`load_paths`]) and evaluates their boxes.
pub fn evaluate_paths(gt: &Path, pred: &Path) -> Result<DetReport, DetError> {
    evaluate_paths_as(gt, pred, IouType::Bbox)
}

/// Reads both files and evaluates boxes or, with [`IouType::Segm`], instance masks (checked
/// first: every object and every detection on a ground-truth frame has one, all of the frame's
/// size).
pub fn evaluate_paths_as(gt: &Path, pred: &Path, iou_type: IouType) -> Result<DetReport, DetError> {
    let l = load_paths(gt, pred)?;
    if iou_type == IouType::Segm {
        check_masks(&l, gt, pred)?;
    }
    Ok(evaluate_as(&l.gt, &l.pred, &l.gt_classes, iou_type))
}

/// Every ground-truth object and every detection on a ground-truth frame has a mask, and a
/// frame's masks are of one size.
fn check_masks(l: &Loaded, gt: &Path, pred: &Path) -> Result<(), DetError> {
    let mut size: HashMap<FrameKey, (u32, u32, String)> = HashMap::new();
    let mut fits = |path: &Path, key: &FrameKey, what: String, m: &Rle| -> Result<(), DetError> {
        let first = size
            .entry(key.clone())
            .or_insert_with(|| (m.h, m.w, what.clone()));
        if (first.0, first.1) != (m.h, m.w) {
            return Err(DetError::BadMask {
                path: path.to_path_buf(),
                key: key.clone(),
                what,
                problem: format!(
                    "mask size [{}, {}] differs from [{}, {}] of {} (sizes are [height, width] of the frame)",
                    m.h, m.w, first.0, first.1, first.2
                ),
            });
        }
        Ok(())
    };
    for f in &l.gt {
        for (k, o) in f.objects.iter().enumerate() {
            let what = format!("object {k} ({})", o.label);
            match &o.mask {
                Some(m) => fits(gt, &f.key, format!("ground-truth {what}"), m)?,
                None if o.polygon => {
                    return Err(DetError::BadMask {
                        path: gt.to_path_buf(),
                        key: f.key.clone(),
                        what,
                        problem: "COCO polygon segmentations are not read; convert them to RLE (pycocotools: COCO.annToRLE)".into(),
                    });
                }
                None => {
                    return Err(DetError::NoMask {
                        path: gt.to_path_buf(),
                        key: f.key.clone(),
                        what,
                        fix: "give each object an RLE `mask` {\"size\": [h, w], \"counts\": ...} in JSONL, or `segmentation` in COCO",
                    });
                }
            }
        }
    }
    let frames: std::collections::HashSet<&FrameKey> = l.gt.iter().map(|f| &f.key).collect();
    for f in l.pred.iter().filter(|f| frames.contains(&f.key)) {
        for (k, d) in f.detections.iter().enumerate() {
            let what = format!("detection {k} ({})", d.label);
            match &d.mask {
                Some(m) => fits(pred, &f.key, format!("predicted {what}"), m)?,
                None => {
                    return Err(DetError::NoMask {
                        path: pred.to_path_buf(),
                        key: f.key.clone(),
                        what,
                        fix: "run a model with a mask head (an Ultralytics -seg export), or evaluate boxes with --iou-type bbox",
                    });
                }
            }
        }
    }
    Ok(())
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

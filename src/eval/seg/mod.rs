//! Per-class IoU and mIoU of class-map PNGs against ground truth (`perceptd eval seg`).
//!
//! Input: two folders of PNG class maps, one file per frame, the pixel value being the class
//! index. A file is an indexed (palette) PNG of 1, 2, 4 or 8 bits (the palette is not read: the
//! index is the class; perceptd's `mask` sink writes these, and so does Pillow for mode `P`) or an
//! 8-bit grayscale PNG. A file's frame number is the last run of digits in its name (`000042.png`,
//! `drive-lanes-000042.png` and `frame_42.png` are all frame 42). The rest of the name, with the
//! digits replaced by `#`, is the file's *series*: the mask sink's `{stream}-{head}-{frame}.png`
//! gives one series per stream and head (`drive-lanes-#`). A folder holding several series is
//! narrowed by [`SegOptions::head`] and [`SegOptions::stream`]; when still several remain, the
//! error lists them.
//!
//! Frames with both a ground-truth and a prediction file are evaluated; the others are counted
//! (the mask sink writes every N-th frame, so ground truth without prediction is normal). The two
//! maps of a frame must have the same size: nothing is resized.
//!
//! One confusion matrix (rows: ground truth, columns: prediction, u64 counts) sums every pixel of
//! every evaluated frame except those whose ground truth is the `ignore` index (default 255).
//! Per class `k`: IoU = TP / (TP + FP + FN), the diagonal over row sum + column sum - diagonal; a
//! class never in the ground truth nor predicted has no IoU (`None`) and is left out of the mIoU,
//! the mean of the defined IoUs. Pixel accuracy is the diagonal over all counted pixels. The number
//! of classes is the number of names when they are given, else the highest index counted + 1.
//! Each frame also gets its own mIoU (from its own matrix, classes absent from the frame left
//! out), to find the worst frames.
//!
//! Files: `data.rs` (options, errors, class names), `confusion.rs` (the matrix and its metrics),
//! `png.rs` (decoding class maps), `files.rs` (frame numbers, series, pairing), `report.rs`
//! (table and JSON); the evaluation loop is here.

mod confusion;
mod data;
mod files;
mod png;
mod report;
#[cfg(test)]
mod tests;

pub use confusion::*;
pub use data::*;
pub use png::*;
pub use report::*;

use data::check_class_names;
use files::{choose_series, frame_span, list_pngs};
use png::read_class_map_into;
use std::path::{Path, PathBuf};

/// One frame to evaluate.
#[derive(Debug, Clone)]
struct Pair {
    frame: u64,
    gt: PathBuf,
    pred: PathBuf,
}

/// Scores the prediction folder `pred` against the ground-truth folder `gt`. Frames are decoded
/// on all cores; the result does not depend on their number.
pub fn evaluate_dirs(gt: &Path, pred: &Path, opts: &SegOptions) -> Result<SegReport, SegError> {
    if let Some(names) = &opts.classes {
        check_class_names(names, "the class list")?;
    }
    let gt_all = list_pngs("--gt", gt)?;
    let pred_all = list_pngs("--pred", pred)?;
    let (pred_series, preds) = choose_series(pred, pred_all, opts, true)?;
    let (gt_series, gts) = choose_series(gt, gt_all, opts, false)?;

    let mut pairs = vec![];
    let (mut gt_only, mut pred_only) = (vec![], vec![]);
    let (mut i, mut j) = (0, 0);
    while i < gts.len() || j < preds.len() {
        match (gts.get(i), preds.get(j)) {
            (Some(g), Some(p)) if g.frame == p.frame => {
                pairs.push(Pair {
                    frame: g.frame,
                    gt: g.path.clone(),
                    pred: p.path.clone(),
                });
                i += 1;
                j += 1;
            }
            (Some(g), Some(p)) if g.frame < p.frame => {
                gt_only.push(g.frame);
                i += 1;
            }
            (Some(g), None) => {
                gt_only.push(g.frame);
                i += 1;
            }
            (_, Some(p)) => {
                pred_only.push(p.frame);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    if pairs.is_empty() {
        return Err(SegError::NoCommonFrames {
            gt: gt.to_path_buf(),
            pred: pred.to_path_buf(),
            gt_frames: frame_span(&gts, &gt_series),
            pred_frames: frame_span(&preds, &pred_series),
        });
    }

    let names = opts.classes.as_deref();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(pairs.len());
    let chunk = pairs.len().div_ceil(threads);
    let results: Vec<Result<Partial, SegError>> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| s.spawn(move || evaluate_pairs(part, opts.ignore, names)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an evaluation thread panicked"))
            .collect()
    });
    let mut total = Confusion::new();
    let mut per_frame = Vec::with_capacity(pairs.len());
    for r in results {
        // Chunks are in frame order: the first error is the one of the lowest frame.
        let (c, f) = r?;
        total.merge(&c);
        per_frame.extend(f);
    }
    let mut report = SegReport::from_confusion(total, names, opts.ignore);
    report.gt_series = gt_series;
    report.pred_series = pred_series;
    report.per_frame = per_frame;
    report.gt_without_prediction = gt_only;
    report.predictions_without_gt = pred_only;
    Ok(report)
}

/// One thread's sum and its frames' own mIoUs.
type Partial = (Confusion, Vec<(u64, Option<f64>)>);

/// Decodes and counts `pairs` in order; stops at the first error.
fn evaluate_pairs(
    pairs: &[Pair],
    ignore: Option<u8>,
    names: Option<&[String]>,
) -> Result<Partial, SegError> {
    let mut total = Confusion::new();
    let mut frame = Confusion::new();
    let mut per_frame = Vec::with_capacity(pairs.len());
    let (mut g, mut p, mut scratch) = (ClassMap::default(), ClassMap::default(), vec![]);
    for pair in pairs {
        read_class_map_into(&pair.gt, &mut g, &mut scratch)?;
        read_class_map_into(&pair.pred, &mut p, &mut scratch)?;
        if (g.width, g.height) != (p.width, p.height) {
            return Err(SegError::SizeMismatch {
                frame: pair.frame,
                gt: pair.gt.clone(),
                gt_size: (g.width, g.height),
                pred: pair.pred.clone(),
                pred_size: (p.width, p.height),
            });
        }
        frame.clear();
        add_frame(&mut frame, &g.pixels, &p.pixels, ignore);
        if let Some(names) = names {
            for (hi, path) in [
                (frame.gt_classes(), &pair.gt),
                (frame.pred_classes(), &pair.pred),
            ] {
                if hi > names.len() {
                    return Err(SegError::ClassOutOfRange {
                        path: path.clone(),
                        value: (hi - 1) as u8,
                        classes: names.len(),
                    });
                }
            }
        }
        per_frame.push((pair.frame, frame.miou(frame.classes())));
        total.merge(&frame);
    }
    Ok((total, per_frame))
}

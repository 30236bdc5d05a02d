//! Offline evaluation of perception results against ground truth.
//!
//! - [`adas`]: driver assistance: warning precision, recall and lead time, distance, TTC and
//!   lateral-offset errors against a sample drive's truth (`perceptd eval adas`).
//! - [`mot`]: multi-object tracking: CLEAR-MOT and identity metrics (MOTA, MOTP, IDF1, ...) of
//!   MOTChallenge text files, computed by py-motmetrics' rules (`perceptd eval mot`).
//! - [`det`]: detection: COCO-style AP per class, mAP@0.5 and mAP@0.5:0.95 of a JSONL run
//!   against ground truth (`perceptd eval det`).
//! - [`seg`]: segmentation: per-class IoU and mIoU of class-map PNGs (`perceptd eval seg`).

pub mod adas;
pub mod det;
pub mod mot;
pub mod seg;

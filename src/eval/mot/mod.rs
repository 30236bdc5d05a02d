//! CLEAR-MOT and identity metrics of a MOTChallenge tracking result, by the rules of
//! py-motmetrics' `motmetrics/apps/eval_motchallenge.py` with its default options.
//!
//! Input: MOTChallenge text files, one box a line, `frame,id,x,y,w,h,conf,...` (x, y the top-left
//! corner; more columns are allowed and ignored). Ground-truth rows with `conf < 1` are dropped
//! (MOTChallenge marks boxes to ignore with 0), prediction rows with `conf < -1`.
//!
//! Per frame, in frame order (every frame that appears in either file), ground truth and
//! predictions are matched as `MOTAccumulator.update` does, with distance `1 - IoU` and pairs whose
//! distance exceeds [`MAX_DISTANCE`] (IoU below 0.5) not matchable:
//!
//! 1. a ground-truth object keeps the prediction id it was last matched with, when both are present
//!    and matchable;
//! 2. the rest are matched by a minimum-cost assignment (most matches first, then least total
//!    distance); a match is a *switch* when the object was last matched with another prediction
//!    id (at any earlier time);
//! 3. unmatched ground truth are misses (FN), unmatched predictions false positives (FP).
//!
//! The identity metrics (IDF1, IDP, IDR) come from one global assignment between ground-truth and
//! prediction ids that maximises IDTP, the number of frames in which paired ids were matchable.
//! It is solved per connected component of the ids' "matchable at least once" graph, so long
//! files with many ids stay fast.
//!
//! Files: `file.rs` (reading MOTChallenge text), `clear.rs` (per-frame matching and the IDF1
//! assignment), `counts.rs` (the counts and the metrics from them), `sequences.rs` (pairing
//! files and folders), `report.rs` (several sequences, text and JSON).

mod clear;
mod counts;
mod file;
mod report;
mod sequences;
#[cfg(test)]
mod tests;

pub use clear::*;
pub use counts::*;
pub use file::*;
pub use report::*;
pub use sequences::*;

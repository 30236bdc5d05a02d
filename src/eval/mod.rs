//! Offline evaluation of perception results against ground truth.
//!
//! - [`mot`]: multi-object tracking: CLEAR-MOT and identity metrics (MOTA, MOTP, IDF1, ...) of
//!   MOTChallenge text files, computed by py-motmetrics' rules (`perceptd eval mot`).

pub mod mot;

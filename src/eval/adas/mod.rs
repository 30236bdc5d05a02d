//! Driver-assistance evaluation (`perceptd eval adas`): a run's `adas` results (its JSONL)
//! against a sample drive's truth (`gt/<drive>.adas.jsonl`, `gt/<drive>.events.jsonl`, and the
//! boxes of `gt/<drive>.jsonl` to tell whether the lead is the right vehicle).
//!
//! - `read.rs`: the files, as plain data;
//! - `score.rs`: warning matching (a warning matches a true event of its kind when it is raised
//!   between 2 s before the true onset and the critical moment), precision, recall, lead time,
//!   and the per-frame errors of distance, time to collision and lateral offset;
//! - `report.rs`: the report as JSON and as a table;
//! - `timeline.rs`: TTC and offset over time, true and measured, with events, for the report.

mod read;
mod report;
mod score;
#[cfg(test)]
mod tests;
pub mod timeline;

pub use read::{Pred, PredFrame, PredWarning, TrueEvent, Truth, TruthFrame, read_pred, read_truth};
pub use report::{AdasReport, KindScore};
pub use score::score;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AdasEvalError {
    #[error("{}: {why}", path.display())]
    File { path: PathBuf, why: String },
}

/// Scores the run `pred` (a JSONL) against the truth `gt` (`<drive>.adas.jsonl`, with
/// `<drive>.events.jsonl` and `<drive>.jsonl` beside it).
pub fn evaluate_paths(gt: &Path, pred: &Path) -> Result<AdasReport, AdasEvalError> {
    let truth = read_truth(gt)?;
    let pred = read_pred(pred)?;
    Ok(score(&truth, &pred))
}

/// As [`evaluate_paths`], with the drive's [`timeline::timeline`] for a report.
pub fn evaluate_with_timeline(
    gt: &Path,
    pred: &Path,
) -> Result<(AdasReport, serde_json::Value), AdasEvalError> {
    let truth = read_truth(gt)?;
    let pred = read_pred(pred)?;
    Ok((score(&truth, &pred), timeline::timeline(&truth, &pred)))
}

//! The report over several sequences: per-sequence counts, their sum, text and JSON.

use super::clear::evaluate;
use super::counts::MotCounts;
use super::file::{MotError, MotFile};
use super::sequences::{SequencePaths, find_sequences};
use std::fmt::Write as _;
use std::path::Path;

/// One sequence's result.
#[derive(Debug, Clone)]
pub struct SequenceResult {
    pub paths: SequencePaths,
    pub counts: MotCounts,
}

/// Results per sequence and overall (counts summed, ratios recomputed from the sums).
#[derive(Debug, Clone)]
pub struct MotReport {
    pub sequences: Vec<SequenceResult>,
    pub overall: MotCounts,
}

/// Finds the sequences (see [`find_sequences`]), reads and evaluates each.
pub fn evaluate_paths(gt: &Path, pred: &Path) -> Result<MotReport, MotError> {
    let mut sequences = vec![];
    let mut overall = MotCounts::default();
    for paths in find_sequences(gt, pred)? {
        let counts = evaluate(&MotFile::read(&paths.gt)?, &MotFile::read(&paths.pred)?)?;
        overall += counts;
        sequences.push(SequenceResult { paths, counts });
    }
    Ok(MotReport { sequences, overall })
}

impl MotReport {
    /// `{"sequences": {name: metrics}, "overall": metrics}`, see [`MotCounts::to_json`].
    pub fn to_json(&self) -> serde_json::Value {
        let seqs: serde_json::Map<String, serde_json::Value> = self
            .sequences
            .iter()
            .map(|s| (s.paths.name.clone(), s.counts.to_json()))
            .collect();
        serde_json::json!({ "sequences": seqs, "overall": self.overall.to_json() })
    }

    /// A table like py-motmetrics prints: one row per sequence, then OVERALL.
    pub fn table(&self) -> String {
        let rows: Vec<(&str, &MotCounts)> = self
            .sequences
            .iter()
            .map(|s| (s.paths.name.as_str(), &s.counts))
            .chain([("OVERALL", &self.overall)])
            .collect();
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(8);
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>7} {:>7} {:>10} {:>7}",
            "sequence",
            "IDF1",
            "IDP",
            "IDR",
            "MOTA",
            "MOTP",
            "MT",
            "ML",
            "IDsw",
            "FP",
            "FN",
            "GT-objects",
            "frames"
        );
        for (name, c) in rows {
            let _ = writeln!(
                out,
                "{name:<w$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>7} {:>7} {:>10} {:>7}",
                pct(c.idf1()),
                pct(c.idp()),
                pct(c.idr()),
                pct(c.mota()),
                c.motp().map_or("-".into(), |v| format!("{v:.3}")),
                c.mostly_tracked,
                c.mostly_lost,
                c.num_switches,
                c.num_false_positives,
                c.num_misses,
                c.num_objects,
                c.num_frames
            );
        }
        out.push_str(
            "MOTP is the mean 1 - IoU of matched boxes: lower is better (as py-motmetrics)\n",
        );
        out
    }
}

//! The driver-assistance figures, as JSON and as a table.

use serde_json::{Value, json};

/// One warning kind's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KindScore {
    pub kind: &'static str,
    pub true_events: usize,
    pub warnings: usize,
    /// True events with a matching warning.
    pub detected: usize,
    /// Warnings that match a true event.
    pub correct: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// Median of (critical moment - raised), s, over detected events.
    pub lead_time_s: Option<f64>,
    /// Forward collision: of detected events, raised no later than the true TTC reached 2 s.
    pub on_time: Option<f64>,
    /// Unmatched warnings raised while no scripted moment was under way.
    pub false_in_calm: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdasReport {
    /// Frames of the run paired with a truth frame.
    pub frames: usize,
    pub kinds: Vec<KindScore>,
    /// Frames with an ego lane.
    pub lane_found: Option<f64>,
    /// Mean absolute error of the lateral offset, m.
    pub offset_mae_m: Option<f64>,
    /// Of frames whose true lead is in view within 50 m: those where the reported lead is it.
    pub lead_identified: Option<f64>,
    /// Median of |distance error| / distance where the lead is identified, within 50 m.
    pub distance_median_rel_err: Option<f64>,
    /// Median of |TTC error| / TTC where the lead is identified and the true TTC is under 4 s.
    pub ttc_median_rel_err: Option<f64>,
    /// Of those frames, the ones with a TTC reported.
    pub ttc_coverage: Option<f64>,
}

/// Three significant digits.
pub fn sig3(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let p = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * p).round() / p
}

fn num(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(sig3(x)))
}

impl AdasReport {
    pub fn kind(&self, name: &str) -> Option<&KindScore> {
        self.kinds.iter().find(|k| k.kind == name)
    }

    pub fn to_json(&self) -> Value {
        let kinds: serde_json::Map<String, Value> = self
            .kinds
            .iter()
            .map(|k| {
                (
                    k.kind.to_string(),
                    json!({
                        "true_events": k.true_events,
                        "warnings": k.warnings,
                        "detected": k.detected,
                        "correct": k.correct,
                        "precision": num(k.precision),
                        "recall": num(k.recall),
                        "lead_time_s": num(k.lead_time_s),
                        "on_time": num(k.on_time),
                        "false_in_calm": k.false_in_calm,
                    }),
                )
            })
            .collect();
        json!({
            "frames": self.frames,
            "warnings": kinds,
            "lane_found": num(self.lane_found),
            "offset_mae_m": num(self.offset_mae_m),
            "lead_identified": num(self.lead_identified),
            "distance_median_rel_err": num(self.distance_median_rel_err),
            "ttc_median_rel_err": num(self.ttc_median_rel_err),
            "ttc_coverage": num(self.ttc_coverage),
        })
    }

    pub fn table(&self) -> String {
        use std::fmt::Write;
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{:.3}", sig3(x)));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<20} {:>6} {:>8} {:>9} {:>7} {:>9} {:>8} {:>7}",
            "warning", "true", "raised", "precision", "recall", "lead s", "on time", "calm FP"
        );
        for k in &self.kinds {
            let _ = writeln!(
                s,
                "{:<20} {:>6} {:>8} {:>9} {:>7} {:>9} {:>8} {:>7}",
                k.kind,
                k.true_events,
                k.warnings,
                f(k.precision),
                f(k.recall),
                f(k.lead_time_s),
                f(k.on_time),
                k.false_in_calm
            );
        }
        let _ = writeln!(
            s,
            "frames {}; lane found {}; offset MAE {} m; lead identified {}; distance error (median, relative) {}; TTC error (median, relative, TTC < 4 s) {} on {} of frames",
            self.frames,
            f(self.lane_found),
            f(self.offset_mae_m),
            f(self.lead_identified),
            f(self.distance_median_rel_err),
            f(self.ttc_median_rel_err),
            f(self.ttc_coverage),
        );
        s
    }
}

//! The drive's time line for the report: time to collision and lateral offset, true and
//! measured, with the true event intervals and the times warnings were raised.

use super::read::{ByTime, Pred, Truth};
use serde_json::{Value, json};

/// Times to collision above this (s) are drawn at it: beyond, nothing is close.
pub const TTC_CAP_S: f64 = 10.0;
/// One point in this many frames (a 1200-frame drive gives 400 points a series).
pub const EVERY: usize = 3;

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn opt(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite())
        .map_or(Value::Null, |x| json!(round3(x)))
}

/// Truth and results paired by time (the nearest result within half a frame of each truth
/// frame), every [`EVERY`]-th truth frame.
pub fn timeline(truth: &Truth, pred: &Pred) -> Value {
    let mut pred_at = ByTime::new(&pred.frames, |p| p.t, truth.half_frame());
    let (mut t, mut ttc_true, mut ttc_pred, mut off_true, mut off_pred) =
        (vec![], vec![], vec![], vec![], vec![]);
    for tf in truth.frames.iter().step_by(EVERY) {
        let p = pred_at.at(tf.t);
        t.push(json!(round3(tf.t)));
        ttc_true.push(opt(tf.lead.and_then(|l| l.2).map(|v| v.min(TTC_CAP_S))));
        off_true.push(opt(Some(tf.offset_m)));
        ttc_pred.push(opt(p
            .and_then(|p| p.lead)
            .and_then(|l| l.1)
            .map(|v| v.min(TTC_CAP_S))));
        off_pred.push(opt(p.and_then(|p| p.offset_m)));
    }
    let events: Vec<Value> = truth
        .events
        .iter()
        .map(|e| json!({"kind": e.kind, "start_s": round3(e.start_s), "end_s": round3(e.end_s)}))
        .collect();
    let warnings: Vec<Value> = pred
        .warnings
        .iter()
        .map(|w| json!({"kind": w.kind, "raised_s": round3(w.raised_s)}))
        .collect();
    json!({
        "t": t,
        "ttc_true_s": ttc_true,
        "ttc_pred_s": ttc_pred,
        "offset_true_m": off_true,
        "offset_pred_m": off_pred,
        "events": events,
        "warnings": warnings,
    })
}

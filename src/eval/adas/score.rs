//! Scoring: warnings against true events, and per-frame errors.

use super::read::{ByTime, Pred, Truth};
use super::report::{AdasReport, KindScore};

/// How early a warning may be raised before the true onset (s) and still match it.
pub const EARLY_S: f64 = 2.0;
/// Distances are scored within this range (m).
pub const DISTANCE_RANGE_M: f64 = 50.0;
/// Times to collision are scored below this (s).
pub const TTC_RANGE_S: f64 = 4.0;
/// Offsets are scored where the true offset is within this (m): nearer the marking, which
/// lane the car is in is a matter of a frame.
pub const OFFSET_RANGE_M: f64 = 1.5;
/// The predicted lead is the true one when their boxes overlap this much (IoU).
pub const LEAD_IOU: f64 = 0.5;

pub const KINDS: [&str; 4] = [
    "forward_collision",
    "lane_departure",
    "pedestrian_in_path",
    "headway",
];

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let i = iw * ih;
    let u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
    if u > 0.0 { i / u } else { 0.0 }
}

/// Scores `pred` against `truth`.
pub fn score(truth: &Truth, pred: &Pred) -> AdasReport {
    let mut kinds = vec![];
    for kind in KINDS {
        let tev: Vec<_> = truth.events.iter().filter(|e| e.kind == kind).collect();
        let mut warns: Vec<_> = pred.warnings.iter().filter(|w| w.kind == kind).collect();
        warns.sort_by(|a, b| a.raised_s.total_cmp(&b.raised_s));
        let mut used = vec![false; warns.len()];
        let (mut detected, mut lead_times, mut on_time) = (0, vec![], 0);
        for e in &tev {
            let hit = warns.iter().enumerate().position(|(i, w)| {
                !used[i] && w.raised_s >= e.start_s - EARLY_S && w.raised_s <= e.critical_s
            });
            if let Some(i) = hit {
                used[i] = true;
                detected += 1;
                lead_times.push(e.critical_s - warns[i].raised_s);
                if e.ttc2_s.is_none_or(|t2| warns[i].raised_s <= t2 + 1e-6) {
                    on_time += 1;
                }
            }
        }
        let correct = used.iter().filter(|u| **u).count();
        let calm = |t: f64| {
            truth
                .frames
                .iter()
                .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
                .is_none_or(|f| f.scenario.is_none())
        };
        let false_in_calm = warns
            .iter()
            .zip(&used)
            .filter(|(w, u)| !**u && calm(w.raised_s))
            .count();
        kinds.push(KindScore {
            kind,
            true_events: tev.len(),
            warnings: warns.len(),
            detected,
            correct,
            precision: (!warns.is_empty()).then(|| correct as f64 / warns.len() as f64),
            recall: (!tev.is_empty()).then(|| detected as f64 / tev.len() as f64),
            lead_time_s: median(lead_times),
            on_time: (kind == "forward_collision" && detected > 0)
                .then(|| on_time as f64 / detected as f64),
            false_in_calm,
        });
    }

    // Per frame: truth and results paired by time.
    let mut truth_at = ByTime::new(&truth.frames, |f| f.t, truth.half_frame());
    let (mut lane_frames, mut frames) = (0usize, 0usize);
    let (mut offset_err, mut dist_err, mut ttc_err) = (vec![], vec![], vec![]);
    let (mut lead_frames, mut lead_right) = (0usize, 0usize);
    let (mut ttc_frames, mut ttc_given) = (0usize, 0usize);
    for p in &pred.frames {
        let Some(tf) = truth_at.at(p.t) else {
            continue;
        };
        frames += 1;
        lane_frames += p.lane as usize;
        if let Some(o) = p.offset_m
            && tf.offset_m.abs() <= OFFSET_RANGE_M
        {
            offset_err.push((o - tf.offset_m).abs());
        }
        let (Some((_, gap, ttc)), Some(b)) = (tf.lead, tf.lead_box) else {
            continue;
        };
        if gap > DISTANCE_RANGE_M {
            continue;
        }
        lead_frames += 1;
        let Some((pgap, pttc, pb)) = p.lead.filter(|l| iou(l.2, b) >= LEAD_IOU) else {
            continue;
        };
        lead_right += 1;
        if gap > 1.0 {
            dist_err.push((pgap - gap).abs() / gap);
        }
        if let Some(tt) = ttc.filter(|t| *t < TTC_RANGE_S && *t > 0.1) {
            ttc_frames += 1;
            if let Some(pt) = pttc {
                ttc_given += 1;
                ttc_err.push((pt - tt).abs() / tt);
            }
        }
        let _ = pb;
    }
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    AdasReport {
        frames,
        kinds,
        lane_found: ratio(lane_frames, frames),
        offset_mae_m: (!offset_err.is_empty())
            .then(|| offset_err.iter().sum::<f64>() / offset_err.len() as f64),
        lead_identified: ratio(lead_right, lead_frames),
        distance_median_rel_err: median(dist_err),
        ttc_median_rel_err: median(ttc_err),
        ttc_coverage: ratio(ttc_given, ttc_frames),
    }
}

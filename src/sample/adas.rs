//! A sample drive's driver-assistance truth as files: per frame (`gt/<name>.adas.jsonl`), the
//! true warning intervals (`gt/<name>.events.jsonl`) and the ego speed
//! (`gt/<name>.speed.csv`, the sidecar the adas stage reads for headway).
//!
//! A true event is an interval in which its condition holds for at least [`MIN_EVENT_S`]
//! (gaps under [`MERGE_S`] bridged), with the adas stage's default thresholds:
//! forward collision, time to collision under [`FCW_TTC_S`] with the lead vehicle; lane
//! departure, the vehicle centre [`LDW_OFFSET_M`] or more from the lane centre while moving
//! outward at [`LDW_RATE_MPS`] or more; pedestrian in path, a person in the path nearer than
//! [`PEDESTRIAN_M`] whom the camera sees (one the box truth holds: a person wholly behind a
//! vehicle is not warned about by a camera, and while the person of an event is hidden, still
//! in the path, the event goes on without them); headway, gap over ego speed under
//! [`HEADWAY_S`] at 2 m/s or more. Each event's critical moment is its worst instant (the
//! smallest TTC, gap or headway, the largest offset); a forward collision also says when the
//! TTC first fell to 2 s.

use super::world::{AdasTruth, LeadTruth};
use serde_json::json;

pub const FCW_TTC_S: f64 = 2.5;
pub const LDW_OFFSET_M: f64 = 0.8;
pub const LDW_RATE_MPS: f64 = 0.1;
pub const PEDESTRIAN_M: f64 = 25.0;
pub const HEADWAY_S: f64 = 0.8;
pub const MIN_EVENT_S: f64 = 0.3;
pub const MERGE_S: f64 = 0.5;

/// One true event.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueEvent {
    pub kind: &'static str,
    pub start_s: f64,
    pub end_s: f64,
    pub critical_s: f64,
    /// The worst value.
    pub peak: f64,
    /// Forward collision: when the TTC first fell to 2 s (if it did).
    pub ttc2_s: Option<f64>,
    pub track_id: Option<u64>,
    pub scenario: Option<&'static str>,
}

/// The value of each event kind's condition at one instant (`None`: off) and its subject.
fn conditions(a: &AdasTruth) -> [Option<(f64, Option<u64>)>; 4] {
    let fcw = a
        .lead
        .and_then(|l: LeadTruth| l.ttc_s.filter(|t| *t < FCW_TTC_S).map(|t| (t, Some(l.id))));
    let ldw = (a.offset_m.abs() >= LDW_OFFSET_M
        && a.offset_rate_mps * a.offset_m.signum() >= LDW_RATE_MPS)
        .then_some((a.offset_m.abs(), None));
    let pip = a
        .vrus
        .first()
        .filter(|v| v.1 <= PEDESTRIAN_M)
        .map(|v| (v.1, Some(v.0)));
    let headway = a.lead.and_then(|l| {
        (a.ego_speed_mps >= 2.0)
            .then(|| l.distance_m.max(0.0) / a.ego_speed_mps)
            .filter(|h| *h < HEADWAY_S)
            .map(|h| (h, Some(l.id)))
    });
    [fcw, ldw, pip, headway]
}

pub const KINDS: [&str; 4] = [
    "forward_collision",
    "lane_departure",
    "pedestrian_in_path",
    "headway",
];

/// An open true event: start, last on, worst (t, value, track), time TTC first ≤ 2 s, scenario.
type Open = (
    f64,
    f64,
    (f64, f64, Option<u64>),
    Option<f64>,
    Option<&'static str>,
);

/// The true events of a drive sampled at `frames` (time, truth), in time order.
pub fn events(frames: &[(f64, AdasTruth)]) -> Vec<TrueEvent> {
    let mut out = vec![];
    for (k, kind) in KINDS.iter().enumerate() {
        let lower_worse = k != 1;
        // Open interval: start, last on, worst (t, value, track), ttc2, scenario.
        let mut open: Option<Open> = None;
        let close = |o: Open, out: &mut Vec<TrueEvent>| {
            if o.1 - o.0 >= MIN_EVENT_S {
                out.push(TrueEvent {
                    kind,
                    start_s: o.0,
                    end_s: o.1,
                    critical_s: o.2.0,
                    peak: o.2.1,
                    ttc2_s: o.3,
                    track_id: o.2.2,
                    scenario: o.4,
                });
            }
        };
        for (t, a) in frames {
            let cond = conditions(a)[k];
            match (cond, open.as_mut()) {
                (Some((v, id)), Some(o)) if *t - o.1 <= MERGE_S => {
                    o.1 = *t;
                    if (lower_worse && v < o.2.1) || (!lower_worse && v > o.2.1) {
                        o.2 = (*t, v, id);
                    }
                    if k == 0 && v <= 2.0 && o.3.is_none() {
                        o.3 = Some(*t);
                    }
                    o.4 = o.4.or(a.scenario.map(|s| s.name()));
                }
                (Some((v, id)), _) => {
                    if let Some(o) = open.take() {
                        close(o, &mut out);
                    }
                    let ttc2 = (k == 0 && v <= 2.0).then_some(*t);
                    open = Some((*t, *t, (*t, v, id), ttc2, a.scenario.map(|s| s.name())));
                }
                // The person of a pedestrian event, hidden behind a vehicle in the path: the
                // event lasts (no camera sees them, none can say they left).
                (None, Some(o))
                    if k == 2
                        && a.hidden_vrus
                            .iter()
                            .any(|v| Some(v.0) == o.2.2 && v.1 <= PEDESTRIAN_M) =>
                {
                    o.1 = *t;
                }
                (None, Some(o)) if *t - o.1 > MERGE_S => {
                    let o = *o;
                    open = None;
                    close(o, &mut out);
                }
                _ => {}
            }
        }
        if let Some(o) = open {
            close(o, &mut out);
        }
    }
    out.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    out
}

/// The JSON line of one frame's truth.
pub fn frame_line(frame: u64, t: f64, a: &AdasTruth) -> String {
    let lead = a.lead.map(|l| {
        json!({
            "id": l.id,
            "distance_m": l.distance_m,
            "relative_speed_mps": l.relative_speed_mps,
            "ttc_s": l.ttc_s,
        })
    });
    let vrus: Vec<_> = a
        .vrus
        .iter()
        .map(|v| json!({"id": v.0, "distance_m": v.1, "x_m": v.2}))
        .collect();
    json!({
        "frame": frame,
        "t": t,
        "ego_speed_mps": a.ego_speed_mps,
        "offset_m": a.offset_m,
        "offset_rate_mps": a.offset_rate_mps,
        "lane_width_m": a.lane_width_m,
        "lead": lead,
        "vrus": vrus,
        "scenario": a.scenario.map(|s| s.name()),
    })
    .to_string()
}

pub fn event_line(e: &TrueEvent) -> String {
    json!({
        "kind": e.kind,
        "start_s": e.start_s,
        "end_s": e.end_s,
        "critical_s": e.critical_s,
        "peak": e.peak,
        "ttc2_s": e.ttc2_s,
        "track_id": e.track_id,
        "scenario": e.scenario,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person 12 m ahead in the path, seen or hidden, at 10 frames a second over `spans`
    /// (seconds, seen).
    fn person(spans: &[(f64, f64, bool)]) -> Vec<(f64, AdasTruth)> {
        let mut frames = vec![];
        for &(a, b, seen) in spans {
            let mut t = a;
            while t < b - 1e-9 {
                let p = vec![(7, 12.0, 0.0)];
                let (vrus, hidden_vrus) = if seen { (p, vec![]) } else { (vec![], p) };
                frames.push((
                    t,
                    AdasTruth {
                        vrus,
                        hidden_vrus,
                        ..AdasTruth::default()
                    },
                ));
                t += 0.1;
            }
        }
        frames
    }

    fn pedestrian_events(frames: &[(f64, AdasTruth)]) -> Vec<(f64, f64)> {
        events(frames)
            .into_iter()
            .filter(|e| e.kind == "pedestrian_in_path")
            .map(|e| (e.start_s, e.end_s))
            .collect()
    }

    #[test]
    fn a_pedestrian_hidden_for_a_while_is_one_event_and_one_never_seen_is_none() {
        // Seen, hidden behind a van for 2 s (longer than MERGE_S), seen again: one event.
        let ev = pedestrian_events(&person(&[
            (0.0, 1.0, true),
            (1.0, 3.0, false),
            (3.0, 3.5, true),
        ]));
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(
            ev[0].0.abs() < 1e-9 && (ev[0].1 - 3.4).abs() < 1e-6,
            "{ev:?}"
        );
        // Hidden all along: no camera can warn.
        assert!(pedestrian_events(&person(&[(0.0, 3.0, false)])).is_empty());
        // Hidden, then seen: the event starts when the person shows.
        let ev = pedestrian_events(&person(&[(0.0, 2.0, false), (2.0, 3.0, true)]));
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!((ev[0].0 - 2.0).abs() < 1e-6, "{ev:?}");
        // Seen, then gone for good (out of the path): the event ends when last seen.
        let mut frames = person(&[(0.0, 1.0, true)]);
        frames.extend((10..30).map(|k| (k as f64 / 10.0, AdasTruth::default())));
        let ev = pedestrian_events(&frames);
        assert!(ev.len() == 1 && (ev[0].1 - 0.9).abs() < 1e-6, "{ev:?}");
    }
}

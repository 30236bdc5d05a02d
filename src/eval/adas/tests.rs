use super::read::{Pred, PredFrame, PredWarning, TrueEvent, Truth, TruthFrame};
use super::score::score;

fn ev(kind: &str, start: f64, critical: f64, ttc2: Option<f64>) -> TrueEvent {
    TrueEvent {
        kind: kind.into(),
        start_s: start,
        end_s: critical + 0.5,
        critical_s: critical,
        ttc2_s: ttc2,
        scenario: Some("x".into()),
    }
}

fn w(kind: &str, raised: f64) -> PredWarning {
    PredWarning {
        kind: kind.into(),
        raised_s: raised,
        start_s: raised - 0.2,
    }
}

#[test]
fn warnings_match_between_two_seconds_early_and_the_critical_moment() {
    let truth = Truth {
        frames: (0..100)
            .map(|i| TruthFrame {
                t: i as f64 * 0.1,
                scenario: (i > 50).then(|| "x".into()),
                ..Default::default()
            })
            .collect(),
        events: vec![
            ev("forward_collision", 5.0, 6.0, Some(5.5)),
            ev("forward_collision", 8.0, 9.0, Some(8.2)),
            ev("lane_departure", 7.0, 7.5, None),
        ],
    };
    let pred = Pred {
        frames: vec![],
        warnings: vec![
            // Early by 1.5 s: matches the first, on time.
            w("forward_collision", 3.5),
            // A second warning for the same event: a false one (not in calm: t > 5).
            w("forward_collision", 5.8),
            // Raised after TTC 2 s but before the critical moment: detected, late.
            w("forward_collision", 8.6),
            // Too early for the lane departure (more than 2 s before), and in calm.
            w("lane_departure", 4.9),
        ],
    };
    let r = score(&truth, &pred);
    let fcw = r.kind("forward_collision").unwrap();
    assert_eq!(
        (fcw.true_events, fcw.warnings, fcw.detected, fcw.correct),
        (2, 3, 2, 2)
    );
    assert_eq!(fcw.recall, Some(1.0));
    assert!((fcw.precision.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(fcw.on_time, Some(0.5));
    assert!((fcw.lead_time_s.unwrap() - (2.5 + 0.4) / 2.0).abs() < 1e-9);
    assert_eq!(fcw.false_in_calm, 0);
    let ldw = r.kind("lane_departure").unwrap();
    assert_eq!(
        (ldw.detected, ldw.recall, ldw.precision),
        (0, Some(0.0), Some(0.0))
    );
    assert_eq!(ldw.false_in_calm, 1);
    let pip = r.kind("pedestrian_in_path").unwrap();
    assert_eq!((pip.recall, pip.precision), (None, None));
}

#[test]
fn distance_and_ttc_count_only_where_the_lead_is_the_true_one() {
    let b = [100.0, 100.0, 200.0, 200.0];
    let frames: Vec<TruthFrame> = (0..4)
        .map(|i| TruthFrame {
            t: i as f64 / 30.0,
            offset_m: 0.2,
            lead: Some((7, 20.0, Some(2.0))),
            lead_box: Some(b),
            scenario: None,
        })
        .collect();
    let pf = |i: u32, bx: [f64; 4], d: f64| PredFrame {
        t: i as f64 / 30.0 + 0.001,
        offset_m: Some(0.3),
        lane: true,
        lead: Some((d, Some(2.2), bx)),
    };
    let pred = Pred {
        frames: vec![
            pf(0, b, 22.0),
            pf(1, b, 18.0),
            pf(2, [300.0, 100.0, 400.0, 200.0], 5.0),
            PredFrame {
                t: 3.0 / 30.0,
                ..Default::default()
            },
        ],
        warnings: vec![],
    };
    let r = score(
        &Truth {
            frames,
            events: vec![],
        },
        &pred,
    );
    assert_eq!(r.frames, 4);
    assert_eq!(r.lane_found, Some(0.75));
    assert!((r.offset_mae_m.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(r.lead_identified, Some(0.5));
    assert!((r.distance_median_rel_err.unwrap() - 0.1).abs() < 1e-9);
    assert!((r.ttc_median_rel_err.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(r.ttc_coverage, Some(1.0));
}

#[test]
fn the_timeline_pairs_by_time_caps_ttc_and_keeps_unknowns_null() {
    let truth = Truth {
        frames: (0..9)
            .map(|i| TruthFrame {
                t: i as f64 * 0.1,
                offset_m: 0.1 * i as f64,
                lead: Some((1, 20.0, Some(if i < 3 { 50.0 } else { 3.0 }))),
                ..Default::default()
            })
            .collect(),
        events: vec![ev("forward_collision", 0.3, 0.6, None)],
    };
    // Results for every other truth frame only, a little late; no lead on the first.
    let pred = Pred {
        frames: (0..9)
            .step_by(2)
            .map(|i| PredFrame {
                t: i as f64 * 0.1 + 0.01,
                offset_m: Some(0.1 * i as f64 + 0.05),
                lane: true,
                lead: (i > 0).then_some((20.0, Some(2.9), [0.0; 4])),
            })
            .collect(),
        warnings: vec![w("forward_collision", 0.4)],
    };
    let tl = super::timeline::timeline(&truth, &pred);
    let every = super::timeline::EVERY;
    let t: Vec<f64> = tl["t"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(
        t,
        (0..9)
            .step_by(every)
            .map(|i| i as f64 / 10.0)
            .collect::<Vec<_>>()
    );
    // Truth frame 0: TTC 50 s capped; the result has no lead there.
    assert_eq!(tl["ttc_true_s"][0], 10.0);
    assert!(tl["ttc_pred_s"][0].is_null());
    // Truth frame 3 (EVERY = 3) has no result within half a frame: unknown, not the neighbour's.
    assert!(tl["offset_pred_m"][1].is_null(), "{tl}");
    assert_eq!(tl["ttc_true_s"][1], 3.0);
    // Truth frame 6 pairs with the result at 0.61 s.
    assert_eq!(tl["offset_pred_m"][2], 0.65);
    assert_eq!(tl["ttc_pred_s"][2], 2.9);
    assert_eq!(tl["events"][0]["start_s"], 0.3);
    assert_eq!(tl["warnings"][0]["raised_s"], 0.4);
}

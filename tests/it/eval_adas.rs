//! `perceptd eval adas` end to end on a real sample drive's truth: a prediction built from the
//! truth with known errors (offset 0.1 m off, distances 10 % long, TTCs 10 % short, the lead's
//! exact box, one warning per true event raised at its onset, one false lane departure on a calm
//! stretch) must score exactly those errors; inputs it cannot use are exit code 2 with the file
//! and the fix named.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn eval(gt: &Path, pred: &Path) -> std::process::Output {
    perceptd()
        .args(["eval", "adas", "--json", "--gt"])
        .arg(gt)
        .arg("--pred")
        .arg(pred)
        .output()
        .unwrap()
}

#[test]
fn eval_adas_scores_known_errors_exactly_and_names_bad_inputs() {
    let dir = tempdir("eval-adas");
    let drive = dir.join("drive");
    // Seed 1004's first 10 s hold a braking lead (a forward-collision event).
    let out = perceptd()
        .args(["sample-drive", "--seed", "1004", "--frames", "300", "--out"])
        .arg(&drive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gt = drive.join("gt/drive.adas.jsonl");
    let truth = lines(&gt);
    let events = lines(&drive.join("gt/drive.events.jsonl"));
    assert!(
        events.iter().any(|e| e["kind"] == "forward_collision"),
        "the drive has a forward-collision event: {events:?}"
    );
    // The truth's boxes by (frame, id), to give the lead's exact box.
    let mut boxes = HashMap::new();
    for r in lines(&drive.join("gt/drive.jsonl")) {
        for o in r["objects"].as_array().unwrap() {
            boxes.insert(
                (r["frame"].as_u64().unwrap(), o["id"].as_u64().unwrap()),
                o["bbox"].clone(),
            );
        }
    }
    // A calm moment for the false warning.
    let calm = truth
        .iter()
        .find(|f| f["t"].as_f64().unwrap() >= 1.0 && f["scenario"].is_null())
        .expect("a calm frame")["t"]
        .as_f64()
        .unwrap();

    let mut pred = String::new();
    let (mut lead_frames, mut ttc_frames) = (0, 0);
    for f in &truth {
        let t = f["t"].as_f64().unwrap();
        let frame = f["frame"].as_u64().unwrap();
        let lead = f["lead"].as_object().and_then(|l| {
            let b = boxes.get(&(frame, l["id"].as_u64()?))?;
            let d = l["distance_m"].as_f64()?;
            if d <= 50.0 {
                lead_frames += 1;
                ttc_frames += l["ttc_s"].as_f64().is_some_and(|v| v < 4.0 && v > 0.1) as usize;
            }
            Some(json!({
                "distance_m": d * 1.1,
                "ttc_s": l["ttc_s"].as_f64().map(|v| v * 0.9),
                "bbox": b,
            }))
        });
        let mut raised = vec![];
        for e in &events {
            let start = e["start_s"].as_f64().unwrap();
            if (start - t).abs() < 1e-6 {
                raised.push(
                    json!({"kind": e["kind"], "edge": "start", "at_pts_s": t, "start_pts_s": t}),
                );
            }
        }
        if (t - calm).abs() < 1e-6 {
            raised.push(
                json!({"kind": "lane_departure", "edge": "start", "at_pts_s": t, "start_pts_s": t}),
            );
        }
        let rec = json!({
            "pts_ns": (t * 1e9).round() as u64,
            "adas": {
                "lane": {"offset_m": f["offset_m"].as_f64().unwrap() + 0.1},
                "lead": lead,
                "events": raised,
            },
        });
        pred.push_str(&rec.to_string());
        pred.push('\n');
    }
    assert!(
        lead_frames > 100 && ttc_frames > 10,
        "{lead_frames} {ttc_frames}"
    );
    let pred_path = dir.join("pred.jsonl");
    std::fs::write(&pred_path, &pred).unwrap();

    let out = eval(&gt, &pred_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let close = |k: &str, want: f64| {
        let v = r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert!((v - want).abs() < 1e-3, "{k}: {v}, want {want}");
    };
    assert_eq!(r["frames"], 300);
    close("lane_found", 1.0);
    close("offset_mae_m", 0.1);
    close("lead_identified", 1.0);
    close("distance_median_rel_err", 0.1);
    close("ttc_median_rel_err", 0.1);
    close("ttc_coverage", 1.0);
    for kind in ["forward_collision", "pedestrian_in_path", "lane_departure"] {
        let k = &r["warnings"][kind];
        let n = events.iter().filter(|e| e["kind"] == kind).count() as u64;
        let false_ones = (kind == "lane_departure") as u64;
        assert_eq!(k["true_events"], n, "{kind}: {k}");
        assert_eq!(k["detected"], n, "{kind}: {k}");
        assert_eq!(k["warnings"], n + false_ones, "{kind}: {k}");
        assert_eq!(k["false_in_calm"], false_ones, "{kind}: {k}");
        if n > 0 {
            assert_eq!(k["recall"].as_f64(), Some(1.0), "{kind}: {k}");
        }
    }
    let fcw = &r["warnings"]["forward_collision"];
    assert_eq!(fcw["precision"].as_f64(), Some(1.0), "{fcw}");
    assert_eq!(fcw["on_time"].as_f64(), Some(1.0), "raised at onset: {fcw}");
    assert_eq!(
        r["warnings"]["lane_departure"]["precision"].as_f64(),
        Some(0.0),
        "the one lane departure raised is false"
    );

    // The table form prints the same figures.
    let out = perceptd()
        .args(["eval", "adas", "--gt"])
        .arg(&gt)
        .arg("--pred")
        .arg(&pred_path)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains("forward_collision"),
        "{table}"
    );

    // A JSONL without adas results: exit code 2, naming the file and what to run.
    let plain = dir.join("plain.jsonl");
    std::fs::write(&plain, "{\"pts_ns\": 0, \"detections\": []}\n").unwrap();
    let out = eval(&gt, &plain);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plain.jsonl") && err.contains("type: adas"),
        "{err}"
    );
    // Truth without its events file beside it.
    let lone = dir.join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(&gt, lone.join("drive.adas.jsonl")).unwrap();
    let out = eval(&lone.join("drive.adas.jsonl"), &pred_path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("drive.events.jsonl") && err.contains("sample-drive"),
        "{err}"
    );
    // A prediction file that is not there.
    let out = eval(&gt, &dir.join("nope.jsonl"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nope.jsonl"), "{err}");
}

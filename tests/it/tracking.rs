//! Tracking: ByteTrack and SORT on synthetic scenes with exact ground truth (scored by
//! `perceptd eval mot`), frame-rate independence, and the real clip through the whole pipeline.

use crate::common::{perceptd, read_jsonl, run_yaml, tempdir};
use perceptd::frame::Detection;
use perceptd::track::synth::{Noise, SceneConfig, SynthFrame, generate, gt_mot};
use perceptd::track::{StreamTrackers, TrackOptions, TrackerParams};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

fn options(params: TrackerParams) -> TrackOptions {
    TrackOptions {
        params,
        per_class: false,
        classes: None,
    }
}

/// Runs the tracker over the scene's detections; the tracked detections per frame.
fn track(frames: &[SynthFrame], opts: &TrackOptions) -> Vec<Vec<Detection>> {
    let mut t = StreamTrackers::new(opts.clone());
    let stream: Arc<str> = "synth".into();
    frames
        .iter()
        .map(|f| {
            let mut d = f.dets.clone();
            t.update(&stream, f.index, f.t, &mut d);
            d
        })
        .collect()
}

fn pred_mot(frames: &[SynthFrame], tracked: &[Vec<Detection>]) -> String {
    let mut s = String::new();
    for (f, dets) in frames.iter().zip(tracked) {
        for d in dets {
            if let Some(id) = d.track_id {
                perceptd::sink::mot::write_line(&mut s, f.index + 1, id, d.bbox, d.score);
            }
        }
    }
    s
}

/// `perceptd eval mot --json` over two folders: the overall row.
fn eval_overall(gt: &Path, pred: &Path) -> serde_json::Value {
    let out = perceptd()
        .args(["eval", "mot", "--json", "--gt"])
        .arg(gt)
        .arg("--pred")
        .arg(pred)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "eval mot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["overall"].clone()
}

const SEEDS: [u64; 3] = [11, 12, 13];

fn scene(seed: u64, fps: u32) -> SceneConfig {
    SceneConfig::new(seed, fps, 60.0, 40, Noise::TYPICAL)
}

#[test]
fn bytetrack_and_sort_reach_their_measured_accuracy_on_synthetic_scenes() {
    let dir = tempdir("track-synth");
    let mut results = BTreeMap::new();
    for (name, params, fps) in [
        ("bytetrack", TrackerParams::bytetrack(), 30),
        ("sort", TrackerParams::sort(), 30),
        ("bytetrack-10fps", TrackerParams::bytetrack(), 10),
        ("sort-10fps", TrackerParams::sort(), 10),
    ] {
        let gt_dir = dir.join(format!("gt-{fps}"));
        let pred_dir = dir.join(name);
        std::fs::create_dir_all(&gt_dir).unwrap();
        std::fs::create_dir_all(&pred_dir).unwrap();
        for seed in SEEDS {
            let frames = generate(&scene(seed, fps));
            std::fs::write(gt_dir.join(format!("scene{seed}.txt")), gt_mot(&frames)).unwrap();
            let tracked = track(&frames, &options(params));
            std::fs::write(
                pred_dir.join(format!("scene{seed}.txt")),
                pred_mot(&frames, &tracked),
            )
            .unwrap();
        }
        let o = eval_overall(&gt_dir, &pred_dir);
        eprintln!("{name}: {o}");
        results.insert(name, o);
    }
    let get = |n: &str, k: &str| results[n][k].as_f64().unwrap();
    // Thresholds just under what was measured (3 scenes of 60 s, 40 objects each, 30 fps:
    // ByteTrack MOTA 0.871, IDF1 0.800, 67 switches; SORT MOTA 0.777, IDF1 0.751, 70).
    for (name, mota, idf1, switches) in
        [("bytetrack", 0.85, 0.78, 80.0), ("sort", 0.75, 0.73, 85.0)]
    {
        assert!(
            get(name, "mota") >= mota,
            "{name} MOTA {}",
            get(name, "mota")
        );
        assert!(
            get(name, "idf1") >= idf1,
            "{name} IDF1 {}",
            get(name, "idf1")
        );
        assert!(
            get(name, "num_switches") <= switches,
            "{name}: {} ID switches",
            get(name, "num_switches")
        );
    }
    assert!(get("bytetrack", "mota") > get("sort", "mota") + 0.05);
    assert!(get("bytetrack", "idf1") > get("sort", "idf1"));
    // Times in seconds: the same scenes sampled at 10 fps score about the same.
    for name in ["bytetrack", "sort"] {
        for m in ["mota", "idf1"] {
            let (a, b) = (get(name, m), get(&format!("{name}-10fps"), m));
            assert!(
                (a - b).abs() < 0.05,
                "{name} {m}: {a} at 30 fps, {b} at 10 fps"
            );
        }
    }
}

/// Three objects seen at `fps` for 6 s: A moves right and is hidden for 0.5 s; B moves left and
/// crosses A, their boxes overlapping; C stands, is gone 1.5 s (longer than `max_lost_s`), and
/// comes back. Boxes wobble by a few pixels, the same at any rate for the same instant.
fn crossing_scene(fps: u32) -> Vec<(f64, Vec<Detection>)> {
    let n = 6 * fps as u64;
    (0..n)
        .map(|k| {
            let t = (k * 1_000_000 / fps as u64) as f64 / 1e6;
            let wob = |o: f64| (2.0 * (t * 7.0 + o).sin()) as f32;
            let mut d = vec![];
            let mut push = |x: f32, y: f32, w: f32, h: f32, o: f64| {
                d.push(Detection {
                    class_id: 0,
                    label: "person".into(),
                    score: 0.9,
                    bbox: [
                        x + wob(o),
                        y + wob(o + 1.0),
                        x + w + wob(o + 2.0),
                        y + h + wob(o + 3.0),
                    ],
                    track_id: None,
                    track_box: None,
                    mask: None,
                });
            };
            if !(2.0..2.5).contains(&t) {
                push(100.0 + 150.0 * t as f32, 300.0, 80.0, 100.0, 0.0);
            }
            push(1100.0 - 120.0 * t as f32, 340.0, 90.0, 110.0, 10.0);
            if !(4.0..5.5).contains(&t) {
                push(600.0, 100.0, 60.0, 120.0, 20.0);
            }
            (t, d)
        })
        .collect()
}

#[test]
fn the_same_scene_at_10_and_30_fps_gives_the_same_identities() {
    for params in [TrackerParams::bytetrack(), TrackerParams::sort()] {
        let alg = params.algorithm;
        let opts = options(TrackerParams {
            confirm_s: 0.2,
            ..params
        });
        let ids = |fps: u32| -> Vec<Vec<Option<u64>>> {
            let mut t = StreamTrackers::new(opts.clone());
            let stream: Arc<str> = "s".into();
            crossing_scene(fps)
                .into_iter()
                .enumerate()
                .map(|(k, (time, mut d))| {
                    t.update(&stream, k as u64, time, &mut d);
                    d.iter().map(|d| d.track_id).collect()
                })
                .collect()
        };
        let (fast, slow) = (ids(30), ids(10));
        let shared: Vec<_> = fast.iter().step_by(3).cloned().collect();
        assert_eq!(
            shared, slow,
            "{alg:?}: identities at the instants both rates see"
        );
        // The ids themselves: A through its 0.5 s gap, a new one for C after 1.5 s away.
        let at = |t: f64| &slow[(t * 10.0).round() as usize];
        let (a, c) = (at(1.9)[0], at(1.9)[2]);
        assert!(a.is_some() && c.is_some(), "{alg:?}: {:?}", at(1.9));
        assert_eq!(
            at(2.6)[0],
            a,
            "{alg:?}: A keeps its id through 0.5 s hidden"
        );
        assert_eq!(at(3.9)[0], a, "{alg:?}: A keeps its id after crossing B");
        assert_ne!(at(5.9)[2], c, "{alg:?}: C is a new track after 1.5 s away");
        assert!(at(5.9)[2].is_some(), "{alg:?}: C tracked again");
    }
}

#[test]
fn fastestdet_and_bytetrack_count_the_people_walking_through_the_real_clip() {
    let dir = tempdir("track-real");
    let yaml = format!(
        r#"
name: track-real
runtime:
  metrics_addr: "off"
sources:
  hall:
    type: file
    path: ${{PERCEPTD_ASSETS}}/one-by-one-person-detection.mp4
models:
  det:
    path: ${{PERCEPTD_ASSETS}}/FastestDet.onnx
    format: fastestdet
    classes: ${{PERCEPTD_ASSETS}}/coco.names
    score_threshold: 0.3
    threads: 2
stages:
  - type: detect
    model: det
  - type: track
    classes: [person]
sinks:
  - type: jsonl
    path: {d}/out.jsonl
  - type: mot
    path: {d}/out.mot.txt
"#,
        d = dir.display()
    );
    let metrics = Arc::new(perceptd::telemetry::Metrics::new());
    let report = run_yaml(&yaml, &dir, metrics.clone());
    assert_eq!(report.frames, 1394);
    let recs = read_jsonl(&dir.join("out.jsonl"));
    let mut ids = BTreeSet::new();
    let mut tracked = 0;
    for r in &recs {
        for d in r["detections"].as_array().unwrap() {
            assert!(
                d.get("track_id").is_some(),
                "track_id key on every detection: {d}"
            );
            if let Some(id) = d["track_id"].as_u64() {
                assert_eq!(d["label"], "person", "only persons are tracked: {d}");
                ids.insert(id);
                tracked += 1;
            }
        }
    }
    let mot = std::fs::read_to_string(dir.join("out.mot.txt")).unwrap();
    assert_eq!(
        mot.lines().count(),
        tracked,
        "one MOT line per tracked detection"
    );
    // Six people walk through one at a time (counted on a 1 frame/s contact sheet of the
    // clip: grey cardigan, boy in black, blonde in black, man in black T-shirt, dark-haired
    // woman in grey, man in grey shirt).
    const PEOPLE: usize = 6;
    eprintln!("distinct confirmed person ids: {} ({ids:?})", ids.len());
    assert!(
        (PEOPLE..=2 * PEOPLE).contains(&ids.len()),
        "{} ids for {PEOPLE} people",
        ids.len()
    );
    let page = metrics.render();
    let started = crate::common::metric(
        &page,
        "perceptd_tracks_started_total",
        &[("pipeline", "track-real"), ("stream", "hall")],
    );
    assert_eq!(started, Some(ids.len() as f64));
    assert!(page.contains("perceptd_tracks_active{"));
    assert!(page.contains("stage=\"track\""), "the track stage is timed");
}

/// Recorded detections (perceptd's detector on sample drive seed 1000, 450 frames at 30 fps,
/// score >= 0.1) through perceptd's ByteTrack and through the reference (Ultralytics'
/// `BYTETracker` with ByteTrack's published thresholds, `tests/fixtures/bytetrack_reference.py`):
/// the same detections get the same tracks, with the same filtered boxes. Ids are compared
/// through a one-to-one mapping (the reference numbers tentative tracks too, perceptd only
/// confirmed ones).
#[test]
fn bytetrack_matches_its_reference_on_recorded_detections() {
    let dir = crate::common::fixtures();
    let text = |name: &str| String::from_utf8(crate::common::gunzip(&dir.join(name))).unwrap();
    let mut frames: BTreeMap<u64, Vec<Detection>> = BTreeMap::new();
    for line in text("bytetrack_drive.dets.csv.gz").lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        frames.entry(v[0] as u64).or_default().push(Detection {
            class_id: v[6] as u32,
            label: "object".into(),
            score: v[5] as f32,
            bbox: [v[1] as f32, v[2] as f32, v[3] as f32, v[4] as f32],
            track_id: None,
            track_box: None,
            mask: None,
        });
    }
    let n = frames.keys().max().unwrap() + 1;
    // frame -> detection row -> (reference id, reference box)
    let mut want: BTreeMap<(u64, usize), (u64, [f32; 4])> = BTreeMap::new();
    for line in text("bytetrack_drive.expected.csv.gz").lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let b = [v[3] as f32, v[4] as f32, v[5] as f32, v[6] as f32];
        want.insert((v[0] as u64, v[1] as usize), (v[2] as u64, b));
    }
    let mut t = StreamTrackers::new(options(TrackerParams::bytetrack()));
    let stream: Arc<str> = "drive".into();
    let (mut ref_to_ours, mut ours_to_ref) = (BTreeMap::new(), BTreeMap::new());
    let (mut agree, mut extra, mut worst_box) = (0usize, 0usize, 0f32);
    let mut first_miss = None;
    for f in 0..n {
        let mut dets = frames.remove(&f).unwrap_or_default();
        t.update(&stream, f, f as f64 / 30.0, &mut dets);
        for (i, d) in dets.iter().enumerate() {
            let Some(id) = d.track_id else { continue };
            let Some(&(rid, rbox)) = want.get(&(f, i)) else {
                extra += 1;
                first_miss
                    .get_or_insert(format!("frame {f} det {i}: perceptd #{id}, reference none"));
                continue;
            };
            let mapped = *ref_to_ours.entry(rid).or_insert(id) == id
                && *ours_to_ref.entry(id).or_insert(rid) == rid;
            let tb = d
                .track_box
                .expect("a tracked detection has its track's box");
            let dev = (0..4).map(|k| (tb[k] - rbox[k]).abs()).fold(0f32, f32::max);
            worst_box = worst_box.max(dev);
            if mapped && dev <= 0.05 {
                agree += 1;
            } else {
                first_miss.get_or_insert(format!(
                    "frame {f} det {i}: perceptd #{id} {tb:?}, reference #{rid} {rbox:?}"
                ));
            }
        }
    }
    let total = want.len();
    eprintln!(
        "ByteTrack vs reference: {agree}/{total} reference track boxes reproduced (same detection, \
         one-to-one id, box within 0.05 px; worst box difference {worst_box:.4} px), {extra} \
         tracked by perceptd only; first difference: {first_miss:?}"
    );
    assert!(total > 3000, "the fixture has {total} track boxes");
    assert!(
        agree as f64 >= 0.99 * total as f64 && extra as f64 <= 0.01 * total as f64,
        "{agree}/{total} agree, {extra} extra; first difference: {first_miss:?}"
    );
}

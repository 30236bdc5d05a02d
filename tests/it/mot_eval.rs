//! `perceptd eval mot` agrees with py-motmetrics (`tests/fixtures/mot_reference.py`, loading and
//! comparing as `eval_motchallenge.py` does) on generated MOTChallenge sequences: moving objects,
//! jittered boxes, misses, false positives, id swaps and id changes, occlusions, frames with only
//! ground truth or only predictions, ignored (conf 0) ground truth, an empty prediction file.

use crate::common::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;

/// How a generated sequence and its tracker output look.
#[derive(Clone, Copy)]
struct Scene {
    frames: i64,
    objects: usize,
    /// Scene size (boxes bounce at the edges).
    size: (f64, f64),
    /// Chance a visible object is not detected.
    miss: f64,
    /// Box noise, a fraction of the box size.
    jitter: f64,
    /// Chance a detection is so far off that it cannot match (IoU < 0.5).
    bad: f64,
    /// Expected false positives per frame.
    fp: f64,
    /// Chance per frame and object that the tracker starts a new id.
    id_change: f64,
    /// Chance per frame that two objects exchange their predicted ids.
    swap: f64,
    /// Chance per frame that an object's ground truth starts a 3 to 14 frame absence.
    occlusion: f64,
    /// Chance a ground-truth row is marked ignore (conf 0).
    ignore: f64,
    /// Frames without any prediction (only ground truth).
    outage: (i64, i64),
    /// Frames after the last ground-truth frame with only predictions.
    tail: i64,
}

const BASE: Scene = Scene {
    frames: 300,
    objects: 10,
    size: (960.0, 540.0),
    miss: 0.1,
    jitter: 0.08,
    bad: 0.03,
    fp: 0.5,
    id_change: 0.005,
    swap: 0.01,
    occlusion: 0.01,
    ignore: 0.02,
    outage: (0, -1),
    tail: 0,
};

struct Obj {
    id: i64,
    span: (i64, i64),
    pos: (f64, f64),
    vel: (f64, f64),
    wh: (f64, f64),
    pred_id: i64,
    hidden_until: i64,
}

/// Ground truth and predictions (MOTChallenge text) of one generated sequence.
fn generate(seed: u64, s: &Scene) -> (String, String) {
    let mut r = Rng(seed);
    let mut next_pred_id = 1000;
    let mut objs: Vec<Obj> = (0..s.objects)
        .map(|k| {
            let start = 1 + i64::from(r.below((s.frames as u32 * 2 / 3).max(1)));
            let end = (start + 10 + i64::from(r.below(s.frames as u32))).min(s.frames);
            let wh = (r.range(20.0, 120.0), r.range(40.0, 200.0));
            next_pred_id += 1;
            Obj {
                id: k as i64 + 1,
                span: (start, end),
                pos: (r.range(0.0, s.size.0 - wh.0), r.range(0.0, s.size.1 - wh.1)),
                vel: (r.range(-6.0, 6.0), r.range(-3.0, 3.0)),
                wh,
                pred_id: next_pred_id,
                hidden_until: 0,
            }
        })
        .collect();
    let (mut gt, mut pred) = (String::new(), String::new());
    for f in 1..=s.frames {
        if s.objects >= 2 && r.chance(s.swap) {
            let a = r.below(s.objects as u32) as usize;
            let b = (a + 1 + r.below(s.objects as u32 - 1) as usize) % s.objects;
            let t = objs[a].pred_id;
            objs[a].pred_id = objs[b].pred_id;
            objs[b].pred_id = t;
        }
        for o in objs.iter_mut() {
            if f < o.span.0 || f > o.span.1 {
                continue;
            }
            o.pos.0 += o.vel.0;
            o.pos.1 += o.vel.1;
            if o.pos.0 < 0.0 || o.pos.0 + o.wh.0 > s.size.0 {
                o.vel.0 = -o.vel.0;
            }
            if o.pos.1 < 0.0 || o.pos.1 + o.wh.1 > s.size.1 {
                o.vel.1 = -o.vel.1;
            }
            if o.hidden_until >= f {
                continue;
            }
            if r.chance(s.occlusion) {
                o.hidden_until = f + 2 + i64::from(r.below(12));
                continue;
            }
            let conf = if r.chance(s.ignore) { 0 } else { 1 };
            let (x, y) = o.pos;
            let (w, h) = o.wh;
            writeln!(gt, "{f},{},{x:.2},{y:.2},{w:.2},{h:.2},{conf},1,1.0", o.id).unwrap();
            if (s.outage.0..=s.outage.1).contains(&f) || r.chance(s.miss) {
                continue;
            }
            if r.chance(s.id_change) {
                next_pred_id += 1;
                o.pred_id = next_pred_id;
            }
            let (dx, dy) = if r.chance(s.bad) {
                (w * r.range(0.6, 1.2), h * r.range(-0.5, 0.5))
            } else {
                (
                    w * s.jitter * r.range(-1.0, 1.0),
                    h * s.jitter * r.range(-1.0, 1.0),
                )
            };
            let (dw, dh) = (
                w * s.jitter * r.range(-1.0, 1.0),
                h * s.jitter * r.range(-1.0, 1.0),
            );
            writeln!(
                pred,
                "{f},{},{:.2},{:.2},{:.2},{:.2},{:.3},-1,-1,-1",
                o.pred_id,
                x + dx,
                y + dy,
                w + dw,
                h + dh,
                r.unit()
            )
            .unwrap();
        }
        false_positives(&mut r, &mut pred, f, s, 0);
    }
    // Frames after the ground truth with predictions only.
    for f in s.frames + 1..=s.frames + s.tail {
        false_positives(&mut r, &mut pred, f, s, 1);
    }
    (gt, pred)
}

/// About `s.fp` (at least `min`) random boxes in frame `f`, ids 900 + k (recurring "ghosts").
fn false_positives(r: &mut Rng, pred: &mut String, f: i64, s: &Scene, min: u32) {
    let n = (s.fp.floor() as u32 + u32::from(r.chance(s.fp.fract()))).max(min);
    for k in 0..n {
        let (w, h) = (r.range(15.0, 90.0), r.range(30.0, 150.0));
        let (x, y) = (r.range(0.0, s.size.0 - w), r.range(0.0, s.size.1 - h));
        writeln!(
            pred,
            "{f},{},{x:.2},{y:.2},{w:.2},{h:.2},{:.3},-1,-1,-1",
            900 + k,
            r.unit()
        )
        .unwrap();
    }
}

/// Writes the sequences: ground truth flat (`GT/<name>.txt`) or in MOTChallenge layout
/// (`GT/<name>/gt/gt.txt`), predictions as `PRED/<name>.txt`.
fn write_sequences(dir: &Path, seqs: &[(&str, bool, String, String)]) {
    for (name, mot_layout, gt, pred) in seqs {
        let gt_path = gt_path(dir, name, *mot_layout);
        std::fs::create_dir_all(gt_path.parent().unwrap()).unwrap();
        std::fs::write(&gt_path, gt).unwrap();
        std::fs::create_dir_all(dir.join("pred")).unwrap();
        std::fs::write(dir.join("pred").join(format!("{name}.txt")), pred).unwrap();
    }
}

fn gt_path(dir: &Path, name: &str, mot_layout: bool) -> std::path::PathBuf {
    if mot_layout {
        dir.join("gt").join(name).join("gt/gt.txt")
    } else {
        dir.join("gt").join(format!("{name}.txt"))
    }
}

fn stdout_json(o: &Output, what: &str) -> Value {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// The py-motmetrics summary of `(name, gt, pred)` triples. A missing Python or motmetrics
/// fails the test: the agreement is the point.
fn reference(seqs: &[(String, std::path::PathBuf, std::path::PathBuf)]) -> Value {
    let python = std::env::var("PERCEPTD_TEST_PYTHON").expect(
        "PERCEPTD_TEST_PYTHON must name a Python with motmetrics==1.4.0, pandas and scipy (the setup's venv: bash deploy/setup.sh install-deps)",
    );
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(fixtures().join("mot_reference.py"));
    for (name, gt, pred) in seqs {
        cmd.arg(name).arg(gt).arg(pred);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run PERCEPTD_TEST_PYTHON={python}: {e}"));
    assert!(
        o.status.success(),
        "mot_reference.py failed with {python} (is motmetrics installed? bash deploy/setup.sh install-deps):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout_json(&o, "mot_reference.py")
}

const RATIOS: [&str; 7] = ["mota", "motp", "idf1", "idp", "idr", "precision", "recall"];
const COUNTS: [&str; 13] = [
    "num_false_positives",
    "num_misses",
    "num_switches",
    "num_objects",
    "num_predictions",
    "num_frames",
    "num_unique_objects",
    "num_matches",
    "idtp",
    "mostly_tracked",
    "partially_tracked",
    "mostly_lost",
    "num_fragmentations",
];

/// Checks one row; records the largest difference per ratio in `worst`.
fn compare(what: &str, ours: &Value, theirs: &Value, worst: &mut [f64; RATIOS.len()]) {
    for (k, m) in RATIOS.iter().enumerate() {
        match (ours[m].as_f64(), theirs[m].as_f64()) {
            (Some(a), Some(b)) => {
                let d = (a - b).abs();
                worst[k] = worst[k].max(d);
                assert!(d <= 1e-3, "{what} {m}: perceptd {a}, py-motmetrics {b}");
            }
            (None, None) => {}
            (a, b) => panic!("{what} {m}: perceptd {a:?}, py-motmetrics {b:?}"),
        }
    }
    for m in COUNTS {
        let (a, b) = (ours[m].as_f64(), theirs[m].as_f64());
        assert!(
            a.is_some() && a == b,
            "{what} {m}: perceptd {a:?}, py-motmetrics {b:?}"
        );
    }
}

#[test]
fn eval_mot_agrees_with_py_motmetrics() {
    let dir = tempdir("mot-eval");
    let crowd = Scene {
        frames: 400,
        objects: 30,
        fp: 2.0,
        swap: 0.03,
        ..BASE
    };
    let sparse = Scene {
        frames: 300,
        objects: 5,
        miss: 0.3,
        bad: 0.1,
        fp: 1.5,
        occlusion: 0.03,
        ignore: 0.05,
        outage: (120, 150),
        tail: 20,
        ..BASE
    };
    let swaps = Scene {
        frames: 250,
        objects: 8,
        size: (400.0, 300.0),
        jitter: 0.12,
        id_change: 0.02,
        swap: 0.08,
        ..BASE
    };
    let clean = Scene {
        miss: 0.0,
        jitter: 0.02,
        bad: 0.0,
        fp: 0.0,
        id_change: 0.0,
        swap: 0.0,
        occlusion: 0.0,
        ignore: 0.0,
        ..BASE
    };
    let (mut sparse_gt, mut sparse_pred) = generate(2, &sparse);
    // A frame holding only an ignored ground-truth row, and one holding only a prediction below
    // the prediction confidence floor (-1): both dropped, both frames still counted.
    sparse_gt.push_str("340,3,10,10,50,80,0,1,1.0\n");
    sparse_pred.push_str("345,77,10,10,50,80,-5,-1,-1,-1\n");
    let (empty_gt, _) = generate(4, &BASE);
    let seqs = [
        ("crowd", true, generate(1, &crowd)),
        ("sparse", false, (sparse_gt, sparse_pred)),
        ("swaps", true, generate(3, &swaps)),
        ("empty-pred", false, (empty_gt, String::new())),
        ("clean", false, generate(5, &clean)),
    ]
    .map(|(n, l, (g, p))| (n, l, g, p));
    write_sequences(&dir, &seqs);

    let ours = stdout_json(
        &perceptd()
            .args(["eval", "mot", "--json", "--gt"])
            .arg(dir.join("gt"))
            .arg("--pred")
            .arg(dir.join("pred"))
            .output()
            .unwrap(),
        "perceptd eval mot",
    );
    let triples: Vec<_> = seqs
        .iter()
        .map(|(n, l, _, _)| {
            (
                n.to_string(),
                gt_path(&dir, n, *l),
                dir.join("pred").join(format!("{n}.txt")),
            )
        })
        .collect();
    let theirs = reference(&triples);

    let mut worst = [0f64; RATIOS.len()];
    for (name, _, _, _) in &seqs {
        let (a, b) = (&ours["sequences"][name], &theirs["sequences"][name]);
        assert!(a.is_object() && b.is_object(), "sequence {name} in both");
        compare(name, a, b, &mut worst);
    }
    // py-motmetrics' OVERALL MOTP is NaN as soon as one sequence has no match (it weighs each
    // sequence's NaN MOTP by 0); perceptd divides the summed distances by the summed matches.
    let mut overall = theirs["overall"].clone();
    if overall["motp"].is_null() {
        let (mut sum, mut n) = (0.0, 0.0);
        for s in theirs["sequences"].as_object().unwrap().values() {
            let det = s["num_detections"].as_f64().unwrap();
            if det > 0.0 {
                sum += s["motp"].as_f64().unwrap() * det;
                n += det;
            }
        }
        overall["motp"] = (sum / n).into();
    }
    compare("OVERALL", &ours["overall"], &overall, &mut worst);
    eprintln!("max |perceptd - py-motmetrics|:");
    for (m, w) in RATIOS.iter().zip(worst) {
        eprintln!("  {m:<10} {w:.3e}");
    }
    // The scenes did what they are for.
    let o = &ours["overall"];
    for m in ["num_switches", "num_false_positives", "num_misses"] {
        assert!(o[m].as_u64().unwrap() > 20, "{m}: {o}");
    }
    assert_eq!(ours["sequences"]["empty-pred"]["num_predictions"], 0);
    assert!(ours["sequences"]["clean"]["mota"].as_f64().unwrap() > 0.99);

    // One file pair: one sequence named after the prediction file.
    let one = stdout_json(
        &perceptd()
            .args(["eval", "mot", "--json", "--gt"])
            .arg(gt_path(&dir, "swaps", true))
            .arg("--pred")
            .arg(dir.join("pred/swaps.txt"))
            .output()
            .unwrap(),
        "perceptd eval mot (files)",
    );
    assert_eq!(one["sequences"]["swaps"], ours["sequences"]["swaps"]);
    assert_eq!(one["overall"], ours["sequences"]["swaps"]);

    // The text table: a row per sequence and OVERALL.
    let text = stdout_of(
        perceptd()
            .args(["eval", "mot", "--gt"])
            .arg(dir.join("gt"))
            .arg("--pred")
            .arg(dir.join("pred")),
    );
    for w in [
        "IDF1",
        "MOTA",
        "MOTP",
        "IDsw",
        "crowd",
        "empty-pred",
        "OVERALL",
    ] {
        assert!(text.contains(w), "{w} in\n{text}");
    }
}

fn failure(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "exit code 2; stderr:\n{err}");
    assert!(!err.contains("panicked"), "no panic:\n{err}");
    err
}

#[test]
fn eval_mot_bad_input_is_exit_code_2_with_a_clear_message() {
    let dir = tempdir("mot-eval-errors");
    let line = "1,1,10,10,50,80,1,1,1.0\n";
    std::fs::create_dir_all(dir.join("gt/a/gt")).unwrap();
    std::fs::write(dir.join("gt/a/gt/gt.txt"), line).unwrap();
    std::fs::write(dir.join("gt/b.txt"), line).unwrap();
    std::fs::create_dir_all(dir.join("pred")).unwrap();
    std::fs::write(dir.join("pred/a.txt"), line).unwrap();
    let run = |gt: &Path, pred: &Path| {
        perceptd()
            .args(["eval", "mot", "--gt"])
            .arg(gt)
            .arg("--pred")
            .arg(pred)
            .output()
            .unwrap()
    };

    // Ground truth b has no prediction.
    let e = failure(&run(&dir.join("gt"), &dir.join("pred")));
    assert!(e.contains("sequence b") && e.contains("pred/b.txt"), "{e}");
    // A prediction without ground truth.
    std::fs::write(dir.join("pred/b.txt"), line).unwrap();
    std::fs::write(dir.join("pred/c.txt"), line).unwrap();
    let e = failure(&run(&dir.join("gt"), &dir.join("pred")));
    assert!(
        e.contains("sequence c") && e.contains("no ground truth"),
        "{e}"
    );
    std::fs::remove_file(dir.join("pred/c.txt")).unwrap();
    // A bad line names the file and line.
    std::fs::write(dir.join("pred/b.txt"), format!("{line}\n2,1,10,10\n")).unwrap();
    let e = failure(&run(&dir.join("gt"), &dir.join("pred")));
    assert!(
        e.contains("b.txt line 3: expected at least 7 comma-separated numbers"),
        "{e}"
    );
    // A file and a folder, and a path that is not there.
    let e = failure(&run(&dir.join("gt/b.txt"), &dir.join("pred")));
    assert!(e.contains("two files") && e.contains("two folders"), "{e}");
    let e = failure(&run(&dir.join("nothing.txt"), &dir.join("pred/a.txt")));
    assert!(e.contains("--gt") && e.contains("no such file"), "{e}");
}

//! `perceptd sample-drive`: the same seed gives the same files, the video decodes to its frames,
//! the ground truth agrees with itself and with perceptd's evaluators, and `perceptd replay`
//! evaluates a pipeline against it.

use crate::common::*;
use perceptd::sample::{self, SampleOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn options(seed: u64, out: &Path, frames: u64, (width, height): (u32, u32)) -> SampleOptions {
    SampleOptions {
        frames,
        width,
        height,
        ..SampleOptions::new(seed, out)
    }
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A class map PNG: (width, height, pixels).
fn read_map(path: &Path) -> (u32, u32, Vec<u8>) {
    let mut r = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .read_info()
        .unwrap();
    let info = r.info();
    assert_eq!(
        info.color_type,
        png::ColorType::Indexed,
        "{}",
        path.display()
    );
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let (w, h) = (info.width, info.height);
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    r.next_frame(&mut buf).unwrap();
    buf.truncate((w * h) as usize);
    (w, h, buf)
}

/// One ground-truth box: (frame from 0, id, label, [x1, y1, x2, y2]).
type GtBox = (u64, u64, String, [u64; 4]);

fn jsonl_boxes(path: &Path) -> Vec<GtBox> {
    let mut out = vec![];
    for (i, l) in read_jsonl(path).iter().enumerate() {
        assert_eq!(l["frame"], i as u64, "one line per frame, in order");
        for o in l["objects"].as_array().unwrap() {
            let b: Vec<u64> = o["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            let vis = o["visibility"].as_f64().unwrap();
            assert!((0.2..=1.0).contains(&vis), "{o}");
            out.push((
                i as u64,
                o["id"].as_u64().unwrap(),
                o["label"].as_str().unwrap().to_string(),
                [b[0], b[1], b[2], b[3]],
            ));
        }
    }
    out
}

fn mot_boxes(path: &Path) -> Vec<GtBox> {
    let label = |class: &str| match class {
        "1" => "person",
        "3" => "car",
        "6" => "bus",
        "8" => "truck",
        c => panic!("class {c}"),
    };
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 9, "{l}");
            assert_eq!(f[6], "1", "{l}: conf 1");
            let n = |k: usize| f[k].parse::<u64>().unwrap();
            (
                n(0) - 1,
                n(1),
                label(f[7]).to_string(),
                [n(2), n(3), n(2) + n(4), n(3) + n(5)],
            )
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_files_and_another_seed_does_not() {
    let dir = tempdir("sample-determinism");
    let run = |seed: u64, name: &str| {
        let out = dir.join(name);
        let o = SampleOptions {
            images: true,
            ..options(seed, &out, 40, (320, 180))
        };
        sample::generate(&o, |_| {}).unwrap();
        files(&out)
    };
    let (a, b, c) = (run(11, "a"), run(11, "b"), run(12, "c"));
    // Per drive: README, classes, labels, sample.json, the MP4, and five ground-truth files
    // (boxes, MOT, ADAS per frame, ADAS events, ego speed).
    assert_eq!(a.len(), 2 * 40 + 10, "{:?}", a.keys().collect::<Vec<_>>());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    // The MP4 too: x264 in one thread, the muxer's wall-clock times zeroed.
    let differ: Vec<&PathBuf> = a.keys().filter(|p| a[*p] != b[*p]).collect();
    assert!(differ.is_empty(), "differ between two runs: {differ:?}");
    for f in [
        "gt/drive.jsonl",
        "gt/drive.txt",
        "gt/drive.adas.jsonl",
        "gt/drive/000000.png",
        "drive.mp4",
    ] {
        let f = Path::new(f);
        assert!(
            a[f] != c[f],
            "{} is the same for seeds 11 and 12",
            f.display()
        );
    }
    // A shorter drive into the same folder leaves no frames of the longer one behind.
    let out = dir.join("a");
    sample::generate(&options(11, &out, 5, (320, 180)), |_| {}).unwrap();
    assert_eq!(std::fs::read_dir(out.join("gt/drive")).unwrap().count(), 5);
}

#[test]
fn the_command_writes_a_video_of_the_asked_frames_and_size() {
    let dir = tempdir("sample-cli");
    let out = dir.join("drive");
    let o = perceptd()
        .args([
            "sample-drive",
            "--seed",
            "3",
            "--frames",
            "45",
            "--width",
            "480",
        ])
        .args(["--height", "270", "--fps", "15", "--name", "d3", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("45 frames of 480x270 at 15 fps"),
        "{stderr}"
    );
    let video = out.join("d3.mp4");
    assert_eq!(count_frames(&video), 45);
    let spec = perceptd::config::SourceSpec {
        reconnect: None,
        pace: perceptd::config::Pace::Fast,
        stream: "d3".into(),
        kind: perceptd::config::SourceKind::File(video),
        mode: perceptd::config::SourceMode::Replay,
    };
    let mut src = perceptd::source::Source::open(
        &spec,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        perceptd::config::SupportPriority::Normal,
    )
    .unwrap();
    let f = src.next_frame().unwrap().unwrap();
    assert_eq!((f.width, f.height, f.fps), (480, 270, Some((15, 1))));
    for f in [
        "gt/d3.jsonl",
        "gt/d3.txt",
        "gt/d3/000044.png",
        "classes.txt",
        "labels.txt",
        "sample.json",
        "README.txt",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(!out.join("images").exists(), "frames only with --images");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sample.json")).unwrap()).unwrap();
    let d = &manifest["drives"]["d3"];
    assert_eq!(
        (&d["seed"], &d["frames"], &d["fps"]),
        (&Value::from(3), &Value::from(45), &Value::from(15))
    );
    assert_eq!(manifest["version"], sample::GENERATOR_VERSION);
    assert_eq!(
        std::fs::read_to_string(out.join("classes.txt")).unwrap(),
        "background\nroad\nlane\nvehicle\nperson\n"
    );
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempdir("sample-errors");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--width", "961"], "--width 961: give an even number"),
        (&["--height", "31"], "--height 31: give an even number"),
        (&["--frames", "0"], "--frames 0"),
        (&["--name", "../x"], "--name `../x`"),
        (&["--fps", "0"], "--fps 0"),
    ];
    for (args, want) in cases {
        let o = perceptd()
            .args(["sample-drive", "--seed", "1", "--out"])
            .arg(dir.join("out"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let o = perceptd()
        .args(["sample-drive", "--seed", "1", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exists and is not a folder"), "{stderr}");
    let o = perceptd()
        .args(["sample-drive", "--out", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "--seed is required");
    assert!(!dir.join("out").exists(), "nothing written on bad options");
}

#[test]
fn the_ground_truth_agrees_with_itself_and_perceptds_evaluators() {
    let dir = tempdir("sample-gt");
    let out = dir.join("s");
    let (w, h) = (480u64, 270u64);
    let opts = SampleOptions {
        video: false,
        ..options(21, &out, 90, (w as u32, h as u32))
    };
    let s = sample::generate(&opts, |_| {}).unwrap();
    assert_eq!(s.video, None);
    let gt = jsonl_boxes(&s.det_gt);
    assert!(!gt.is_empty());

    // Every box lies in the frame and holds mostly its class in the class map.
    let mut fill: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (frame, id, label, [x1, y1, x2, y2]) in &gt {
        assert!(x1 < x2 && *x2 <= w && y1 < y2 && *y2 <= h, "{frame} {id}");
        assert!(
            x2 - x1 >= 4 && y2 - y1 >= 4,
            "{frame} {id}: smaller than the rule allows"
        );
        if frame % 5 != 0 {
            continue;
        }
        let (mw, mh, map) = read_map(&s.masks.join(format!("{frame:06}.png")));
        assert_eq!((mw as u64, mh as u64), (w, h));
        let class = if label == "person" { 4 } else { 3 };
        let mut own = 0;
        for y in *y1..*y2 {
            for x in *x1..*x2 {
                own += (map[(y * w + x) as usize] == class) as u64;
            }
        }
        let (kind, share) = (
            if class == 4 { "person" } else { "vehicle" },
            own as f64 / ((x2 - x1) * (y2 - y1)) as f64,
        );
        fill.entry(kind).or_default().push(share);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // Measured: vehicles mean 0.92, least 0.86; people (limbs apart) mean 0.64, least 0.42.
    for (kind, shares, least_mean, least) in [
        ("vehicle", &fill["vehicle"], 0.8, 0.6),
        ("person", &fill["person"], 0.5, 0.3),
    ] {
        let min = shares.iter().cloned().fold(1.0, f64::min);
        eprintln!(
            "{kind}: {} boxes, share of own class in the box: mean {:.3}, min {min:.3}",
            shares.len(),
            mean(shares)
        );
        assert!(mean(shares) >= least_mean, "{kind}: mean {}", mean(shares));
        assert!(min >= least, "{kind}: min {min}");
    }

    // The MOTChallenge file holds the same boxes and ids.
    assert_eq!(mot_boxes(&s.mot_gt), gt);

    // Ids keep their label and persist: one object is in view for 30 frames in a row.
    let mut label_of: BTreeMap<u64, &str> = BTreeMap::new();
    let mut frames_of: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (frame, id, label, _) in &gt {
        assert_eq!(
            *label_of.entry(*id).or_insert(label),
            label.as_str(),
            "id {id}"
        );
        assert!(
            frames_of.entry(*id).or_default().insert(*frame),
            "id {id} twice in frame {frame}"
        );
    }
    let longest = frames_of
        .values()
        .map(|f| {
            let f: Vec<u64> = f.iter().copied().collect();
            f.windows(2)
                .fold((1, 1), |(best, run), w| {
                    let run = if w[1] == w[0] + 1 { run + 1 } else { 1 };
                    (best.max(run), run)
                })
                .0
        })
        .max()
        .unwrap();
    assert!(longest >= 30, "longest run {longest}");

    // perceptd's evaluators score the ground truth against itself perfectly: detections in
    // perceptd's prediction format, the class maps, the MOTChallenge file.
    let pred = dir.join("pred.jsonl");
    let mut text = String::new();
    for l in read_jsonl(&s.det_gt) {
        let dets: Vec<Value> = l["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| serde_json::json!({"label": o["label"], "score": 1.0, "bbox": o["bbox"]}))
            .collect();
        text += &serde_json::json!({"frame": l["frame"], "detections": dets}).to_string();
        text.push('\n');
    }
    std::fs::write(&pred, text).unwrap();
    let det = perceptd::eval::det::evaluate_paths(&s.det_gt, &pred).unwrap();
    assert_eq!(det.map50(), Some(1.0));
    assert_eq!(det.map(), Some(1.0));

    let classes = perceptd::eval::seg::read_class_names(&out.join("classes.txt")).unwrap();
    let seg_opts = perceptd::eval::seg::SegOptions {
        classes: Some(classes),
        ..Default::default()
    };
    let seg = perceptd::eval::seg::evaluate_dirs(&s.masks, &s.masks, &seg_opts).unwrap();
    assert_eq!(seg.frames(), 90);
    assert_eq!(seg.miou(), Some(1.0));

    let mot = perceptd::eval::mot::evaluate_paths(&s.mot_gt, &s.mot_gt).unwrap();
    assert_eq!(mot.overall.idf1(), Some(1.0));
    assert_eq!(mot.overall.mota(), Some(1.0));
}

#[test]
fn a_300_frame_drive_has_people_several_vehicle_kinds_road_and_lanes() {
    let dir = tempdir("sample-coverage");
    for seed in [1, 2] {
        let out = dir.join(seed.to_string());
        let opts = SampleOptions {
            video: false,
            ..options(seed, &out, 300, (480, 270))
        };
        let s = sample::generate(&opts, |_| {}).unwrap();
        let n = |l: &str| s.boxes.get(l).copied().unwrap_or(0);
        assert!(n("person") >= 100, "seed {seed}: {:?}", s.boxes);
        let kinds = ["car", "truck", "bus"]
            .iter()
            .filter(|&&k| n(k) >= 30)
            .count();
        assert!(kinds >= 2, "seed {seed}: {:?}", s.boxes);
        let mut count = [0u64; 5];
        for frame in (0..300).step_by(20) {
            let (_, _, map) = read_map(&s.masks.join(format!("{frame:06}.png")));
            for v in map {
                count[v as usize] += 1;
            }
        }
        // Occlusion: some boxes are of objects partly hidden by nearer ones.
        let hidden = read_jsonl(&s.det_gt)
            .iter()
            .flat_map(|l| l["objects"].as_array().unwrap().clone())
            .filter(|o| o["visibility"].as_f64().unwrap() < 0.8)
            .count();
        assert!(
            hidden >= 20,
            "seed {seed}: {hidden} boxes under 80 % visible"
        );
        let total: u64 = count.iter().sum();
        let share: Vec<f64> = count.iter().map(|&c| c as f64 / total as f64).collect();
        eprintln!(
            "seed {seed}: boxes {:?}, {hidden} under 80 % visible, class shares {share:.3?}",
            s.boxes
        );
        assert!((0.2..0.6).contains(&share[1]), "road {share:?}");
        assert!((0.003..0.1).contains(&share[2]), "lane {share:?}");
        assert!(share[3] > 0.005 && share[4] > 0.0005, "{share:?}");
    }
}

#[test]
fn replay_evaluates_a_pipeline_against_a_sample_drive() {
    init_ort();
    let dir = tempdir("sample-replay");
    let out = dir.join("drives");
    sample::generate(&options(5, &out, 60, (480, 270)), |_| {}).unwrap();
    let a = assets();
    let pipeline = dir.join("p.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: sample\nsources:\n  drive:\n    type: file\n    path: ${{PERCEPTD_DRIVE}}\n\
             models:\n  det:\n    path: {a}/FastestDet.onnx\n    format: fastestdet\n    classes: {a}/coco.names\n    threads: 1\n  \
             seg:\n    path: {fcn}\n    format: segmentation\n    threads: 1\n    heads: [{{output: out, classes: [background, road, lane, vehicle, person]}}]\n\
             stages:\n  - type: detect\n    model: det\n  - type: segment\n    model: seg\n  - type: track\n\
             sinks:\n  - type: jsonl\n    path: results.jsonl\n  - type: mask\n    path: masks\n  - type: mot\n    path: tracks.txt\n",
            a = a.display(),
            fcn = fixtures().join("fcn_tiny.onnx").display(),
        ),
    )
    .unwrap();
    let o = perceptd()
        .arg("replay")
        .arg(&pipeline)
        .arg("--input")
        .arg(out.join("drive.mp4"))
        .arg("--gt")
        .arg(out.join("gt"))
        .arg("--out")
        .arg(dir.join("run"))
        .args(["--progress", "off", "--no-report"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/run.json")).unwrap()).unwrap();
    let eval = &run["drives"][0]["eval"];
    assert!(eval["det"]["map50"].is_number(), "{eval}");
    assert!(eval["seg"]["miou"].is_number(), "{eval}");
    assert!(eval["mot"].is_object(), "{eval}");
    assert_eq!(run["drives"][0]["frames"], 60);
}

/// The model cards' figures (models/README.md, measured with `python3 models/measure.py`): per
/// held-out drive (seeds the training never saw; it used 1..12; the default 1200 frames with
/// their driver-assistance moments), detection mAP@0.5, segmentation mIoU and tracking IDF1
/// through `pipelines/sample-drive.yaml`.
const CARDS: [(u64, f64, f64, f64); 5] = [
    (1000, 0.705, 0.837, 0.645),
    (1001, 0.755, 0.797, 0.599),
    (1002, 0.778, 0.835, 0.682),
    (1003, 0.817, 0.818, 0.725),
    (1004, 0.667, 0.802, 0.659),
];
/// How far below its card a drive may land: ONNX Runtime on CPU with 2 threads gives the same
/// numbers run after run here; the margin covers another CPU's kernels (a few boxes or pixels
/// either way) and the cards' rounding, not a weaker model.
const MARGIN: f64 = 0.02;

#[test]
fn perceptds_own_models_reach_their_model_card_accuracy_on_held_out_drives() {
    let dir = tempdir("sample-own-models");
    let drives = dir.join("drives");
    for (seed, ..) in CARDS {
        let o = SampleOptions {
            name: format!("seed{seed}"),
            ..SampleOptions::new(seed, &drives)
        };
        sample::generate(&o, |_| {}).unwrap();
    }
    let addr = free_addr();
    let mut child = perceptd()
        .arg("replay")
        .arg(repo().join("pipelines/sample-drive.yaml"))
        .arg("--input")
        .arg(&drives)
        .arg("--gt")
        .arg(drives.join("gt"))
        .arg("--out")
        .arg(dir.join("run"))
        .args(["--progress", "off", "--metrics-addr", &addr.to_string()])
        .env("PERCEPTD_THREADS", "2")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The metrics rise while it runs.
    let mut frames_seen = 0.0;
    wait_until(std::time::Duration::from_secs(300), || {
        if let Some(page) = http_get(addr, "/metrics") {
            frames_seen = metric(&page, "perceptd_frames_total", &[("stage", "track")])
                .unwrap_or(0.0)
                .max(frames_seen);
        }
        frames_seen > 0.0 || child.try_wait().unwrap().is_some()
    });
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        frames_seen > 0.0,
        "/metrics at {addr} showed tracked frames while the replay ran"
    );
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/run.json")).unwrap()).unwrap();
    let mut low = vec![];
    for (seed, card_map50, card_miou, card_idf1) in CARDS {
        let name = format!("seed{seed}");
        let d = run["drives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["drive"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} in run.json"));
        assert_eq!(d["frames"], 1200);
        let (map50, miou, idf1) = (
            d["eval"]["det"]["map50"].as_f64().unwrap(),
            d["eval"]["seg"]["miou"].as_f64().unwrap(),
            d["eval"]["mot"]["idf1"].as_f64().unwrap(),
        );
        eprintln!(
            "{name}: mAP@0.5 {map50:.4} (card {card_map50}), mIoU {miou:.4} (card {card_miou}), IDF1 {idf1:.4} (card {card_idf1})"
        );
        for (what, got, card) in [
            ("mAP@0.5", map50, card_map50),
            ("mIoU", miou, card_miou),
            ("IDF1", idf1, card_idf1),
        ] {
            if got < card - MARGIN {
                low.push(format!("{name} {what} {got:.4} < card {card} - {MARGIN}"));
            }
        }
        // The outputs the README's first command points at.
        for f in [
            "sample-drive.mp4",
            "sample-drive.jsonl",
            "sample-drive.mot.txt",
        ] {
            assert!(dir.join("run").join(&name).join(f).is_file(), "{name}/{f}");
        }
    }
    assert!(low.is_empty(), "below the model cards: {low:#?}");
    adas_figures_hold(&run);
    crossings_hold(&dir);
    let report = std::fs::read_to_string(dir.join("run/report.html")).unwrap();
    for chart in [
        "Time to collision",
        "Lateral offset",
        "lane departure: recall",
    ] {
        assert!(report.contains(chart), "report.html has `{chart}`");
    }
    assert_eq!(
        count_frames(&dir.join("run/seed1000/sample-drive.mp4")),
        1200
    );
}

/// The driver-assistance figures of the same replay (issue 17's targets where they are met,
/// else the floor measured when the stage landed, so that a regression fails): warnings summed
/// over the five drives, per-frame errors per drive.
fn adas_figures_hold(run: &Value) {
    let drives = run["drives"].as_array().unwrap();
    let sum = |kind: &str, field: &str| -> f64 {
        drives
            .iter()
            .map(|d| d["eval"]["adas"]["warnings"][kind][field].as_f64().unwrap())
            .sum()
    };
    let mut fails = vec![];
    // (kind, recall floor, precision floor). Lane departure meets issue 17's 0.9 (6/6, 6/6 with
    // the retrained models). The other floors are regression guards at the level measured, under
    // issue 17's 0.9: FCW precision 4/6 with the 960x544 stride-32 detector (4/5 with the former
    // 640x368 one): its two false warnings are near misses, the truth's least TTC 2.64 s (seed
    // 1000) and 2.58 s (seed 1003) against the 2.5 s threshold, read 2.2-2.3 s; pedestrian in
    // path 4/5 and 4/5 (4/8 with the former detector; seed 1004's crossing at ~18 m, feet
    // hidden behind the lead car, is still missed; generator 4 no longer counts seed 1002's
    // person wholly hidden behind a vehicle, and keeps seed 1000's one event through its
    // person's 2 s behind a van).
    for (kind, recall, precision) in [
        ("forward_collision", 0.9, 0.65),
        ("lane_departure", 0.9, 0.9),
        ("pedestrian_in_path", 0.8, 0.75),
    ] {
        let (truth, detected) = (sum(kind, "true_events"), sum(kind, "detected"));
        let (raised, correct) = (sum(kind, "warnings"), sum(kind, "correct"));
        assert!(
            truth >= 3.0,
            "the five drives script {kind} at least 3 times: {truth}"
        );
        let (r, p) = (detected / truth, correct / raised.max(1.0));
        eprintln!(
            "{kind}: recall {r:.3} ({detected}/{truth}), precision {p:.3} ({correct}/{raised})"
        );
        if r < recall || p < precision {
            fails.push(format!(
                "{kind}: recall {r:.3} < {recall} or precision {p:.3} < {precision}"
            ));
        }
    }
    for d in drives {
        let a = &d["eval"]["adas"];
        let name = d["drive"].as_str().unwrap();
        // (figure, lowest allowed, highest allowed)
        for (key, lo, hi) in [
            ("lane_found", 0.9, 1.0),
            ("offset_mae_m", 0.0, 0.2),
            ("distance_median_rel_err", 0.0, 0.15),
            ("lead_identified", 0.5, 1.0),
        ] {
            let got = a[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {key} in {a}"));
            if !(lo..=hi).contains(&got) {
                fails.push(format!("{name}: {key} {got} outside {lo}..={hi}"));
            }
        }
        // Issue 17's 0.2 is met (0.129-0.195 per drive); the margin is for another CPU's kernels.
        if let Some(ttc) = a["ttc_median_rel_err"].as_f64()
            && ttc > 0.22
        {
            fails.push(format!("{name}: TTC median relative error {ttc} > 0.22"));
        }
    }
    assert!(fails.is_empty(), "driver-assistance figures: {fails:#?}");
}

/// The counting line of pipelines/sample-drive.yaml (at 0.65 of the height) against the truth
/// of the five drives, by identity (`analytics::score_crossings`). Issue 20 asks 0 missed and 0
/// double counts; measured with the 960x544 detector: 30 of 33 true crossers counted, 3 counted
/// twice (a vehicle boxed as two tracks), 15 counts of no true crosser (a box hovering at the
/// line's margin, fragments). The floors guard against regressions.
fn crossings_hold(dir: &Path) {
    let mut total = crate::analytics::CrossingScore::default();
    for (seed, ..) in CARDS {
        let name = format!("seed{seed}");
        let run = dir.join("run").join(&name);
        let s = crate::analytics::score_crossings(
            &dir.join("drives/gt").join(format!("{name}.txt")),
            &run.join("sample-drive.mot.txt"),
            &run.join("sample-drive.events.jsonl"),
            "passed",
            0.65 * 540.0,
            0.01 * 540.0,
            30.0,
        );
        eprintln!("{name} line crossings: {s:?}");
        total.true_crossings += s.true_crossings;
        total.counted += s.counted;
        total.double += s.double;
        total.false_counts += s.false_counts;
    }
    eprintln!("line crossings, five drives: {total:?}");
    assert!(total.true_crossings >= 25, "{total:?}");
    assert!(
        total.counted as f64 >= 0.85 * total.true_crossings as f64
            && total.double <= 5
            && total.false_counts <= 20,
        "{total:?}"
    );
}

/// Every ground-truth object carries its instance mask (COCO RLE of the pixels that show it): the
/// mask's bounding box is the object's box, its pixels are of the object's class in the class
/// map, no pixel belongs to two objects, and `eval det --iou-type segm` reads the masks (the
/// ground truth scored as its own predictions is perfect).
#[test]
fn the_ground_truth_has_instance_masks_that_fit_boxes_and_class_maps() {
    let dir = tempdir("sample-masks");
    let out = dir.join("s");
    let (w, h) = (480u32, 270u32);
    let opts = SampleOptions {
        video: false,
        ..options(23, &out, 40, (w, h))
    };
    let s = sample::generate(&opts, |_| {}).unwrap();
    let (mut objects, mut pred) = (0, String::new());
    for line in std::fs::read_to_string(&s.det_gt).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let frame = r["frame"].as_u64().unwrap();
        let (_, _, map) = read_map(&s.masks.join(format!("{frame:06}.png")));
        let mut owner = vec![0u64; (w * h) as usize];
        let mut dets = vec![];
        for o in r["objects"].as_array().unwrap() {
            let m = &o["mask"];
            assert_eq!(m["size"], serde_json::json!([h, w]));
            let counts =
                perceptd::frame::mask::rle_from_string(m["counts"].as_str().unwrap()).unwrap();
            let rle = perceptd::frame::mask::Rle::new(h, w, counts).unwrap();
            let class = if o["label"] == "person" { 4 } else { 3 };
            let id = o["id"].as_u64().unwrap();
            let (mut lo, mut hi) = ([u32::MAX; 2], [0u32; 2]);
            for (x, y) in rle.pixels() {
                lo = [lo[0].min(x), lo[1].min(y)];
                hi = [hi[0].max(x + 1), hi[1].max(y + 1)];
                let i = (y * w + x) as usize;
                assert_eq!(map[i], class, "frame {frame} object {id} at ({x}, {y})");
                assert_eq!(owner[i], 0, "frame {frame}: ({x}, {y}) shows two objects");
                owner[i] = id;
            }
            let b: Vec<u32> = (0..4)
                .map(|k| o["bbox"][k].as_u64().unwrap() as u32)
                .collect();
            assert_eq!(
                [lo[0], lo[1], hi[0], hi[1]],
                [b[0], b[1], b[2], b[3]],
                "frame {frame} object {id}"
            );
            objects += 1;
            dets.push(serde_json::json!({"label": o["label"], "score": 1.0, "bbox": o["bbox"], "mask": m}));
        }
        pred.push_str(&format!(
            "{}\n",
            serde_json::json!({"frame": frame, "detections": dets})
        ));
    }
    assert!(objects > 100, "{objects} objects");
    std::fs::write(dir.join("pred.jsonl"), pred).unwrap();
    let r = perceptd::eval::det::evaluate_paths_as(
        &s.det_gt,
        &dir.join("pred.jsonl"),
        perceptd::eval::det::IouType::Segm,
    )
    .unwrap();
    assert!(r.map.unwrap() > 0.999, "{}", r.table());
}

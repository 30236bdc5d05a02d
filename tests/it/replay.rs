//! `perceptd replay` and `perceptd diff` on the real clip: determinism, folders of drives,
//! evaluation plumbing, A/B comparison, and the HTML report in headless Chromium.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// FastestDet on whatever drive replay gives it, at `score`.
fn pipeline(dir: &Path, score: f32) -> PathBuf {
    let a = assets();
    let p = dir.join(format!("det-{score}.yaml"));
    std::fs::write(
        &p,
        format!(
            "name: det\nsources:\n  drive:\n    type: file\n    path: ${{PERCEPTD_DRIVE}}\n\
             models:\n  det:\n    path: {a}/FastestDet.onnx\n    format: fastestdet\n    classes: {a}/coco.names\n    score_threshold: {score}\n    threads: 2\n\
             stages:\n  - type: detect\n    model: det\n\
             sinks:\n  - type: jsonl\n    path: out/detections.jsonl\n",
            a = a.display()
        ),
    )
    .unwrap();
    p
}

fn replay(pipeline: &Path, input: &Path, out: &Path, extra: &[&str]) -> Output {
    let o = perceptd()
        .arg("replay")
        .arg(pipeline)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn clip() -> PathBuf {
    assets().join("solidWhiteRight.mp4")
}

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
}

#[test]
fn two_replays_of_the_real_clip_write_identical_jsonl() {
    let dir = tempdir("replay-determinism");
    let p = pipeline(&dir, 0.5);
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = replay(&p, &clip(), &a, &["--progress", "lines"]);
    replay(&p, &clip(), &b, &["--progress", "off"]);
    let ja = std::fs::read(a.join("solidWhiteRight/detections.jsonl")).unwrap();
    let jb = std::fs::read(b.join("solidWhiteRight/detections.jsonl")).unwrap();
    assert_eq!(
        read_jsonl(&a.join("solidWhiteRight/detections.jsonl")).len(),
        221
    );
    assert!(ja == jb, "the two runs' JSONL differ");
    // Plain progress lines when not on a terminal, and the summary at the end.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("221/221 frames") && err.contains("1/1 solidWhiteRight"),
        "{err}"
    );
    assert!(
        err.contains("frames/s")
            && err.contains("p99 ms")
            && err.contains("detections: ")
            && err.contains(", car "),
        "{err}"
    );
    let run = run_json(&a);
    assert_eq!(run["frames"], 221);
    let d = &run["drives"][0];
    assert_eq!(d["drive"], "solidWhiteRight");
    let cars = d["detections"]["car"].as_u64().unwrap();
    let counted: u64 = read_jsonl(&a.join("solidWhiteRight/detections.jsonl"))
        .iter()
        .map(|l| {
            l["detections"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["label"] == "car")
                .count() as u64
        })
        .sum();
    assert_eq!(cars, counted);
    let stages: Vec<&str> = d["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        stages.contains(&"detect:det") && stages.contains(&"jsonl"),
        "{stages:?}"
    );
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("data:image/png;base64,"),
        "charts and thumbnails"
    );
    // Self-contained: nothing is fetched (the only URL is the SVG namespace).
    assert!(
        !html
            .replace("http://www.w3.org/2000/svg", "")
            .contains("http"),
        "no network"
    );
}

#[test]
fn a_folder_of_drives_gives_one_folder_each_and_diff_finds_the_higher_threshold() {
    let dir = tempdir("replay-folder");
    let drives = dir.join("drives");
    std::fs::create_dir_all(&drives).unwrap();
    std::os::unix::fs::symlink(clip(), drives.join("d1.mp4")).unwrap();
    std::os::unix::fs::symlink(clip(), drives.join("d2.mp4")).unwrap();
    std::fs::write(drives.join("notes.txt"), "not a video").unwrap();
    let (a, b) = (dir.join("a"), dir.join("b"));
    replay(&pipeline(&dir, 0.5), &drives, &a, &["--progress", "off"]);
    replay(&pipeline(&dir, 0.8), &drives, &b, &["--progress", "off"]);
    let run = run_json(&a);
    assert_eq!(run["drives"].as_array().unwrap().len(), 2);
    assert_eq!(run["frames"], 442);
    for d in ["d1", "d2"] {
        assert_eq!(read_jsonl(&a.join(d).join("detections.jsonl")).len(), 221);
        assert!(a.join(d).join("summary.json").is_file());
    }

    // Against itself: nothing differs.
    let text = stdout_of(
        perceptd()
            .args(["diff"])
            .arg(&a)
            .arg(&a)
            .arg("--out")
            .arg(dir.join("self")),
    );
    assert!(
        text.contains("no differences: every drive has the same results"),
        "{text}"
    );
    assert!(!text.contains("only in A,"), "{text}");

    // A higher threshold keeps a subset: fewer detections, boxes only in A, none only in B.
    let text = stdout_of(perceptd().args(["diff"]).arg(&a).arg(&b));
    assert!(!text.contains("no differences:"), "{text}");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("detections car:"))
        .unwrap_or_else(|| panic!("{text}"));
    let delta: i64 = line
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    assert!(delta < 0, "fewer cars at 0.8: {line}");
    let frames: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" only in A, "))
        .collect();
    assert!(!frames.is_empty(), "{text}");
    for l in &frames {
        assert!(
            l.ends_with(" 0 only in B"),
            "B's boxes are a subset of A's: {l}"
        );
    }
    let html = std::fs::read_to_string(b.join("diff/report.html")).unwrap();
    assert!(
        html.contains("Frames where A and B disagree most")
            && html.contains("data:image/png;base64,")
    );
}

/// A run's own detections as ground truth (perceptd's ground-truth JSONL).
fn pseudo_gt(pred: &Path, gt: &Path) {
    let mut out = String::new();
    for l in read_jsonl(pred) {
        let objects: Vec<serde_json::Value> = l["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| serde_json::json!({"label": d["label"], "bbox": d["bbox"]}))
            .collect();
        let rec = serde_json::json!({"frame": l["frame"], "width": l["width"], "height": l["height"], "objects": objects});
        out.push_str(&rec.to_string());
        out.push('\n');
    }
    std::fs::write(gt, out).unwrap();
}

#[test]
fn replay_with_ground_truth_evaluates_and_the_report_renders_in_chromium() {
    let dir = tempdir("replay-gt");
    let a = dir.join("a");
    replay(&pipeline(&dir, 0.5), &clip(), &a, &["--progress", "off"]);
    let gt = dir.join("solidWhiteRight.gt.jsonl");
    pseudo_gt(&a.join("solidWhiteRight/detections.jsonl"), &gt);
    // The same predictions score 1; a higher threshold misses some, so its mAP is lower.
    let same = dir.join("same");
    replay(
        &pipeline(&dir, 0.5),
        &clip(),
        &same,
        &["--progress", "off", "--gt", gt.to_str().unwrap()],
    );
    let map50 = |out: &Path| {
        run_json(out)["drives"][0]["eval"]["det"]["map50"]
            .as_f64()
            .unwrap()
    };
    assert!((map50(&same) - 1.0).abs() < 1e-9, "{}", map50(&same));
    let high = dir.join("high");
    replay(
        &pipeline(&dir, 0.8),
        &clip(),
        &high,
        &["--progress", "off", "--gt", gt.to_str().unwrap()],
    );
    assert!(map50(&high) < 0.99, "{}", map50(&high));
    let worst = &run_json(&high)["drives"][0]["worst"];
    assert!(
        worst[0]["why"].as_str().unwrap().contains("miss"),
        "{worst}"
    );

    // The report opens in headless Chromium without console errors, and its charts are drawn.
    let html = high.join("report.html");
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("Precision-recall at IoU 0.5")
    );
    let shot = dir.join("report.png");
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok()
        })
        .expect("chromium is not installed: apt-get install chromium (deploy/setup.sh does)");
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,1800",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && shot.is_file(),
        "chromium failed:\n{log}"
    );
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console errors: {console:?}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let (mut non_white, mut chart_blue) = (0usize, 0usize);
    for p in px.chunks_exact(ch) {
        if p[0] < 240 || p[1] < 240 || p[2] < 240 {
            non_white += 1;
        }
        // #0072B2, the first series colour of every chart.
        if (p[0] as i32).abs() < 20
            && (p[1] as i32 - 114).abs() < 20
            && (p[2] as i32 - 178).abs() < 20
        {
            chart_blue += 1;
        }
    }
    let total = px.len() / ch;
    assert!(
        non_white > total / 50,
        "the screenshot is nearly blank: {non_white} of {total} pixels"
    );
    assert!(
        chart_blue > 500,
        "no chart series drawn: {chart_blue} pixels of #0072B2"
    );
}

#[test]
fn replay_rejects_bad_inputs_clearly() {
    let dir = tempdir("replay-bad");
    let p = pipeline(&dir, 0.5);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = perceptd()
        .arg("replay")
        .arg(&p)
        .arg("--input")
        .arg(&empty)
        .arg("--out")
        .arg(dir.join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no video files"));
    let o = perceptd()
        .arg("replay")
        .arg(&p)
        .arg("--input")
        .arg(clip())
        .arg("--out")
        .arg(dir.join("o"))
        .arg("--gt")
        .arg(dir.join("nope.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--gt"));
    let o = perceptd()
        .args(["diff"])
        .arg(&empty)
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run.json"));
}

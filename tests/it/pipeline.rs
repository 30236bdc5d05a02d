//! The first real pipeline end to end: FastestDet on the recorded drive, annotated MP4, JSONL,
//! /metrics scraped over HTTP while it runs; and a SIGTERM halfway.

use crate::common::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

const FRAMES: u64 = 221;
const STAGES: [&str; 5] = ["source", "preprocess:det", "detect:det", "jsonl", "video"];

fn start(out: &Path, extra: &[&str]) -> Child {
    perceptd()
        .args(["run", "pipelines/examples/fastestdet-drive.yaml"])
        .args(extra)
        .current_dir(repo())
        .env("PERCEPTD_OUT", out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stage_frames(page: &str, stage: &str) -> f64 {
    metric(
        page,
        "perceptd_frames_total",
        &[
            ("pipeline", "fastestdet-drive"),
            ("stream", "drive"),
            ("stage", stage),
        ],
    )
    .unwrap_or(0.0)
}

#[test]
fn fastestdet_drive_end_to_end_with_metrics() {
    let out = tempdir("e2e");
    let addr = free_addr();
    let mut child = start(
        &out,
        &["--metrics-addr", &addr.to_string(), "--linger", "4"],
    );

    // While it runs: the histograms are there and their counts track the frames.
    let mut mid_run = None;
    let finished = wait_until(Duration::from_secs(240), || {
        let Some(page) = http_get(addr, "/metrics") else {
            return false;
        };
        let done = stage_frames(&page, "video");
        if done > 0.0 && done < FRAMES as f64 && mid_run.is_none() {
            mid_run = Some(page.clone());
        }
        done == FRAMES as f64
    });
    assert!(finished, "the pipeline finished all {FRAMES} frames");
    let page = mid_run.expect("a scrape while frames were still flowing");
    let lat = [("pipeline", "fastestdet-drive"), ("stream", "drive")];
    let mid = metric(&page, "perceptd_frame_latency_seconds_count", &lat)
        .expect("latency histogram mid-run");
    assert!(
        // Metrics are read one at a time, so a frame may sit between two of them (+1).
        mid < FRAMES as f64 && mid <= stage_frames(&page, "source") + 1.0,
        "{mid}"
    );
    for stage in STAGES {
        let labels = [
            ("pipeline", "fastestdet-drive"),
            ("stream", "drive"),
            ("stage", stage),
        ];
        let count = metric(&page, "perceptd_stage_duration_seconds_count", &labels)
            .unwrap_or_else(|| panic!("{stage} histogram in:\n{page}"));
        // Downstream stages are behind the source, never ahead.
        assert!(
            count <= stage_frames(&page, "source") + 1.0,
            "{stage}: {count}"
        );
        // Buckets are cumulative and end at the count.
        let mut prev = 0.0;
        for le in [
            "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128",
            "0.256", "0.512", "1.024", "2.048", "+Inf",
        ] {
            let mut l = labels.to_vec();
            l.push(("le", le));
            let b = metric(&page, "perceptd_stage_duration_seconds_bucket", &l)
                .unwrap_or_else(|| panic!("bucket le={le} for {stage}"));
            assert!(b >= prev, "{stage}: buckets cumulative at le={le}");
            prev = b;
        }
        assert_eq!(prev, count, "{stage}: +Inf bucket = count");
    }

    // After the last frame: every count is exactly the frames processed.
    let page = http_get(addr, "/metrics").unwrap();
    for stage in STAGES {
        assert_eq!(stage_frames(&page, stage), FRAMES as f64, "{stage} frames");
        let labels = [
            ("pipeline", "fastestdet-drive"),
            ("stream", "drive"),
            ("stage", stage),
        ];
        assert_eq!(
            metric(&page, "perceptd_stage_duration_seconds_count", &labels),
            Some(FRAMES as f64),
            "{stage} histogram"
        );
    }
    assert_eq!(
        metric(&page, "perceptd_frame_latency_seconds_count", &lat),
        Some(FRAMES as f64)
    );
    assert_eq!(
        metric(
            &page,
            "perceptd_model_provider",
            &[("model", "det"), ("provider", "cpu")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &page,
            "perceptd_model_provider",
            &[("model", "det"), ("provider", "cuda")]
        ),
        Some(0.0)
    );
    assert!(page.contains("perceptd_queue_depth{"), "queue depth gauges");
    let dropped: f64 = page
        .lines()
        .filter(|l| l.starts_with("perceptd_frames_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(dropped, 0.0, "replay is lossless");
    assert!(http_get(addr, "/nope").is_some_and(|b| b.contains("not found")));
    // It lingers (serving the final counts) and then exits cleanly.
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // The JSONL: one line per frame, in order, cars in most frames, boxes inside the frame.
    let lines = read_jsonl(&out.join("fastestdet-drive.jsonl"));
    assert_eq!(lines.len() as u64, FRAMES);
    let mut with_car = 0;
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"].as_u64(), Some(i as u64));
        assert_eq!(
            (l["pipeline"].as_str(), l["stream"].as_str()),
            (Some("fastestdet-drive"), Some("drive"))
        );
        assert_eq!(
            (l["width"].as_u64(), l["height"].as_u64()),
            (Some(960), Some(540))
        );
        let dets = l["detections"].as_array().unwrap();
        for d in dets {
            let b: Vec<f64> = d["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(
                b[0] >= 0.0
                    && b[1] >= 0.0
                    && b[2] <= 960.0
                    && b[3] <= 540.0
                    && b[0] < b[2]
                    && b[1] < b[3],
                "{d}"
            );
            assert!(d["score"].as_f64().unwrap() > 0.65);
        }
        if dets.iter().any(|d| d["label"] == "car") {
            with_car += 1;
        }
    }
    assert!(
        with_car as f64 >= 0.8 * FRAMES as f64,
        "cars in {with_car} of {FRAMES} frames"
    );
    let pts: Vec<u64> = lines
        .iter()
        .map(|l| l["pts_ns"].as_u64().unwrap())
        .collect();
    assert!(pts.windows(2).all(|w| w[0] < w[1]), "PTS increase");

    // The annotated MP4 decodes to every frame.
    assert_eq!(count_frames(&out.join("fastestdet-drive.mp4")), FRAMES);
}

#[test]
fn sigterm_halfway_leaves_a_playable_mp4_and_whole_jsonl() {
    let out = tempdir("sigterm");
    let mut child = start(&out, &["--metrics-addr", "off"]);
    let jsonl = out.join("fastestdet-drive.jsonl");
    let started = wait_until(Duration::from_secs(120), || {
        std::fs::read_to_string(&jsonl).is_ok_and(|t| t.lines().count() >= 40)
    });
    assert!(started, "frames flowed");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "graceful stop:\n{err}");
    assert!(err.contains("stopped by signal"), "{err}");
    let lines = read_jsonl(&jsonl);
    let n = lines.len() as u64;
    assert!((40..FRAMES).contains(&n), "stopped partway: {n} frames");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"].as_u64(), Some(i as u64));
    }
    // Every frame processed before the signal is in the finalised MP4.
    assert_eq!(count_frames(&out.join("fastestdet-drive.mp4")), n);
}

/// Writes a pipeline file into `dir` and returns its path.
fn pipeline_file(dir: &Path, body: &str) -> std::path::PathBuf {
    let f = dir.join("p.yaml");
    std::fs::write(&f, body).unwrap();
    f
}

/// Runs `file` with /metrics on a free port, waits until `stage` has done `frames`, returns the page.
fn run_and_scrape(
    file: &Path,
    pipeline: &str,
    stage: &str,
    frames: f64,
) -> (String, Child, std::net::SocketAddr) {
    let addr = free_addr();
    let mut child = perceptd()
        .arg("run")
        .arg(file)
        .args(["--metrics-addr", &addr.to_string(), "--linger", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut page = String::new();
    let done = wait_until(Duration::from_secs(120), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("perceptd exited early ({status}); its stderr is above");
        }
        page = http_get(addr, "/metrics").unwrap_or_default();
        page.contains("perceptd_frame_latency_seconds_count")
            && metric(
                &page,
                "perceptd_frames_total",
                &[("pipeline", pipeline), ("stage", stage)],
            ) == Some(frames)
    });
    assert!(done, "{stage} reached {frames} frames; last page:\n{page}");
    (page, child, addr)
}

#[test]
fn unavailable_gpu_providers_fall_back_to_cpu_visibly() {
    let dir = tempdir("fallback");
    let file = pipeline_file(
        &dir,
        &format!(
            "name: fb\nsources: {{cam: {{type: test, num_frames: 10, width: 320, height: 240}}}}\n\
             models: {{det: {{path: {}, format: yolov8, providers: [tensorrt, cuda, cpu]}}}}\n\
             stages: [{{type: detect, model: det}}]\nsinks: [{{type: jsonl, path: {}/o.jsonl}}]\n",
            fixtures().join("yolov8_tiny.onnx").display(),
            dir.display()
        ),
    );
    let (page, mut child, _) = run_and_scrape(&file, "fb", "jsonl", 10.0);
    let _ = child.kill();
    let _ = child.wait();
    // The CPU-only library has neither GPU provider: both are skipped, logged and counted.
    assert_eq!(
        metric(
            &page,
            "perceptd_model_provider",
            &[("model", "det"), ("provider", "cpu")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &page,
            "perceptd_model_provider",
            &[("model", "det"), ("provider", "tensorrt")]
        ),
        Some(0.0)
    );
    for p in ["tensorrt", "cuda"] {
        assert_eq!(
            metric(
                &page,
                "perceptd_model_provider_fallbacks_total",
                &[("model", "det"), ("provider", p)]
            ),
            Some(1.0),
            "{p}"
        );
    }
}

#[test]
fn provider_fallback_is_logged_with_the_reason() {
    let dir = tempdir("fallback-log");
    let file = pipeline_file(
        &dir,
        &format!(
            "name: fbl\nruntime: {{metrics_addr: 'off'}}\nsources: {{cam: {{type: test, num_frames: 3, width: 320, height: 240}}}}\n\
             models: {{det: {{path: {}, format: yolov8, providers: [tensorrt, cuda, cpu], tensorrt: {{fp16: true, engine_cache: {}/engines}}}}}}\n\
             stages: [{{type: detect, model: det}}]\nsinks: [{{type: jsonl, path: {}/o.jsonl}}]\n",
            fixtures().join("yolov8_tiny.onnx").display(),
            dir.display(),
            dir.display()
        ),
    );
    let o = perceptd()
        .arg("run")
        .arg(&file)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // Each skipped provider is a warning with ONNX Runtime's own reason, then CPU is used.
    for p in ["tensorrt", "cuda"] {
        let line = err
            .lines()
            .find(|l| l.contains("execution provider unusable") && l.contains(p))
            .unwrap_or_else(|| panic!("no fallback warning for {p}:\n{err}"));
        assert!(line.contains("error="), "the reason is logged: {line}");
    }
    assert!(
        err.lines()
            .any(|l| l.contains("session ready") && l.contains("cpu")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("o.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn gpu_only_providers_without_a_gpu_fail_clearly() {
    let dir = tempdir("gpu-only");
    let file = pipeline_file(
        &dir,
        &format!(
            "name: g\nruntime: {{metrics_addr: 'off'}}\nsources: {{cam: {{type: test, num_frames: 3}}}}\n\
             models: {{det: {{path: {}, format: yolov8, providers: [cuda]}}}}\n\
             stages: [{{type: detect, model: det}}]\n",
            fixtures().join("yolov8_tiny.onnx").display()
        ),
    );
    let o = perceptd().arg("run").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no execution provider could register and load the model (cuda: ")
            && err.contains("add `cpu`"),
        "{err}"
    );
}

#[test]
fn live_sources_drop_oldest_and_count_every_drop() {
    let dir = tempdir("live");
    let n = 200.0;
    // A test pattern as fast as it renders, into detection and encoding that cannot keep up.
    let file = pipeline_file(
        &dir,
        &format!(
            "name: live\nsources: {{cam: {{type: launch, mode: live, launch: 'videotestsrc num-buffers={n} ! video/x-raw,width=1280,height=720'}}}}\n\
             edges: {{capacity: 1}}\n\
             models: {{det: {{path: '${{PERCEPTD_ASSETS}}/FastestDet.onnx', format: fastestdet, threads: 1}}}}\n\
             stages: [{{type: detect, model: det}}]\n\
             sinks: [{{type: jsonl, path: {d}/o.jsonl}}, {{type: video, path: {d}/o.mp4}}]\n",
            d = dir.display()
        ),
    );
    let (_, mut child, addr) = run_and_scrape(&file, "live", "source", n);
    // Every frame the source made either reaches the end or is dropped on exactly one edge.
    let sums = |page: &str| {
        let dropped: f64 = page
            .lines()
            .filter(|l| {
                l.starts_with("perceptd_frames_dropped_total{") && l.contains("pipeline=\"live\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let done = metric(
            page,
            "perceptd_frame_latency_seconds_count",
            &[("pipeline", "live")],
        )
        .unwrap_or(0.0);
        (dropped, done)
    };
    let mut last = (0.0, 0.0);
    let balanced = wait_until(Duration::from_secs(60), || {
        last = sums(&http_get(addr, "/metrics").unwrap_or_default());
        last.0 + last.1 == n
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        balanced,
        "dropped + finished = {} + {} should be {n}",
        last.0, last.1
    );
    let (dropped, done) = last;
    assert!(dropped > 0.0, "the slow stages made the edges drop");
    let lines = read_jsonl(&dir.join("o.jsonl"));
    // The JSONL sink sits before the video sink: a frame can be written and then dropped.
    assert!(
        lines.len() as f64 >= done && (lines.len() as f64) < n,
        "{} JSONL lines, {done} finished",
        lines.len()
    );
    let frames: Vec<u64> = lines.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert!(
        frames.windows(2).all(|w| w[0] < w[1]),
        "order kept across drops"
    );
}

//! RTSP sources against a real RTSP server (gst-rtsp-server) on 127.0.0.1: reconnection while
//! the server flaps, a source that never connects, and credentials that never leak.

use crate::common::{free_addr, http_get, metric, perceptd, tempdir};
use crate::rtsp_server::RtspServer;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn yaml(name: &str, url: &str, out: &std::path::Path, extra: &str) -> String {
    format!(
        "name: {name}\nruntime: {{metrics_addr: \"off\"}}\nsources:\n  cam:\n    type: rtsp\n    url: {url}\n    latency_ms: 50\n    stall_timeout_s: 2\n{extra}sinks:\n  - type: jsonl\n    path: {}\n",
        out.display()
    )
}

/// Runs a pipeline on its own thread until `stop` is set.
fn spawn(
    yaml: String,
    dir: std::path::PathBuf,
    metrics: Arc<perceptd::telemetry::Metrics>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<perceptd::graph::RunReport> {
    std::thread::spawn(move || {
        let spec = perceptd::config::load_str(&yaml, &dir, &|_| None).unwrap();
        perceptd::graph::Prepared::new(&spec, metrics, stop)
            .unwrap()
            .run()
            .unwrap()
    })
}

/// Waits until `f` holds, up to `limit`; how long it took.
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_flapping_rtsp_server_is_reconnected_while_the_other_stream_keeps_flowing() {
    let dir = tempdir("rtsp-flap");
    let mut flapping = RtspServer::start(free_addr().port());
    let steady = RtspServer::start(free_addr().port());
    let metrics = Arc::new(perceptd::telemetry::Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    // One pipeline, two cameras: `flap` on the server that goes down, `steady` on the other.
    let cam = |url: String| {
        format!(
            "{{type: rtsp, url: \"{url}\", latency_ms: 50, stall_timeout_s: 2, reconnect_min_s: 0.25, reconnect_max_s: 2}}"
        )
    };
    let yaml = format!(
        "name: cams\nruntime: {{metrics_addr: \"off\"}}\nsources:\n  flap: {}\n  steady: {}\nsinks:\n  - {{type: jsonl, path: \"{}\"}}\n",
        cam(flapping.url()),
        cam(steady.url()),
        dir.join("out.jsonl").display()
    );
    let run = spawn(yaml, dir.clone(), metrics.clone(), stop.clone());
    let m = &metrics;
    let frames = |s: &str| {
        metric(
            &m.render(),
            "perceptd_frames_total",
            &[("stream", s), ("stage", "jsonl")],
        )
        .unwrap_or(0.0)
    };
    let health = |name: &str, s: &str| {
        metric(&m.render(), name, &[("pipeline", "cams"), ("source", s)]).unwrap_or(-1.0)
    };
    assert!(
        wait_for(Duration::from_secs(20), || frames("flap") > 10.0
            && frames("steady") > 10.0)
        .is_some(),
        "both streams start: {} and {} frames",
        frames("flap"),
        frames("steady")
    );
    assert_eq!(health("perceptd_source_up", "flap"), 1.0);
    for round in 1..=3 {
        flapping.stop();
        let down = wait_for(Duration::from_secs(5), || {
            health("perceptd_source_up", "flap") == 0.0
        });
        assert!(down.is_some(), "round {round}: the loss is seen");
        let steady_before = frames("steady");
        std::thread::sleep(Duration::from_secs(2));
        let age = health("perceptd_source_last_frame_age_seconds", "flap");
        assert!(
            age >= 1.5,
            "round {round}: frame age {age} s during the outage"
        );
        assert!(
            frames("steady") > steady_before + 10.0,
            "round {round}: the other stream keeps flowing ({steady_before} -> {})",
            frames("steady")
        );
        let before = frames("flap");
        flapping.resume();
        let back = wait_for(Duration::from_secs(10), || frames("flap") > before + 3.0);
        eprintln!("round {round}: frames again {back:?} after the server's return");
        let back = back.expect("the stream resumes");
        assert!(
            back < Duration::from_secs(5),
            "round {round}: resumed after {back:?}"
        );
        assert_eq!(
            health("perceptd_source_reconnects_total", "flap"),
            round as f64
        );
        assert_eq!(health("perceptd_source_up", "flap"), 1.0);
    }
    assert_eq!(health("perceptd_source_reconnects_total", "steady"), 0.0);
    stop.store(true, Ordering::Relaxed);
    let report = run.join().unwrap();
    assert_eq!(report.frames as f64, frames("flap") + frames("steady"));
    // Frame numbers go on counting across reconnections: no repeats within a stream.
    let recs = crate::common::read_jsonl(&dir.join("out.jsonl"));
    let nums: Vec<u64> = recs
        .iter()
        .filter(|r| r["stream"] == "flap")
        .map(|r| r["frame"].as_u64().unwrap())
        .collect();
    assert!(
        nums.windows(2).all(|w| w[1] > w[0]),
        "frame numbers increase"
    );
}

/// Runs `perceptd run` on `yaml` for `secs` seconds, scraping /metrics at the end; then
/// SIGTERM. Exit status, stderr and the last scrape.
fn run_cli(yaml: &str, dir: &std::path::Path, secs: u64) -> (i32, String, String) {
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).unwrap();
    let addr = free_addr();
    let child = perceptd()
        .env("RUST_LOG", "info")
        .args(["run", "--metrics-addr", &addr.to_string()])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(secs));
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the pipeline stays up while its source is down"
    );
    let page = http_get(addr, "/metrics").expect("/metrics answers");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        page,
    )
}

#[test]
fn a_source_that_never_connects_is_retried_and_reported_down_and_no_password_leaks() {
    const PASSWORD: &str = "s3cr3t-Pw0rd";
    let dir = tempdir("rtsp-never");
    // Nothing listens on this port.
    let port = free_addr().port();
    let y = yaml(
        "never",
        &format!("rtsp://viewer:{PASSWORD}@127.0.0.1:{port}/cam"),
        &dir.join("out.jsonl"),
        "    reconnect_min_s: 0.2\n    reconnect_max_s: 1\n",
    );
    let (code, log, page) = run_cli(&y, &dir, 4);
    assert_eq!(code, 0, "a stop ends the run cleanly: {log}");
    assert_eq!(
        metric(&page, "perceptd_source_up", &[("source", "cam")]),
        Some(0.0)
    );
    let tries = log.matches("source lost; reconnecting").count();
    assert!(tries >= 3, "retried: {tries} times in 4 s\n{log}");
    assert!(
        log.contains("rtsp://***@127.0.0.1"),
        "the URL is shown redacted\n{log}"
    );
    assert!(
        !log.contains(PASSWORD) && !page.contains(PASSWORD),
        "password leaked"
    );

    // The same credentials against a live server: frames flow, and still no password anywhere.
    let server = RtspServer::start(free_addr().port());
    let url = server
        .url()
        .replace("rtsp://", &format!("rtsp://viewer:{PASSWORD}@"));
    let y = yaml("live", &url, &dir.join("live.jsonl"), "");
    let (code, log, page) = run_cli(&y, &dir, 4);
    assert_eq!(code, 0, "{log}");
    assert!(
        metric(&page, "perceptd_frames_total", &[("stage", "jsonl")]).unwrap_or(0.0) > 10.0,
        "frames flowed\n{log}"
    );
    assert!(
        !log.contains(PASSWORD) && !page.contains(PASSWORD),
        "password leaked"
    );
    let check = perceptd()
        .arg("check")
        .arg(dir.join("p.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{text}");
    assert!(
        !text.contains(PASSWORD),
        "check output leaked the password: {text}"
    );
}

#[test]
fn the_annotated_video_is_served_over_rtsp_and_a_viewer_never_slows_the_pipeline() {
    let dir = tempdir("rtsp-out");
    let addr = free_addr();
    let metrics = Arc::new(perceptd::telemetry::Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let yaml = format!(
        r#"
name: serve
runtime: {{metrics_addr: "off"}}
sources:
  cam: {{type: test, mode: live, pattern: ball, fps: 30, width: 320, height: 240}}
models:
  det:
    path: {assets}/FastestDet.onnx
    format: fastestdet
    classes: {assets}/coco.names
    threads: 1
stages:
  - {{type: detect, model: det}}
sinks:
  - {{type: jsonl, path: "{d}/out.jsonl"}}
  - {{type: rtsp, address: "{addr}"}}
"#,
        assets = crate::common::assets().display(),
        d = dir.display()
    );
    let run = spawn(yaml, dir.clone(), metrics.clone(), stop.clone());
    let frames = || {
        metric(
            &metrics.render(),
            "perceptd_frames_total",
            &[("stage", "rtsp")],
        )
        .unwrap_or(0.0)
    };
    let rate = |secs: u64| {
        let (n0, t0) = (frames(), Instant::now());
        std::thread::sleep(Duration::from_secs(secs));
        (frames() - n0) / t0.elapsed().as_secs_f64()
    };
    assert!(
        wait_for(Duration::from_secs(20), || frames() > 30.0).is_some(),
        "frames flow"
    );
    let alone = rate(3);
    // A viewer connects, reads for a while, and leaves.
    let viewer = gst::parse::launch(&format!(
        "rtspsrc location=rtsp://{addr}/cam latency=0 ! rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw,format=BGR ! appsink name=s sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = viewer
        .by_name("s")
        .unwrap()
        .downcast::<gstreamer_app::AppSink>()
        .unwrap();
    viewer.set_state(gst::State::Playing).unwrap();
    let (n0, t0) = (frames(), Instant::now());
    let mut seen = 0;
    let mut size = (0, 0);
    while t0.elapsed() < Duration::from_secs(5) {
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            let st = s.caps().unwrap().structure(0).unwrap().to_owned();
            size = (
                st.get::<i32>("width").unwrap(),
                st.get::<i32>("height").unwrap(),
            );
            seen += 1;
        }
    }
    let watched = (frames() - n0) / t0.elapsed().as_secs_f64();
    viewer.set_state(gst::State::Null).unwrap();
    let after = rate(3);
    eprintln!(
        "frames/s alone {alone:.1}, while watched {watched:.1}, after {after:.1}; the viewer got {seen} frames of {size:?}"
    );
    assert!(seen >= 30, "the viewer got {seen} frames");
    assert_eq!(size, (320, 240));
    assert!(alone > 20.0, "the live source runs at its rate: {alone}");
    assert!(
        watched >= 0.9 * alone,
        "a viewer slowed the pipeline: {alone} -> {watched}"
    );
    assert!(
        after >= 0.9 * alone,
        "a viewer leaving slowed the pipeline: {alone} -> {after}"
    );
    stop.store(true, Ordering::Relaxed);
    run.join().unwrap();
}

//! Soak: two live RTSP cameras (test patterns from gst-rtsp-server on 127.0.0.1) through
//! FastestDet + ByteTrack + JSONL for `MINUTES` (default 10), one camera's server going down
//! for 10 s at the start of every minute. Prints RSS at 1 minute and at the end, every
//! reconnection time (server back -> frames again), end-to-end latency p50 / p99, and drops.
//!
//! `PERCEPTD_ASSETS=../shared/assets cargo bench --bench soak [-- MINUTES]`

#[path = "../tests/it/rtsp_server.rs"]
mod rtsp_server;

use perceptd::bench::streams::sample;
use perceptd::telemetry::Metrics;
use rtsp_server::RtspServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn main() {
    // As perceptd's main does.
    perceptd::pool::bound_malloc_arenas();
    let minutes: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let assets = std::env::var("PERCEPTD_ASSETS").expect("set PERCEPTD_ASSETS to ../shared/assets");
    let ort = std::env::var("ORT_DYLIB_PATH")
        .unwrap_or_else(|_| perceptd::config::DEFAULT_ORT_LIBRARY.into());
    let mut flapping = RtspServer::start(free_port());
    let steady = RtspServer::start(free_port());
    let out = std::env::temp_dir().join(format!("perceptd-soak-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let cam = |url: String| format!("{{type: rtsp, url: \"{url}\", latency_ms: 100}}");
    let yaml = format!(
        "name: soak\nruntime: {{metrics_addr: \"off\", onnxruntime: \"{ort}\"}}\nsources:\n  flap: {}\n  steady: {}\nmodels:\n  det: {{path: \"{assets}/FastestDet.onnx\", format: fastestdet, classes: \"{assets}/coco.names\", score_threshold: 0.3, threads: 1}}\nstages:\n  - {{type: detect, model: det}}\n  - {{type: track}}\nsinks:\n  - {{type: jsonl, path: \"{}\"}}\n",
        cam(flapping.url()),
        cam(steady.url()),
        out.join("soak.jsonl").display()
    );
    let spec = perceptd::config::load_str(&yaml, &out, &|_| None).unwrap();
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let (m, s) = (metrics.clone(), stop.clone());
        std::thread::spawn(move || {
            perceptd::graph::Prepared::new(&spec, m, s)
                .unwrap()
                .run()
                .unwrap()
        })
    };
    let frames = |s: &str| {
        sample(
            &metrics.render(),
            "perceptd_frames_total",
            &[("stream", s), ("stage", "jsonl")],
        )
    };
    let t0 = Instant::now();
    let mut rss_1min = 0;
    let mut reconnects = vec![];
    // SOAK_FLAP=0: no outages (a control run, to tell per-frame from per-reconnection costs).
    let flap = std::env::var("SOAK_FLAP").map_or(true, |v| v != "0");
    for minute in 0..minutes {
        // Down for 10 s at the start of each minute (from the second on), then back.
        if minute > 0 && std::env::var("SOAK_KICK").is_ok() {
            // Experiment: the clients are dropped, the server stays.
            for _ in 0..10 {
                flapping.kick();
                std::thread::sleep(Duration::from_secs(3));
            }
        } else if minute > 0 && flap {
            flapping.stop();
            std::thread::sleep(Duration::from_secs(10));
            let before = frames("flap");
            flapping.resume();
            let back = Instant::now();
            while frames("flap") <= before && back.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(20));
            }
            reconnects.push(back.elapsed().as_secs_f64());
        }
        let end = t0 + Duration::from_secs(60 * (minute + 1));
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(200));
        }
        if minute == 0 {
            rss_1min = rss_kib();
        }
        eprintln!(
            "minute {}: RSS {} MiB, frames flap {} steady {}",
            minute + 1,
            rss_kib() / 1024,
            frames("flap"),
            frames("steady")
        );
    }
    let rss_end = rss_kib();
    let page = metrics.render();
    stop.store(true, Ordering::Relaxed);
    let report = run.join().unwrap();
    let q = |p| perceptd::graph::quantile(&report.latencies, p) * 1e3;
    let dropped = sample(&page, "perceptd_frames_dropped_total", &[]);
    println!("soak: {minutes} min, two RTSP cameras, one down 10 s every minute");
    println!(
        "  RSS at 1 min {} KiB, at {minutes} min {} KiB: growth {:+.2} %",
        rss_1min,
        rss_end,
        (rss_end as f64 / rss_1min as f64 - 1.0) * 100.0
    );
    println!(
        "  reconnections: {} (counter {}), server back -> frames again: {}",
        reconnects.len(),
        sample(
            &page,
            "perceptd_source_reconnects_total",
            &[("source", "flap")]
        ),
        reconnects
            .iter()
            .map(|r| format!("{r:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  frames: {} (flap {}, steady {}), dropped {dropped}; latency p50 {:.1} ms p99 {:.1} ms",
        report.frames,
        sample(
            &page,
            "perceptd_frames_total",
            &[("stream", "flap"), ("stage", "jsonl")]
        ),
        sample(
            &page,
            "perceptd_frames_total",
            &[("stream", "steady"), ("stage", "jsonl")]
        ),
        q(0.5),
        q(0.99)
    );
    let _ = std::fs::remove_dir_all(&out);
}

//! `perceptd bench streams`: live-paced streams through FastestDet with annotated MP4s, its
//! report (table and JSON, the last run's beside), and its bad input.

use crate::common::{perceptd, stdout_of, tempdir};
use serde_json::Value;

#[test]
fn bench_streams_reports_each_count_and_compares_with_the_last_run() {
    let dir = tempdir("bench-streams");
    let run = || {
        stdout_of(perceptd().args([
            "bench",
            "streams",
            "--max-streams",
            "2",
            "--seconds",
            "3",
            "--batching",
            "off",
            "--width",
            "640",
            "--height",
            "360",
            "--out",
            dir.to_str().unwrap(),
        ]))
    };
    let first = run();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("streams.json")).unwrap()).unwrap();
    let points = report["points"].as_array().unwrap();
    // One live 25 fps stream is far below what FastestDet does on two cores (100+ fps): it is
    // held, every frame at the camera's rate, none dropped.
    let one = &points[0];
    assert_eq!(one["streams"], 1, "{report:#}");
    assert_eq!(one["batching"], false);
    let fps = one["min_fps"].as_f64().unwrap();
    assert!((fps - 25.0).abs() < 1.5, "{report:#}");
    assert_eq!(one["drops"], 0, "{report:#}");
    assert_eq!(one["held"], true, "{report:#}");
    assert!(one["p99_latency_s"].as_f64().unwrap() > 0.0);
    assert!(one["cpu_per_stream"].as_f64().unwrap() > 0.0);
    assert!(report["held"]["batching_off"].as_u64().unwrap() >= 1);
    // Every stream wrote its annotated video.
    assert!(dir.join("cam0.mp4").metadata().unwrap().len() > 0);
    assert!(
        first.contains("held at 25 fps with no drop, batching off:"),
        "{first}"
    );
    // A second run shows the first one's figures beside its own.
    let second = run();
    assert!(second.contains("(last run:"), "{second}");
}

#[test]
fn bench_streams_names_a_missing_model_and_a_foreign_report() {
    let dir = tempdir("bench-streams-bad");
    let o = perceptd()
        .args([
            "bench",
            "streams",
            "--model",
            "/nonexistent/det.onnx",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--model /nonexistent/det.onnx"), "{err}");
    std::fs::write(dir.join("streams.json"), "{\"bench\": \"peer\"}").unwrap();
    let o = perceptd()
        .args(["bench", "streams", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("streams.json") && err.contains("not a JSON report"),
        "{err}"
    );
}

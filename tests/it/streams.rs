//! Several streams in one pipeline: they share the model session, each keeps its own tracks,
//! video and MOT file, and a stream that fails ends alone.

use crate::common::{assets, count_frames, metric, read_jsonl, run_yaml, tempdir};
use std::sync::Arc;

#[test]
fn two_streams_share_the_detector_and_keep_their_own_tracks_videos_and_mot_files() {
    let dir = tempdir("streams-two");
    let yaml = format!(
        r#"
name: two
runtime: {{metrics_addr: "off"}}
sources:
  a: {{type: file, path: "${{PERCEPTD_ASSETS}}/solidWhiteRight.mp4"}}
  b: {{type: file, path: "${{PERCEPTD_ASSETS}}/solidWhiteRight.mp4"}}
models:
  det:
    path: ${{PERCEPTD_ASSETS}}/FastestDet.onnx
    format: fastestdet
    classes: ${{PERCEPTD_ASSETS}}/coco.names
    score_threshold: 0.4
    threads: 2
stages:
  - {{type: detect, model: det}}
  - {{type: track}}
sinks:
  - {{type: jsonl, path: "{d}/all.jsonl"}}
  - {{type: mot, path: "{d}/{{stream}}.mot.txt"}}
  - {{type: video, path: "{d}/{{stream}}.mp4"}}
"#,
        d = dir.display()
    );
    let metrics = Arc::new(perceptd::telemetry::Metrics::new());
    let report = run_yaml(&yaml, &dir, metrics.clone());
    assert!(
        report.stream_errors.is_empty(),
        "{:?}",
        report.stream_errors
    );
    let recs = read_jsonl(&dir.join("all.jsonl"));
    let of =
        |s: &str| -> Vec<&serde_json::Value> { recs.iter().filter(|r| r["stream"] == s).collect() };
    let (a, b) = (of("a"), of("b"));
    assert_eq!(
        (a.len(), b.len()),
        (221, 221),
        "every frame of both streams"
    );
    assert!(
        a.iter().enumerate().all(|(i, r)| r["frame"] == i as u64),
        "a stream's frames stay in order"
    );
    // The same video through one shared session: the same detections and, each stream
    // tracked on its own, the same track ids (both start at 1).
    let mut tracked = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["detections"], y["detections"], "frame {}", x["frame"]);
        tracked += x["detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["track_id"].is_u64())
            .count();
    }
    assert!(tracked > 100, "{tracked} tracked detections per stream");
    let mot_a = std::fs::read_to_string(dir.join("a.mot.txt")).unwrap();
    assert_eq!(mot_a.lines().count(), tracked);
    assert_eq!(
        mot_a,
        std::fs::read_to_string(dir.join("b.mot.txt")).unwrap()
    );
    for s in ["a", "b"] {
        assert_eq!(count_frames(&dir.join(format!("{s}.mp4"))), 221, "{s}.mp4");
        let page = metrics.render();
        let labels = [("pipeline", "two"), ("stream", s), ("stage", "detect:det")];
        assert_eq!(metric(&page, "perceptd_frames_total", &labels), Some(221.0));
        assert!(metric(&page, "perceptd_tracks_started_total", &[("stream", s)]).unwrap() >= 1.0);
        assert_eq!(
            metric(&page, "perceptd_source_up", &[("source", s)]),
            Some(0.0),
            "a finished file is down"
        );
    }
}

#[test]
fn a_truncated_and_a_damaged_file_end_their_own_streams_and_the_good_one_finishes() {
    let dir = tempdir("streams-bad");
    let clip = std::fs::read(assets().join("solidWhiteRight.mp4")).unwrap();
    // Cut after 40 %: the header (at the start of this file) still declares the whole clip.
    std::fs::write(dir.join("truncated.mp4"), &clip[..clip.len() * 2 / 5]).unwrap();
    // The index box renamed: the demuxer finds no playable stream.
    let mut damaged = clip.clone();
    let moov = clip.windows(4).position(|w| w == b"moov").unwrap();
    damaged[moov..moov + 4].copy_from_slice(b"xxxx");
    std::fs::write(dir.join("damaged.mp4"), &damaged).unwrap();
    let yaml = format!(
        r#"
name: bad
runtime: {{metrics_addr: "off"}}
sources:
  truncated: {{type: file, path: "{d}/truncated.mp4"}}
  damaged: {{type: file, path: "{d}/damaged.mp4"}}
  good: {{type: file, path: "${{PERCEPTD_ASSETS}}/solidWhiteRight.mp4"}}
sinks:
  - {{type: jsonl, path: "{d}/out.jsonl"}}
  - {{type: video, path: "{d}/out/{{stream}}.mp4"}}
"#,
        d = dir.display()
    );
    let report = run_yaml(&yaml, &dir, Arc::new(perceptd::telemetry::Metrics::new()));
    let errs = report.stream_errors.join("\n");
    assert_eq!(report.stream_errors.len(), 2, "{errs}");
    assert!(
        errs.contains("source truncated: the file ends at") && errs.contains("truncated"),
        "{errs}"
    );
    assert!(
        errs.contains("source damaged:") && errs.contains("no playable streams"),
        "{errs}"
    );
    let recs = read_jsonl(&dir.join("out.jsonl"));
    let n = |s: &str| recs.iter().filter(|r| r["stream"] == s).count();
    assert_eq!(n("good"), 221, "the good stream finishes");
    assert!(
        n("truncated") > 50 && n("truncated") < 221,
        "{}",
        n("truncated")
    );
    assert_eq!(count_frames(&dir.join("out/good.mp4")), 221);
    // The truncated stream's frames that were processed are kept, and its video is playable.
    assert_eq!(
        count_frames(&dir.join("out/truncated.mp4")) as usize,
        n("truncated")
    );
}

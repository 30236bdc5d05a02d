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
    // The damaged file ends its stream with an error that names it, either way GStreamer goes:
    // most runs its demuxer reports no playable streams; now and then (seen in CI, three files
    // decoding at once) it waits without a word, and the file's stall watch ends it after 15 s.
    let damaged = errs
        .lines()
        .find(|l| l.starts_with("source damaged:"))
        .unwrap_or("");
    assert!(
        damaged.contains("no playable streams")
            || (damaged.contains("gave no frame, end of stream or error")
                && damaged.contains("a damaged file?")),
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

/// A file whose data stops coming without an end (a FIFO whose writer stays open: GStreamer
/// waits for ever, as it once did on a truncated MP4) ends after the stall time with the
/// stall error, while the writer is still open: the source decided, not an end of file.
#[test]
fn a_file_that_stops_without_an_end_is_reported_instead_of_hanging() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempdir("streams-fifo");
    let fifo = dir.join("stuck.mp4");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let clip = std::fs::read(assets().join("solidWhiteRight.mp4")).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (fifo, done) = (fifo.clone(), done.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            // The header and 40 % of the clip, then silence with the writer open. A reader that
            // ends early closes the pipe (EPIPE): the source's own result says why.
            let _ = f.write_all(&clip[..clip.len() * 2 / 5]);
            let t0 = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) && t0.elapsed().as_secs() < 120 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    let mut src = perceptd::source::Source::open(
        &perceptd::config::SourceSpec {
            reconnect: None,
            pace: perceptd::config::Pace::Fast,
            stream: "stuck".into(),
            kind: perceptd::config::SourceKind::File(fifo.clone()),
            mode: perceptd::config::SourceMode::Replay,
        },
        Arc::new(AtomicBool::new(false)),
        perceptd::config::SupportPriority::Normal,
    )
    .unwrap();
    let mut frames = 0;
    let mut last = std::time::Instant::now();
    let end = loop {
        match src.next_frame() {
            Ok(Some(_)) => {
                frames += 1;
                last = std::time::Instant::now();
            }
            other => break other,
        }
    };
    let waited = last.elapsed().as_secs_f64();
    let writer_open = !writer.is_finished();
    // Closing either end frees the other: a writer that is done closes the FIFO (the blocked
    // read in filesrc returns), a reader that goes away fails a write still blocked (EPIPE).
    done.store(true, Ordering::Relaxed);
    let closer = std::thread::spawn(move || drop(src));
    writer.join().unwrap();
    closer.join().unwrap();
    let err = match end {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a quiet end after {frames} frames, not an error"),
    };
    eprintln!("fifo: {frames} frames, then after {waited:.1} s: {err}");
    // Read as a stream, the file declares no duration to call it truncated against.
    assert!(
        err.contains("source stuck: the file gave no frame, end of stream or error for 15 s"),
        "{err}"
    );
    assert!(writer_open, "decided while the data could still have come");
    // Usually 70-90 frames come first; on a loaded machine the stream sometimes gives none at
    // all before it sticks (seen here under load: 0 frames). Either way the source must decide.
    assert!(frames < 221, "{frames} frames");
    assert!(
        (14.0..30.0).contains(&waited),
        "decided {waited:.1} s after the last frame"
    );
}

/// A live 30 fps source into a model slower than 30 fps, for `secs` seconds: the latency stays
/// bounded (frames wait for at most the one being worked on) and the drops are counted.
#[test]
fn a_live_source_faster_than_its_model_keeps_latency_bounded_and_counts_drops() {
    let secs = 60;
    let dir = tempdir("streams-live");
    let yaml = format!(
        r#"
name: live
runtime: {{metrics_addr: "off"}}
sources:
  cam: {{type: test, mode: live, fps: 30, width: 640, height: 360, num_frames: {n}}}
models:
  lanes:
    path: ${{PERCEPTD_ASSETS}}/twinlitenet_bdd100k_360x640.onnx
    format: segmentation
    threads: 1
stages:
  - {{type: segment, model: lanes}}
sinks:
  - {{type: jsonl, path: "{d}/out.jsonl"}}
"#,
        n = secs * 30,
        d = dir.display()
    );
    let metrics = Arc::new(perceptd::telemetry::Metrics::new());
    let report = run_yaml(&yaml, &dir, metrics.clone());
    let infer = report
        .stages
        .iter()
        .find(|s| s.name == "segment:lanes")
        .expect("the inference stage");
    let q = |v: &[f32], p: f64| perceptd::graph::quantile(v, p);
    let (inf50, inf99) = (q(&infer.durations, 0.5), q(&infer.durations, 0.99));
    let (lat50, lat99) = (q(&report.latencies, 0.5), q(&report.latencies, 0.99));
    let page = metrics.render();
    let dropped: f64 = page
        .lines()
        .filter(|l| {
            l.starts_with("perceptd_frames_dropped_total{") && l.contains("pipeline=\"live\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    eprintln!(
        "inference p50 {:.1} ms p99 {:.1} ms; latency p50 {:.1} ms p99 {:.1} ms; {} frames done, {dropped} dropped of {}",
        inf50 * 1e3,
        inf99 * 1e3,
        lat50 * 1e3,
        lat99 * 1e3,
        report.frames,
        secs * 30
    );
    assert!(
        inf50 > 1.0 / 30.0,
        "the model is slower than the source ({inf50} s)"
    );
    // The bound of the issue: 2 x the inference time + one frame interval, with the
    // inference time taken at its own p99 (both are measured in this run, on this machine).
    let bound = 2.0 * inf99 + 1.0 / 30.0;
    assert!(lat99 < bound, "latency p99 {lat99:.3} s above {bound:.3} s");
    assert!(
        dropped > 0.0 && dropped + report.frames as f64 >= (secs * 30) as f64 * 0.95,
        "every frame is either done or counted as dropped: {} + {dropped}",
        report.frames
    );
}

#[test]
fn frames_of_two_streams_are_batched_together_and_their_results_go_back_to_each() {
    let dir = tempdir("streams-batch");
    let yaml = format!(
        "name: sb\nruntime: {{metrics_addr: 'off'}}\n\
         sources:\n  a: {{type: file, path: {v}}}\n  b: {{type: file, path: {v}}}\n\
         models: {{det: {{path: {m}, format: yolov8, threads: 1, batch_size: 4, max_batch_wait_ms: 50}}}}\n\
         stages: [{{type: detect, model: det}}]\n\
         sinks: [{{type: jsonl, path: {d}/out.jsonl}}]\n",
        v = assets().join("solidWhiteRight.mp4").display(),
        m = crate::common::fixtures()
            .join("yolov8_tiny_b.onnx")
            .display(),
        d = dir.display()
    );
    let metrics = Arc::new(perceptd::telemetry::Metrics::new());
    let report = run_yaml(&yaml, &dir, metrics.clone());
    assert_eq!(report.frames, 442);
    let recs = read_jsonl(&dir.join("out.jsonl"));
    let of =
        |s: &str| -> Vec<&serde_json::Value> { recs.iter().filter(|r| r["stream"] == s).collect() };
    let (a, b) = (of("a"), of("b"));
    assert_eq!((a.len(), b.len()), (221, 221));
    // The same clip in both: whatever batch each frame rode in, each stream gets its own
    // frame's results (scores to 1e-4, boxes to 0.01 px: batched kernels may round apart).
    let mut total = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["frame"], y["frame"]);
        let (dx, dy) = (
            x["detections"].as_array().unwrap(),
            y["detections"].as_array().unwrap(),
        );
        assert_eq!(dx.len(), dy.len(), "frame {}", x["frame"]);
        for (p, q) in dx.iter().zip(dy) {
            assert_eq!(p["label"], q["label"]);
            assert!((p["score"].as_f64().unwrap() - q["score"].as_f64().unwrap()).abs() <= 1e-4);
            for k in 0..4 {
                assert!(
                    (p["bbox"][k].as_f64().unwrap() - q["bbox"][k].as_f64().unwrap()).abs() <= 1e-2
                );
            }
        }
        total += dx.len();
    }
    assert!(total > 221, "detections to compare: {total}");
    let page = metrics.render();
    let calls = metric(
        &page,
        "perceptd_inference_batch_size_count",
        &[("stage", "detect:det")],
    )
    .unwrap();
    let frames = metric(
        &page,
        "perceptd_inference_batch_size_sum",
        &[("stage", "detect:det")],
    )
    .unwrap();
    assert_eq!(frames, 442.0);
    assert!(
        calls < 442.0 * 0.75,
        "{calls} calls for 442 frames: batches formed across streams"
    );
}

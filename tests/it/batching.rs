//! Batched inference: several frames per `Session::run` give the same detections as one at a
//! time, in the right frames and order; models without a dynamic batch still run.

use crate::common::*;
use perceptd::config::{DetectFormat, ModelSpec};
use perceptd::frame::Detection;
use perceptd::model::Detector;
use perceptd::model::preprocess::Geometry;
use perceptd::telemetry::Metrics;
use serde_json::Value;
use std::sync::Arc;

/// Same class, scores within 1e-4, boxes within 1e-2 px: batched kernels may round differently.
fn assert_same(a: &[Detection], b: &[Detection], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: detection count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.class_id, y.class_id, "{what}");
        assert!((x.score - y.score).abs() <= 1e-4, "{what}: {x:?} vs {y:?}");
        assert!(
            x.bbox
                .iter()
                .zip(&y.bbox)
                .all(|(p, q)| (p - q).abs() <= 1e-2),
            "{what}: {x:?} vs {y:?}"
        );
    }
}

/// Six different 320x320 inputs made from the letterboxed reference image.
fn inputs() -> Vec<Vec<f32>> {
    let hwc = gunzip(&fixtures().join("yolov8_tiny.input.u8.gz"));
    let (w, h) = (320usize, 320usize);
    let variant = |k: usize| -> Vec<f32> {
        let mut t = vec![0f32; 3 * w * h];
        for y in 0..h {
            for x in 0..w {
                // Mirror, shift and darken differently per variant.
                let sx = if k % 2 == 1 { w - 1 - x } else { x };
                let sy = (y + 16 * k) % h;
                for c in 0..3 {
                    let v = hwc[(sy * w + sx) * 3 + c] as f32 / 255.0;
                    t[c * w * h + y * w + x] = v * (1.0 - 0.08 * k as f32);
                }
            }
        }
        t
    };
    (0..6).map(variant).collect()
}

#[test]
fn a_batch_of_frames_gives_what_each_frame_gives_alone() {
    init_ort();
    let mut spec = ModelSpec::new(
        "b",
        fixtures().join("yolov8_tiny_b.onnx"),
        DetectFormat::Yolov8,
    );
    spec.threads = Some(1);
    spec.batch_size = 4;
    let mut det = Detector::load(&spec, None).unwrap();
    assert_eq!(det.max_batch, 4, "dynamic batch axis: batches of 4");
    let g = Geometry::new(det.input.resize, 960, 540, 320, 320);
    let tensors = inputs();
    let alone: Vec<Vec<Detection>> = tensors
        .iter()
        .map(|t| {
            let mut out = vec![];
            det.infer(t, &g, &mut out).unwrap();
            out
        })
        .collect();
    assert!(
        alone.iter().all(|d| !d.is_empty()) && alone[0] != alone[1],
        "every input finds something, and different things"
    );
    // Six frames: one call of 4, one of 2; each detection goes back to its own frame.
    let batch: Vec<(&[f32], Geometry)> = tensors.iter().map(|t| (&t[..], g)).collect();
    let mut got: Vec<Vec<Detection>> = vec![vec![]; 6];
    det.infer_batch(&batch, |i, d| got[i].push(d)).unwrap();
    for i in 0..6 {
        assert_same(&got[i], &alone[i], &format!("frame {i}"));
    }
}

#[test]
fn a_model_with_a_fixed_batch_of_one_still_runs_when_batching_is_asked() {
    init_ort();
    let mut spec = ModelSpec::new(
        "f",
        fixtures().join("yolov8_tiny.onnx"),
        DetectFormat::Yolov8,
    );
    spec.threads = Some(1);
    spec.batch_size = 4;
    let mut det = Detector::load(&spec, None).unwrap();
    assert_eq!(det.max_batch, 1, "fixed batch of 1: one frame per call");
    let g = Geometry::new(det.input.resize, 960, 540, 320, 320);
    let tensors = inputs();
    let batch: Vec<(&[f32], Geometry)> = tensors.iter().map(|t| (&t[..], g)).collect();
    let mut got: Vec<Vec<Detection>> = vec![vec![]; 6];
    det.infer_batch(&batch, |i, d| got[i].push(d)).unwrap();
    let mut first = vec![];
    det.infer(&tensors[0], &g, &mut first).unwrap();
    assert_same(&got[0], &first, "frame 0");
    assert!(got.iter().all(|d| !d.is_empty()));
}

/// Runs the recorded drive through yolov8_tiny_b at `batch` frames per call; the JSONL records
/// and the metrics page.
fn run_drive(batch: usize) -> (Vec<Value>, String) {
    let dir = tempdir(&format!("batch{batch}"));
    let yaml = format!(
        "name: batch\nruntime: {{metrics_addr: 'off'}}\n\
         sources: {{drive: {{type: file, path: {}}}}}\n\
         models: {{det: {{path: {}, format: yolov8, threads: 1, batch_size: {batch}, max_batch_wait_ms: 50}}}}\n\
         stages: [{{type: detect, model: det}}]\n\
         sinks: [{{type: jsonl, path: {}/out.jsonl}}]\n\
         edges: {{capacity: 8}}\n",
        assets().join("solidWhiteRight.mp4").display(),
        fixtures().join("yolov8_tiny_b.onnx").display(),
        dir.display()
    );
    let metrics = Arc::new(Metrics::new());
    let report = run_yaml(&yaml, &dir, metrics.clone());
    assert_eq!(report.frames, 221);
    (read_jsonl(&dir.join("out.jsonl")), metrics.render())
}

#[test]
fn the_drive_gives_the_same_detections_with_batch_size_1_and_4() {
    init_ort();
    let (one, page1) = run_drive(1);
    let (four, page4) = run_drive(4);
    assert_eq!(one.len(), 221);
    assert_eq!(four.len(), 221);
    let mut total = 0;
    for (a, b) in one.iter().zip(&four) {
        assert_eq!(a["seq"], b["seq"], "frames in order");
        let (da, db) = (
            a["detections"].as_array().unwrap(),
            b["detections"].as_array().unwrap(),
        );
        assert_eq!(da.len(), db.len(), "frame {}", a["seq"]);
        for (x, y) in da.iter().zip(db) {
            assert_eq!(x["label"], y["label"], "frame {}", a["seq"]);
            assert!((x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs() <= 1e-4);
            for k in 0..4 {
                assert!(
                    (x["bbox"][k].as_f64().unwrap() - y["bbox"][k].as_f64().unwrap()).abs() <= 1e-2,
                    "frame {}: {x} vs {y}",
                    a["seq"]
                );
            }
        }
        total += da.len();
    }
    assert!(
        total > 221,
        "the drive gives detections to compare ({total})"
    );
    // Batch 1 never batches; batch 4 did put several frames in one call.
    let labels = [("pipeline", "batch"), ("stage", "detect:det")];
    assert_eq!(
        metric(&page1, "perceptd_inference_batch_size_count", &labels),
        None,
        "no batching at batch_size 1"
    );
    let calls = metric(&page4, "perceptd_inference_batch_size_count", &labels).unwrap();
    let frames = metric(&page4, "perceptd_inference_batch_size_sum", &labels).unwrap();
    assert_eq!(frames, 221.0);
    assert!(
        calls < 221.0 * 0.75,
        "{calls} calls for 221 frames: batches formed"
    );
}

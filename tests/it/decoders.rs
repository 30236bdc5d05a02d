//! Conformance: perceptd's sessions and decoders against ONNX Runtime in Python and an
//! independent NumPy decoder (tests/fixtures/make_reference.py), on the same input tensors.
//! Tolerances: raw outputs 1e-4 absolute, scores 1e-4, boxes 1e-2 px.

use crate::common::*;
use perceptd::config::{ColorOrder, DetectFormat, ModelSpec, ResizeMode};
use perceptd::frame::{Detection, InstanceMask};
use perceptd::model::Detector;
use perceptd::model::preprocess::Geometry;
use serde_json::Value;
use std::path::PathBuf;

fn spec(name: &str, path: PathBuf, format: DetectFormat) -> ModelSpec {
    let mut s = ModelSpec::new(name, path, format);
    s.threads = Some(1);
    s
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Output `k` of a fixture: `NAME.output.f32.gz` for the first, `NAME.output{k}.f32.gz` after.
fn output_file(dir: &std::path::Path, fixture: &str, k: usize) -> PathBuf {
    if k == 0 {
        dir.join(format!("{fixture}.output.f32.gz"))
    } else {
        dir.join(format!("{fixture}.output{k}.f32.gz"))
    }
}

fn expected(fixture: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(fixtures().join(format!("{fixture}.expected.json"))).unwrap(),
    )
    .unwrap()
}

/// Every output shape of a fixture, in session order.
fn output_shapes(exp: &Value) -> Vec<Vec<i64>> {
    let list = exp
        .get("output_shapes")
        .map(|v| v.as_array().unwrap().clone())
        .unwrap_or_else(|| vec![exp["output_shape"].clone()]);
    list.iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        })
        .collect()
}

/// Runs one fixture: model on the stored input, decode of the stored output.
fn conformance(fixture: &str, model: PathBuf, format: DetectFormat) -> usize {
    conformance_with(fixture, spec(fixture, model, format))
}

fn conformance_with(fixture: &str, spec: ModelSpec) -> usize {
    conformance_dets(fixture, spec).0.len()
}

/// [`conformance_with`], giving the detections decoded from Python's outputs and those of the
/// full path (session + decode).
fn conformance_dets(fixture: &str, mut spec: ModelSpec) -> (Vec<Detection>, Vec<Detection>) {
    init_ort();
    let exp = expected(fixture);
    if let Some(c) = exp.get("classes") {
        spec.classes = Some(
            c.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
        );
    }
    let mut det = Detector::load(&spec, None).unwrap();
    assert!(
        (det.post.score_threshold as f64 - exp["score_threshold"].as_f64().unwrap()).abs() < 1e-6,
        "default threshold matches the reference"
    );

    // The input tensor: u8 HWC in the model's channel order -> f32 NCHW x input_scale
    // (1/255 unless the fixture says otherwise).
    let hwc = gunzip(&fixtures().join(format!("{fixture}.input.u8.gz")));
    let dims = &exp["input_u8_shape_hwc"];
    let (h, w) = (
        dims[0].as_u64().unwrap() as usize,
        dims[1].as_u64().unwrap() as usize,
    );
    let scale = exp
        .get("input_scale")
        .and_then(Value::as_f64)
        .unwrap_or(1.0 / 255.0) as f32;
    assert!(
        (det.input.scale - scale).abs() < 1e-9,
        "{fixture}: the format's default input scale is the reference's"
    );
    assert_eq!(hwc.len(), h * w * 3);
    let mut tensor = vec![0f32; 3 * h * w];
    for (i, px) in hwc.chunks_exact(3).enumerate() {
        for c in 0..3 {
            tensor[c * h * w + i] = px[c] as f32 * scale;
        }
    }

    // 1. The session's raw outputs equal Python's.
    let got = det.raw_outputs_at(&tensor, w as u32, h as u32).unwrap();
    let shapes = output_shapes(&exp);
    assert_eq!(got.len(), shapes.len(), "{fixture}: output count");
    let mut want = vec![];
    for (k, ((gs, gv), ws)) in got.iter().zip(&shapes).enumerate() {
        assert_eq!(gs, ws, "{fixture}: output {k} shape");
        let wv = f32s(&gunzip(&output_file(&fixtures(), fixture, k)));
        assert_eq!(gv.len(), wv.len());
        let max_diff = gv
            .iter()
            .zip(&wv)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0f32, f32::max);
        assert!(
            max_diff <= 1e-4,
            "{fixture}: raw output {k} differs by {max_diff} (relative above 1)"
        );
        want.push(wv);
    }

    // 2. Geometry matches the reference's letterbox / stretch.
    let (sw, sh) = (
        exp["src_size"][0].as_u64().unwrap() as u32,
        exp["src_size"][1].as_u64().unwrap() as u32,
    );
    let g = Geometry::new(det.input.resize, sw, sh, w as u32, h as u32);
    let outs: Vec<(&[i64], &[f32])> = shapes
        .iter()
        .zip(&want)
        .map(|(s, v)| (&s[..], &v[..]))
        .collect();
    let eg = &exp["geometry"];
    assert_eq!(g.pad_left as u64, eg["pad_left"].as_u64().unwrap());
    assert_eq!(g.pad_top as u64, eg["pad_top"].as_u64().unwrap());
    assert!((g.scale_x as f64 - eg["scale_x"].as_f64().unwrap()).abs() < 1e-6);
    assert!((g.scale_y as f64 - eg["scale_y"].as_f64().unwrap()).abs() < 1e-6);

    // 3. Decoding Python's output gives Python's detections.
    let dets = det.decode(&outs, &g).unwrap();
    let expected = exp["detections"].as_array().unwrap();
    assert_eq!(dets.len(), expected.len(), "{fixture}: detection count");
    for (d, e) in dets.iter().zip(expected) {
        assert_eq!(
            d.class_id as u64,
            e["class_id"].as_u64().unwrap(),
            "{fixture}: class"
        );
        assert!(
            (d.score as f64 - e["score"].as_f64().unwrap()).abs() <= 1e-4,
            "{fixture}: score {} vs {}",
            d.score,
            e["score"]
        );
        for k in 0..4 {
            let eb = e["bbox"][k].as_f64().unwrap();
            assert!(
                (d.bbox[k] as f64 - eb).abs() <= 1e-2_f64.max(eb.abs() * 1e-3),
                "{fixture}: bbox {:?} vs {}",
                d.bbox,
                e["bbox"]
            );
        }
    }
    // 4. The full path (session + decode) agrees too.
    let mut full = vec![];
    det.infer(&tensor, &g, &mut full).unwrap();
    assert_eq!(full.len(), dets.len());
    for (a, b) in full.iter().zip(&dets) {
        assert_eq!(a.class_id, b.class_id);
        assert!((a.score - b.score).abs() <= 1e-4);
        assert!(
            a.bbox
                .iter()
                .zip(&b.bbox)
                .all(|(x, y)| (x - y).abs() <= 1e-2),
            "{a:?} vs {b:?}"
        );
    }
    (dets, full)
}

#[test]
fn fastestdet_grid_layout_matches_python_on_a_real_frame() {
    let n = conformance(
        "fastestdet_swr94",
        assets().join("FastestDet.onnx"),
        DetectFormat::Fastestdet,
    );
    assert!(n >= 3, "cars found in frame 94 of the drive");
}

#[test]
fn fastestdet_grid_layout_matches_python_with_nothing_found() {
    assert_eq!(
        conformance(
            "fastestdet",
            assets().join("FastestDet.onnx"),
            DetectFormat::Fastestdet
        ),
        0
    );
}

#[test]
fn yolov8_layout_matches_python() {
    let n = conformance(
        "yolov8_tiny",
        fixtures().join("yolov8_tiny.onnx"),
        DetectFormat::Yolov8,
    );
    assert!(n > 10, "NMS and thresholds exercised ({n} kept)");
}

#[test]
fn yolov8_transposed_layout_matches_python() {
    let n = conformance(
        "yolov8_tiny_t",
        fixtures().join("yolov8_tiny_t.onnx"),
        DetectFormat::Yolov8,
    );
    assert!(n > 10);
}

#[test]
fn yolov5_layout_matches_python() {
    let n = conformance(
        "yolov5_tiny",
        fixtures().join("yolov5_tiny.onnx"),
        DetectFormat::Yolov5,
    );
    assert!(n > 5, "objectness x class kept {n}");
}

#[test]
fn end_to_end_layout_matches_python_without_nms() {
    let n = conformance(
        "yolo_e2e_tiny",
        fixtures().join("yolo_e2e_tiny.onnx"),
        DetectFormat::YoloEnd2end,
    );
    assert!(
        n > 3 && n < 50,
        "some of the 50 rows pass the threshold ({n})"
    );
}

#[test]
fn yolox_raw_grid_layout_matches_python() {
    let n = conformance(
        "yolox_tiny",
        fixtures().join("yolox_tiny.onnx"),
        DetectFormat::Yolox,
    );
    assert!(
        n > 10,
        "grid decode, objectness and NMS exercised ({n} kept)"
    );
}

#[test]
fn yolox_decoded_in_graph_matches_python_and_the_raw_variant() {
    let decoded = conformance(
        "yolox_tiny_decoded",
        fixtures().join("yolox_tiny_decoded.onnx"),
        DetectFormat::Yolox,
    );
    // Same weights: decoding in perceptd and in the graph find the same boxes.
    let a = expected("yolox_tiny")["detections"].clone();
    let b = expected("yolox_tiny_decoded")["detections"].clone();
    assert_eq!(a.as_array().unwrap().len(), decoded);
    for (x, y) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
        assert_eq!(x["class_id"], y["class_id"]);
        for k in 0..4 {
            assert!((x["bbox"][k].as_f64().unwrap() - y["bbox"][k].as_f64().unwrap()).abs() < 1e-2);
        }
    }
}

#[test]
fn yolox_variant_is_found_out_at_load_and_can_be_set() {
    init_ort();
    for (file, grid) in [
        ("yolox_tiny.onnx", true),
        ("yolox_tiny_decoded.onnx", false),
    ] {
        let d =
            Detector::load(&spec("x", fixtures().join(file), DetectFormat::Yolox), None).unwrap();
        assert_eq!(d.decodes_grid(), grid, "{file}");
        assert_eq!(
            (d.input.resize, d.input.color, d.input.scale),
            (ResizeMode::LetterboxTopLeft, ColorOrder::Bgr, 1.0),
            "YOLOX's own preprocessing"
        );
        let mut s = spec("x", fixtures().join(file), DetectFormat::Yolox);
        s.decoded_in_graph = Some(!grid);
        assert_eq!(
            Detector::load(&s, None).unwrap().decodes_grid(),
            grid,
            "the setting wins"
        );
    }
    // An output that is not YOLOX says which shapes it found.
    let e = Detector::load(
        &spec(
            "x",
            fixtures().join("yolov8_tiny.onnx"),
            DetectFormat::Yolox,
        ),
        None,
    )
    .err()
    .expect("a yolov8 output is not yolox")
    .to_string();
    assert!(e.contains("[1, 7, 2100]") && e.contains("format"), "{e}");
}

#[test]
fn faster_rcnn_layout_matches_python_at_the_frames_own_size() {
    let n = conformance(
        "faster_rcnn_tiny",
        fixtures().join("faster_rcnn_tiny.onnx"),
        DetectFormat::FasterRcnn,
    );
    assert!(
        n >= 3,
        "torchvision's boxes, labels and scores read ({n} kept)"
    );
    let mut s = spec(
        "f",
        fixtures().join("faster_rcnn_tiny.onnx"),
        DetectFormat::FasterRcnn,
    );
    s.classes = Some(vec!["__background__".into(), "car".into()]);
    let d = Detector::load(&s, None).unwrap();
    assert!(
        d.input.native,
        "dynamic input, no size set: each frame as it is"
    );
    assert_eq!(d.max_batch, 1, "no batch axis");
}

#[test]
fn faster_rcnn_labels_index_the_class_list_in_a_pipeline() {
    init_ort();
    let dir = tempdir("frcnn");
    let yaml = format!(
        "name: frcnn\nruntime: {{metrics_addr: 'off'}}\n\
         sources: {{drive: {{type: file, path: {}}}}}\n\
         models: {{det: {{path: {}, format: faster_rcnn, threads: 1, score_threshold: 0.3, classes: [__background__, car, person]}}}}\n\
         stages: [{{type: detect, model: det}}]\n\
         sinks: [{{type: jsonl, path: {}/out.jsonl}}]\n",
        assets().join("solidWhiteRight.mp4").display(),
        fixtures().join("faster_rcnn_tiny.onnx").display(),
        dir.display()
    );
    let report = run_yaml(&yaml, &dir, Default::default());
    assert_eq!(report.frames, 221);
    let mut labels = std::collections::BTreeSet::new();
    for v in read_jsonl(&dir.join("out.jsonl")) {
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(960), Some(540))
        );
        for d in v["detections"].as_array().unwrap() {
            let b: Vec<f64> = d["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert!(
                b[0] < b[2] && b[1] < b[3] && b[2] <= 960.0 && b[3] <= 540.0,
                "{d}"
            );
            labels.insert(d["label"].as_str().unwrap().to_string());
        }
    }
    // Label 3 (truck in the model) is past the 3 names given: it is named by its number.
    assert!(labels.contains("car"), "{labels:?}");
    assert!(
        labels
            .iter()
            .all(|l| ["car", "person", "class3"].contains(&l.as_str())),
        "{labels:?}"
    );
}

#[test]
fn yolov8_metadata_gives_names_and_input_size() {
    init_ort();
    let det = Detector::load(
        &spec(
            "meta",
            fixtures().join("yolov8_tiny.onnx"),
            DetectFormat::Yolov8,
        ),
        None,
    )
    .unwrap();
    assert_eq!(
        det.labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        vec!["car", "person", "truck"]
    );
    assert_eq!((det.input.width, det.input.height), (320, 320));
    // Class names from the config override the metadata, and must fit the output.
    let mut s = spec(
        "meta",
        fixtures().join("yolov8_tiny.onnx"),
        DetectFormat::Yolov8,
    );
    s.classes = Some(vec!["a".into(), "b".into()]);
    let e = Detector::load(&s, None)
        .err()
        .expect("2 names for a 3-class output")
        .to_string();
    assert!(e.contains("[1, 7, 2100]"), "{e}");
}

/// The committed references are what ONNX Runtime in Python computes today: the script runs
/// Pixels of the mask and of a reference mask (COCO RLE over the frame) that are the object in
/// both, and in either.
fn overlap(m: &InstanceMask, rle: &Value) -> (u64, u64) {
    let counts = perceptd::frame::mask::rle_from_string(rle["counts"].as_str().unwrap()).unwrap();
    let (h, w) = (
        rle["size"][0].as_u64().unwrap() as u32,
        rle["size"][1].as_u64().unwrap() as u32,
    );
    let rle = perceptd::frame::mask::Rle::new(h, w, counts).unwrap();
    let both = rle.pixels().filter(|&(x, y)| m.contains(x, y)).count() as u64;
    (both, m.area() + rle.area() - both)
}

/// Ultralytics `-seg` layout: boxes as yolov8's, and each detection's mask against the
/// reference's (NumPy, `seg_masks` in make_reference.py: sigmoid of coefficients x prototypes,
/// bilinear from the prototypes to each source pixel centre through the letterbox, cropped to the
/// box, > 0.5; encoded by pycocotools). Target: at least 95 % of the masks at IoU >= 0.9 (two
/// masks empty in both count as equal); measured: 37 of 37 at IoU 1.0.
#[test]
fn yolov8_seg_layout_masks_match_python() {
    let s = spec(
        "yolov8_seg_tiny",
        fixtures().join("yolov8_seg_tiny.onnx"),
        DetectFormat::Yolov8,
    );
    let (dets, full) = conformance_dets("yolov8_seg_tiny", s);
    let exp = expected("yolov8_seg_tiny");
    let want = exp["detections"].as_array().unwrap();
    assert_eq!(dets.len(), 37);
    let mut ious = vec![];
    for (d, e) in dets.iter().zip(want) {
        let m = d
            .mask
            .as_ref()
            .expect("every detection of a -seg model has a mask");
        let (both, either) = overlap(m, &e["mask"]);
        ious.push(if either == 0 {
            1.0
        } else {
            both as f64 / either as f64
        });
        // The mask lies inside the detection's box.
        assert!(
            m.x as f32 >= d.bbox[0].floor() && (m.x + m.w) as f32 <= d.bbox[2].ceil(),
            "{m:?} vs {:?}",
            d.bbox
        );
    }
    // The session path (Rust's own ONNX Runtime run; boxes equal to 1e-2 px) gives masks that
    // differ from those of Python's outputs in a few edge pixels at most.
    for (a, b) in full.iter().zip(&dets) {
        let (a, b) = (a.mask.as_ref().unwrap(), b.mask.as_ref().unwrap());
        let differ = (a.y..a.y + a.h)
            .flat_map(|y| (a.x..a.x + a.w).map(move |x| (x, y)))
            .filter(|&(x, y)| a.contains(x, y) != b.contains(x, y))
            .count() as u64;
        assert!(
            differ * 100 <= a.area().max(100),
            "session-path mask differs in {differ} of {} pixels",
            a.area()
        );
    }
    let good = ious.iter().filter(|&&v| v >= 0.9).count();
    let mut sorted = ious.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "instance masks: {good}/{} at IoU >= 0.9, lowest IoUs {:?}",
        ious.len(),
        &sorted[..4]
    );
    assert!(
        good * 100 >= 95 * ious.len(),
        "{good}/{} masks at IoU >= 0.9: {ious:?}",
        ious.len()
    );
}

/// again into a temporary folder and every fixture must come out the same.
#[test]
fn python_reference_regenerates_the_committed_fixtures() {
    let python = std::env::var("PERCEPTD_TEST_PYTHON")
        .expect("PERCEPTD_TEST_PYTHON must name a Python with onnxruntime==1.31.1, numpy and pillow (the setup's venv)");
    let out = tempdir("python-reference");
    let o = std::process::Command::new(&python)
        .arg(fixtures().join("make_reference.py"))
        .env("PERCEPTD_ASSETS", assets())
        .env("PERCEPTD_FIXTURE_OUT", &out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make_reference.py failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Tolerances, not bytes: image decoding and float kernels may differ in the last bits
    // between library builds and CPUs.
    for name in [
        "fastestdet",
        "fastestdet_swr94",
        "yolov8_tiny",
        "yolov8_tiny_t",
        "yolov8_seg_tiny",
        "yolov5_tiny",
        "yolo_e2e_tiny",
        "yolox_tiny",
        "yolox_tiny_decoded",
        "faster_rcnn_tiny",
    ] {
        let input = |d: &std::path::Path| gunzip(&d.join(format!("{name}.input.u8.gz")));
        let (a, b) = (input(&out), input(&fixtures()));
        assert_eq!(a.len(), b.len(), "{name} input size");
        let max_in = a
            .iter()
            .zip(&b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0);
        assert!(max_in <= 1, "{name} input differs by {max_in} levels");
        for k in 0..output_shapes(&expected(name)).len() {
            let output = |d: &std::path::Path| f32s(&gunzip(&output_file(d, name, k)));
            let (a, b) = (output(&out), output(&fixtures()));
            assert_eq!(a.len(), b.len(), "{name} output {k} size");
            let max_out = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
                .fold(0f32, f32::max);
            assert!(max_out <= 1e-3, "{name} output {k} differs by {max_out}");
        }
        let read = |dir: &std::path::Path| -> Value {
            serde_json::from_slice(
                &std::fs::read(dir.join(format!("{name}.expected.json"))).unwrap(),
            )
            .unwrap()
        };
        let (a, b) = (read(&out), read(&fixtures()));
        let (da, db) = (
            a["detections"].as_array().unwrap(),
            b["detections"].as_array().unwrap(),
        );
        assert_eq!(da.len(), db.len(), "{name} detections");
        for (x, y) in da.iter().zip(db) {
            assert_eq!(x["class_id"], y["class_id"], "{name}");
            assert!(
                (x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs() <= 1e-4,
                "{name}: {x} vs {y}"
            );
            for k in 0..4 {
                assert!(
                    (x["bbox"][k].as_f64().unwrap() - y["bbox"][k].as_f64().unwrap()).abs() <= 1e-2,
                    "{name}: {x} vs {y}"
                );
            }
        }
    }
    // Segmentation fixtures: the same inputs and (nearly) the same class maps.
    for (name, heads) in [
        ("twinlitenet", &["da", "ll"][..]),
        ("twinlitenet_swr94", &["da", "ll"][..]),
        ("fcn_tiny", &["out"][..]),
        ("fcn_tiny_nearest", &["out"][..]),
        ("fcn_tiny_argmax", &["out"][..]),
        ("lraspp_tiny", &["out"][..]),
        ("lraspp_tiny_argmax", &["out"][..]),
    ] {
        let input = |d: &std::path::Path| gunzip(&d.join(format!("{name}.input.u8.gz")));
        let (a, b) = (input(&out), input(&fixtures()));
        assert_eq!(a.len(), b.len(), "{name} input size");
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= 1),
            "{name} input"
        );
        for h in heads {
            let map = |d: &std::path::Path| gunzip(&d.join(format!("{name}.{h}.map.u8.gz")));
            let (a, b) = (map(&out), map(&fixtures()));
            assert_eq!(a.len(), b.len(), "{name}.{h} map size");
            let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64;
            assert!(same >= 0.999, "{name}.{h}: {same} of the pixels agree");
        }
    }
}

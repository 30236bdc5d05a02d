//! `perceptd eval det` agrees with pycocotools' COCOeval (`tests/fixtures/coco_reference.py`,
//! which converts the same files to COCO on its own and runs COCOeval with iouType "bbox") to
//! 1e-3 on generated scenes: several hundred frames, 4 ground-truth classes, jittered boxes,
//! misses, false positives, duplicates, confused labels, crowd boxes, tied scores, a frame over
//! the 100-detection cut, empty frames, prediction frames without ground truth, a ground-truth
//! class never predicted (AP 0) and predicted classes without ground truth (no AP). Ground truth
//! as JSON Lines and as a COCO file (image ids out of frame order), an empty prediction file, and
//! two streams.

use crate::common::*;
use perceptd::eval::det::{DetReport, IouType, evaluate_paths, evaluate_paths_as};
use perceptd::frame::InstanceMask;
use perceptd::frame::mask::rle_to_string;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The largest difference allowed between perceptd and pycocotools.
const TOLERANCE: f64 = 1e-3;

/// Two decimals, as a detector's JSON would carry them.
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Ground-truth classes; `bus` is never predicted.
const GT_CLASSES: [&str; 4] = ["car", "person", "bicycle", "bus"];
/// Predicted labels without ground truth: `dog` is a COCO category without annotations,
/// `horse` is not a category at all.
const FP_ONLY: [&str; 2] = ["dog", "horse"];

struct Obj {
    label: &'static str,
    bbox: [f64; 4],
    crowd: bool,
    area: Option<f64>,
}

/// A predicted box: label, score, `[x1, y1, x2, y2]`.
type Det = (&'static str, f64, [f64; 4]);

struct Scene {
    /// `(frame, ground truth)`, frame numbers ascending with gaps.
    gt: Vec<(u64, Vec<Obj>)>,
    /// `(frame, detections (label, score, bbox))`.
    pred: Vec<(u64, Vec<Det>)>,
}

fn random_box(r: &mut Rng, min: f64, max: f64) -> [f64; 4] {
    let (w, h) = (r.range(min, max), r.range(min, max));
    let (x, y) = (r.range(0.0, 1280.0 - w), r.range(0.0, 720.0 - h));
    [r2(x), r2(y), r2(x + w), r2(y + h)]
}

fn generate(seed: u64, frames: usize) -> Scene {
    let mut r = Rng(seed);
    let mut scene = Scene {
        gt: vec![],
        pred: vec![],
    };
    for i in 0..frames {
        let frame = 2 * i as u64 + 5;
        let mut objs = vec![];
        let n = if r.chance(0.08) { 0 } else { r.below(9) };
        for _ in 0..n {
            let label = GT_CLASSES[[0, 0, 0, 1, 1, 2, 3][r.below(7) as usize]];
            let area = if r.chance(0.02) {
                Some(if r.chance(0.5) { 2e10 } else { 1234.5 })
            } else {
                None
            };
            objs.push(Obj {
                label,
                bbox: random_box(&mut r, 12.0, 220.0),
                crowd: false,
                area,
            });
        }
        if r.chance(0.06) {
            // A crowd region with a few labelled members inside: a detection of a member may
            // overlap the crowd box more than its own box (the crowd box must come last).
            let label = ["car", "person"][r.below(2) as usize];
            let c = random_box(&mut r, 200.0, 420.0);
            for _ in 0..r.below(3) {
                let (w, h) = (r.range(30.0, 90.0), r.range(30.0, 90.0));
                let (x, y) = (r.range(c[0], c[2] - w), r.range(c[1], c[3] - h));
                objs.push(Obj {
                    label,
                    bbox: [r2(x), r2(y), r2(x + w), r2(y + h)],
                    crowd: false,
                    area: None,
                });
            }
            objs.push(Obj {
                label,
                bbox: c,
                crowd: true,
                area: None,
            });
        }
        let mut dets = vec![];
        for o in &objs {
            let [x1, y1, x2, y2] = o.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            if o.crowd {
                // A few detections inside the crowd region.
                for _ in 0..1 + r.below(3) {
                    let (cx, cy) = (r.range(x1, x2 - 20.0), r.range(y1, y2 - 20.0));
                    let b = [r2(cx), r2(cy), r2(cx + 20.0), r2(cy + 20.0)];
                    dets.push((o.label, r2(r.unit()), b));
                }
                continue;
            }
            if o.label == "bus" || r.chance(0.15) {
                continue; // a miss
            }
            let q = r.range(0.0, 0.3);
            let j = |r: &mut Rng, s: f64| s * q * r.range(-1.0, 1.0);
            let b = [
                r2(x1 + j(&mut r, w)),
                r2(y1 + j(&mut r, h)),
                r2(x2 + j(&mut r, w)),
                r2(y2 + j(&mut r, h)),
            ];
            let b = [
                b[0].min(b[2]),
                b[1].min(b[3]),
                b[0].max(b[2]),
                b[1].max(b[3]),
            ];
            // Scores with 2 decimals: many ties, across images and within one.
            let score = (1.0 - 2.0 * q + r.range(-0.3, 0.3)).clamp(0.01, 1.0);
            let label = if r.chance(0.04) {
                GT_CLASSES[r.below(3) as usize]
            } else {
                o.label
            };
            dets.push((label, r2(score), b));
            if r.chance(0.1) {
                // A duplicate, a little worse.
                let d = |r: &mut Rng, s: f64| s * r.range(-0.1, 0.1);
                let b2 = [
                    r2(b[0] + d(&mut r, w)),
                    r2(b[1] + d(&mut r, h)),
                    r2(b[2] + d(&mut r, w).abs()),
                    r2(b[3] + d(&mut r, h).abs()),
                ];
                dets.push((label, r2(score * r.range(0.5, 1.0)), b2));
            }
        }
        for _ in 0..r.below(3) {
            let label = if r.chance(0.2) {
                FP_ONLY[r.below(2) as usize]
            } else {
                GT_CLASSES[r.below(3) as usize]
            };
            dets.push((
                label,
                r2(r.range(0.0, 0.7)),
                random_box(&mut r, 12.0, 220.0),
            ));
        }
        // Shuffle, so that file order is not score order.
        for k in (1..dets.len()).rev() {
            dets.swap(k, r.below(k as u32 + 1) as usize);
        }
        scene.gt.push((frame, objs));
        scene.pred.push((frame, dets));
    }
    // Over the cut: 120 car detections in one frame, the true ones among the lowest.
    let (f, objs) = &scene.gt[7];
    let mut many: Vec<_> = (0..120)
        .map(|_| {
            (
                "car",
                r2(r.range(0.3, 1.0)),
                random_box(&mut r, 12.0, 100.0),
            )
        })
        .collect();
    many.extend(
        objs.iter()
            .filter(|o| o.label == "car" && !o.crowd)
            .map(|o| ("car", 0.25, o.bbox)),
    );
    scene.pred[7] = (*f, many);
    // Prediction frames without ground truth (odd numbers are not in it).
    for k in 0..5u64 {
        scene.pred.push((
            1001 + 2 * k,
            vec![("car", 0.9, random_box(&mut r, 12.0, 220.0))],
        ));
    }
    scene
}

fn objects_json(objs: &[Obj]) -> Vec<Value> {
    objs.iter()
        .enumerate()
        .map(|(k, o)| {
            let mut v = json!({"label": o.label, "bbox": o.bbox, "id": k});
            if o.crowd {
                v["iscrowd"] = true.into();
            } else if k % 5 == 0 {
                v["iscrowd"] = false.into();
            }
            if let Some(a) = o.area {
                v["area"] = a.into();
            }
            v
        })
        .collect()
}

/// Ground truth as JSON Lines; `stream` on every line when given.
fn gt_jsonl(s: &Scene, stream: Option<&str>, out: &mut String) {
    for (frame, objs) in &s.gt {
        let mut v =
            json!({"frame": frame, "width": 1280, "height": 720, "objects": objects_json(objs)});
        if let Some(st) = stream {
            v["stream"] = st.into();
        }
        writeln!(out, "{v}").unwrap();
    }
}

/// Ground truth as a COCO file: image ids out of frame order, sparse category ids, `dog` a
/// category without annotations.
fn gt_coco(s: &Scene) -> String {
    let cats = [
        ("person", 1),
        ("bicycle", 2),
        ("car", 3),
        ("bus", 6),
        ("dog", 18),
    ];
    let cat_id = |l: &str| cats.iter().find(|c| c.0 == l).unwrap().1;
    let (mut images, mut anns) = (vec![], vec![]);
    for (i, (frame, objs)) in s.gt.iter().enumerate() {
        let id = (i * 7919) % 1000 + 1;
        images.push(json!({"id": id, "file_name": format!("drive/frame_{frame:06}.jpg"), "width": 1280, "height": 720}));
        for o in objs {
            let [x1, y1, x2, y2] = o.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            anns.push(json!({
                "id": anns.len() + 1,
                "image_id": id,
                "category_id": cat_id(o.label),
                "bbox": [x1, y1, w, h],
                "area": o.area.unwrap_or(w * h),
                "iscrowd": u8::from(o.crowd),
            }));
        }
    }
    let categories: Vec<Value> = cats
        .iter()
        .map(|(n, id)| json!({"id": id, "name": n, "supercategory": "thing"}))
        .collect();
    json!({"info": {}, "images": images, "annotations": anns, "categories": categories}).to_string()
}

/// Predictions as perceptd writes them.
fn pred_jsonl(s: &Scene, stream: &str, out: &mut String) {
    for (frame, dets) in &s.pred {
        let dets: Vec<Value> = dets
            .iter()
            .map(|(l, score, b)| json!({"class_id": 0, "label": l, "score": score, "bbox": b, "track_id": null}))
            .collect();
        let v = json!({"pipeline": "p", "stream": stream, "frame": frame, "pts_ns": frame * 33_333_333, "width": 1280, "height": 720, "detections": dets});
        writeln!(out, "{v}").unwrap();
    }
}

/// COCOeval's results for the two files. A missing Python or pycocotools fails the test: the
/// agreement is the point.
fn reference(gt: &Path, pred: &Path, iou_type: IouType) -> Value {
    let python = std::env::var("PERCEPTD_TEST_PYTHON").expect(
        "PERCEPTD_TEST_PYTHON must name a Python with pycocotools==2.0.11 (the setup's venv: bash deploy/setup.sh install-deps)",
    );
    let o = std::process::Command::new(&python)
        .arg(fixtures().join("coco_reference.py"))
        .arg(gt)
        .arg(pred)
        .arg(iou_type.name())
        .output()
        .unwrap_or_else(|e| panic!("cannot run PERCEPTD_TEST_PYTHON={python}: {e}"));
    assert!(
        o.status.success(),
        "coco_reference.py failed with {python} (is pycocotools installed? bash deploy/setup.sh install-deps):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "coco_reference.py: output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// pycocotools' -1 is "undefined": None.
fn defined(v: &Value) -> Option<f64> {
    v.as_f64().filter(|&x| x > -1.0)
}

fn agree(what: &str, ours: Option<f64>, theirs: Option<f64>, worst: &mut f64) {
    match (ours, theirs) {
        (Some(a), Some(b)) => {
            let d = (a - b).abs();
            *worst = worst.max(d);
            assert!(d <= TOLERANCE, "{what}: perceptd {a}, pycocotools {b}");
        }
        (None, None) => {}
        (a, b) => panic!("{what}: perceptd {a:?}, pycocotools {b:?}"),
    }
}

/// Evaluates with perceptd and pycocotools, compares every number; the largest difference.
fn compare(case: &str, gt: &Path, pred: &Path) -> (DetReport, f64) {
    compare_as(case, gt, pred, IouType::Bbox)
}

fn compare_as(case: &str, gt: &Path, pred: &Path, iou_type: IouType) -> (DetReport, f64) {
    let ours = evaluate_paths_as(gt, pred, iou_type).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(ours.iou_type, iou_type);
    let theirs = reference(gt, pred, iou_type);
    let mut worst = 0f64;
    let stats = &theirs["stats"];
    agree(
        &format!("{case} mAP"),
        ours.map,
        defined(&stats[0]),
        &mut worst,
    );
    agree(
        &format!("{case} mAP50"),
        ours.map50,
        defined(&stats[1]),
        &mut worst,
    );
    agree(
        &format!("{case} mAP75"),
        ours.map75,
        defined(&stats[2]),
        &mut worst,
    );
    agree(
        &format!("{case} AR100"),
        ours.ar100,
        defined(&stats[8]),
        &mut worst,
    );
    assert_eq!(
        ours.images as u64,
        theirs["images"].as_u64().unwrap(),
        "{case} images"
    );
    let classes = theirs["classes"].as_object().unwrap();
    for c in &ours.classes {
        let what = format!("{case} class {}", c.name);
        let Some(t) = classes.get(&c.name) else {
            // Not a category pycocotools knows: a predicted label without ground truth.
            assert_eq!((c.ap, c.gt), (None, 0), "{what}");
            continue;
        };
        agree(&format!("{what} AP"), c.ap, t["ap"].as_f64(), &mut worst);
        agree(
            &format!("{what} AP50"),
            c.ap50,
            t["ap50"].as_f64(),
            &mut worst,
        );
        agree(
            &format!("{what} AP75"),
            c.ap75,
            t["ap75"].as_f64(),
            &mut worst,
        );
        agree(
            &format!("{what} AR100"),
            c.ar100,
            t["ar100"].as_f64(),
            &mut worst,
        );
        assert_eq!(c.gt as u64, t["gt"].as_u64().unwrap(), "{what} gt");
        match (&c.pr50, t["pr50"].as_array()) {
            (Some(a), Some(b)) => {
                assert_eq!(a.len(), b.len(), "{what} pr50");
                for (k, (x, y)) in a.iter().zip(b).enumerate() {
                    agree(
                        &format!("{what} pr50[{k}]"),
                        Some(*x),
                        y.as_f64(),
                        &mut worst,
                    );
                }
            }
            (None, None) => {}
            (a, b) => panic!("{what} pr50: perceptd {a:?}, pycocotools {b:?}"),
        }
    }
    for name in classes.keys() {
        assert!(
            ours.classes.iter().any(|c| &c.name == name),
            "{case}: pycocotools category {name} missing in perceptd's report"
        );
    }
    eprintln!("{case}: max |perceptd - pycocotools| = {worst:.3e}");
    (ours, worst)
}

fn class<'r>(r: &'r DetReport, name: &str) -> &'r perceptd::eval::det::ClassResult {
    r.classes
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("class {name} in {:?}", r.classes))
}

#[test]
fn eval_det_agrees_with_pycocotools() {
    let dir = tempdir("eval-det");
    let scene = generate(7, 400);
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut text = String::new();
    gt_jsonl(&scene, None, &mut text);
    let gt = write("gt.jsonl", &text);
    let coco = write("instances_drive.json", &gt_coco(&scene));
    text.clear();
    pred_jsonl(&scene, "drive", &mut text);
    let pred = write("pred.jsonl", &text);

    // JSON Lines ground truth.
    let (r, _) = compare("jsonl", &gt, &pred);
    let map = r.map.unwrap();
    assert!((0.2..0.9).contains(&map), "a scene with errors: mAP {map}");
    assert!(r.map50.unwrap() > r.map75.unwrap());
    assert_eq!(r.images, 400);
    assert_eq!((r.ignored_prediction_frames, r.ignored_predictions), (5, 5));
    let bus = class(&r, "bus");
    assert!(
        bus.gt > 20 && bus.detections == 0 && bus.ap == Some(0.0),
        "{bus:?}"
    );
    for l in FP_ONLY {
        let c = class(&r, l);
        assert!(
            c.detections > 0 && c.ap.is_none() && c.pr50.is_none(),
            "{c:?}"
        );
    }
    assert!(class(&r, "car").ignored_gt > 0 && class(&r, "person").ignored_gt > 0);
    let j = r.to_json();
    assert_eq!(j["classes"]["car"]["pr50"].as_array().unwrap().len(), 101);
    assert!(j["classes"]["dog"]["ap"].is_null());
    let t = r.table();
    assert!(t.contains("bicycle") && t.contains("AP50"), "{t}");

    // COCO ground truth: image ids out of frame order, `dog` a category without boxes.
    let (rc, _) = compare("coco", &coco, &pred);
    assert_eq!(class(&rc, "dog").ap, None);
    assert!(
        (rc.map.unwrap() - map).abs() < 0.01,
        "same boxes, maybe ranked apart on ties"
    );

    // No predictions at all (pycocotools' loadRes cannot take an empty list; the reference
    // builds the results by hand): every class with ground truth has AP 0.
    let empty = write("empty.jsonl", "");
    let (re, _) = compare("empty-pred", &gt, &empty);
    assert_eq!((re.map, re.map50), (Some(0.0), Some(0.0)));

    // Two streams with the same frame numbers: paired by (stream, frame).
    let other = generate(8, 150);
    let mut gt2 = String::new();
    gt_jsonl(&scene, Some("front"), &mut gt2);
    gt_jsonl(&other, Some("rear"), &mut gt2);
    let mut pred2 = String::new();
    pred_jsonl(&other, "rear", &mut pred2);
    pred_jsonl(&scene, "front", &mut pred2);
    let (rs, _) = compare(
        "two-streams",
        &write("gt2.jsonl", &gt2),
        &write("pred2.jsonl", &pred2),
    );
    assert_eq!((rs.images, rs.ignored_prediction_frames), (550, 10));
}

#[test]
fn eval_det_bad_input_names_the_file_and_line() {
    let dir = tempdir("eval-det-errors");
    let gt = dir.join("gt.jsonl");
    std::fs::write(
        &gt,
        "{\"frame\":0,\"objects\":[{\"label\":\"car\",\"bbox\":[0,0,10,10]}]}\n",
    )
    .unwrap();
    let pred = dir.join("pred.jsonl");
    std::fs::write(
        &pred,
        "{\"stream\":\"s\",\"frame\":0,\"detections\":[]}\n\n{\"stream\":\"s\",\"frame\":1,\"detections\":[{\"label\":\"car\",\"score\":0.5,\"bbox\":[0,0,10]}]}\n",
    )
    .unwrap();
    let e = evaluate_paths(&gt, &pred).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{} line 3: detections[0].bbox: invalid length 3, expected an array of length 4",
            pred.display()
        )
    );
    std::fs::write(
        &pred,
        "{\"frame\":0,\"detections\":[]}\n{\"frame\":1,\"detections\":[]\n",
    )
    .unwrap();
    let e = evaluate_paths(&gt, &pred).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{} line 2: ", pred.display())),
        "{e}"
    );

    let missing = dir.join("nothing.json");
    let e = evaluate_paths(&missing, &pred).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read", missing.display())),
        "{e}"
    );

    let coco = dir.join("instances.json");
    std::fs::write(
        &coco,
        r#"{"images": [{"id": 1, "file_name": "cam/frame_000042.jpg"}, {"id": 2, "file_name": "other/42.png"}],
            "annotations": [], "categories": [{"id": 1, "name": "car"}]}"#,
    )
    .unwrap();
    std::fs::write(&pred, "{\"frame\":42,\"detections\":[]}\n").unwrap();
    let e = evaluate_paths(&coco, &pred).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: images 1 (cam/frame_000042.jpg) and 2 (other/42.png) both map to frame 42 (the last number in file_name, else the index by id); rename one or give each frame one image",
            coco.display()
        )
    );
}

// ---------------------------------------------------------------------------------- instance masks

/// Frame size of the mask scenes (small: every mask is a whole-frame RLE).
const MW: u32 = 96;
const MH: u32 = 64;

/// An ellipse inscribed in `[x1, y1, x2, y2]` (whole pixels), as a mask.
fn ellipse(b: [u32; 4]) -> InstanceMask {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let (rx, ry) = (w as f64 / 2.0, h as f64 / 2.0);
    let bits = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (dx, dy) = ((x as f64 + 0.5 - rx) / rx, (y as f64 + 0.5 - ry) / ry);
            u8::from(dx * dx + dy * dy <= 1.0)
        })
        .collect();
    InstanceMask {
        x: b[0],
        y: b[1],
        w,
        h,
        bits,
    }
}

fn mask_box(r: &mut Rng) -> [u32; 4] {
    let (w, h) = (4 + r.below(40), 4 + r.below(30));
    let (x, y) = (r.below(MW - w), r.below(MH - h));
    [x, y, x + w, y + h]
}

/// Moves and resizes a box by a few pixels, kept in the frame and at least 2 px wide.
fn jitter(r: &mut Rng, b: [u32; 4]) -> [u32; 4] {
    let mut j = |v: u32, max: u32| (v as i64 + r.below(7) as i64 - 3).clamp(0, max as i64) as u32;
    let (x1, y1) = (j(b[0], MW - 2), j(b[1], MH - 2));
    let (x2, y2) = (j(b[2], MW).max(x1 + 2), j(b[3], MH).max(y1 + 2));
    [x1, y1, x2, y2]
}

/// `{"size": [h, w], "counts": ...}`: compressed, or COCO's uncompressed list of runs.
fn rle_json(m: &InstanceMask, compressed: bool) -> Value {
    let mut runs = vec![];
    m.rle_counts(MW, MH, &mut runs);
    if compressed {
        json!({"size": [MH, MW], "counts": rle_to_string(&runs)})
    } else {
        json!({"size": [MH, MW], "counts": runs})
    }
}

/// Ground truth (JSON Lines and COCO) and predictions with instance masks: ellipses, detections
/// that move and resize them by a few pixels (so mask IoU spreads over the thresholds), label
/// confusions, duplicates, false positives, empty masks, crowd regions (uncompressed RLE).
fn mask_scene(seed: u64, frames: usize) -> (String, String, String) {
    let classes = ["car", "person", "bus"];
    let mut r = Rng(seed);
    let (mut gt, mut pred) = (String::new(), String::new());
    let (mut images, mut anns) = (vec![], vec![]);
    for i in 0..frames {
        let frame = 3 * i as u64 + 1;
        let (mut objects, mut dets) = (vec![], vec![]);
        let image_id = (i * 389) % 997 + 1;
        images.push(json!({"id": image_id, "file_name": format!("f_{frame:05}.png"), "width": MW, "height": MH}));
        for _ in 0..r.below(6) {
            let label = classes[r.below(3) as usize];
            let b = mask_box(&mut r);
            let crowd = r.chance(0.08);
            let m = if crowd {
                InstanceMask {
                    x: b[0],
                    y: b[1],
                    w: b[2] - b[0],
                    h: b[3] - b[1],
                    bits: vec![1; ((b[2] - b[0]) * (b[3] - b[1])) as usize],
                }
            } else {
                ellipse(b)
            };
            let bbox = b.map(f64::from);
            let mut o = json!({"label": label, "bbox": bbox, "mask": rle_json(&m, !crowd)});
            if crowd {
                o["iscrowd"] = true.into();
            }
            objects.push(o);
            anns.push(json!({
                "id": anns.len() + 1,
                "image_id": image_id,
                "category_id": 1 + classes.iter().position(|c| *c == label).unwrap(),
                "bbox": [bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1]],
                "area": m.area(),
                "iscrowd": u8::from(crowd),
                "segmentation": rle_json(&m, !crowd),
            }));
            if crowd || !r.chance(0.85) {
                continue;
            }
            let copies = if r.chance(0.1) { 2 } else { 1 };
            for _ in 0..copies {
                let l = if r.chance(0.9) {
                    label
                } else {
                    classes[r.below(3) as usize]
                };
                let d = jitter(&mut r, b);
                dets.push((l, r2(r.unit()), d, ellipse(d)));
            }
        }
        for _ in 0..r.below(3) {
            let b = mask_box(&mut r);
            let mut m = ellipse(b);
            if r.chance(0.1) {
                m.bits.fill(0);
            }
            dets.push((classes[r.below(3) as usize], r2(r.unit() * 0.7), b, m));
        }
        writeln!(
            gt,
            "{}",
            json!({"frame": frame, "width": MW, "height": MH, "objects": objects})
        )
        .unwrap();
        let dets: Vec<Value> = dets
            .iter()
            .map(|(l, s, b, m)| {
                json!({"label": l, "score": s, "bbox": b.map(f64::from), "track_id": null, "mask": rle_json(m, true)})
            })
            .collect();
        writeln!(
            pred,
            "{}",
            json!({"stream": "cam", "frame": frame, "width": MW, "height": MH, "detections": dets})
        )
        .unwrap();
    }
    let cats: Vec<Value> = classes
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": i + 1, "name": n}))
        .collect();
    let coco = json!({"images": images, "annotations": anns, "categories": cats}).to_string();
    (gt, coco, pred)
}

/// `eval det --iou-type segm` against pycocotools' COCOeval(iouType="segm") on the same files:
/// ground truth as JSON Lines and as COCO, to 1e-3 (measured: 3e-16).
#[test]
fn eval_det_segm_agrees_with_pycocotools() {
    let dir = tempdir("eval-segm");
    let (gt, coco, pred) = mask_scene(11, 300);
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (gt, coco, pred) = (
        write("gt.jsonl", &gt),
        write("gt.coco.json", &coco),
        write("pred.jsonl", &pred),
    );
    let (jsonl, _) = compare_as("segm, JSONL ground truth", &gt, &pred, IouType::Segm);
    let (from_coco, _) = compare_as("segm, COCO ground truth", &coco, &pred, IouType::Segm);
    let (m, m50) = (jsonl.map.unwrap(), jsonl.map50.unwrap());
    assert!(m > 0.1 && m < 0.9 && m50 > m, "mask mAP {m}, mAP50 {m50}");
    // The same objects; only the image order (COCO ids are out of frame order), which ranks
    // tied scores, differs.
    assert!((from_coco.map.unwrap() - m).abs() < 0.01);
    // The text names what was scored.
    assert!(
        jsonl.table().contains("instance masks"),
        "{}",
        jsonl.table()
    );
}

/// Files without masks, polygons and mismatched sizes are refused with the file, the frame and
/// the fix.
#[test]
fn eval_det_segm_names_what_lacks_a_mask() {
    let dir = tempdir("eval-segm-bad");
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mask = |h: u32, w: u32| json!({"size": [h, w], "counts": [h * w]});
    let gt = write(
        "gt.jsonl",
        &json!({"frame": 4, "objects": [{"label": "car", "bbox": [0, 0, 4, 4], "mask": mask(8, 8)}]})
            .to_string(),
    );
    let boxes_only = write(
        "boxes.jsonl",
        &json!({"frame": 4, "detections": [{"label": "car", "score": 0.9, "bbox": [0, 0, 4, 4]}]})
            .to_string(),
    );
    let e = evaluate_paths_as(&gt, &boxes_only, IouType::Segm)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("boxes.jsonl")
            && e.contains("frame 4")
            && e.contains("detection 0 (car)")
            && e.contains("mask head"),
        "{e}"
    );
    let other_size = write(
        "size.jsonl",
        &json!({"frame": 4, "detections": [{"label": "car", "score": 0.9, "bbox": [0, 0, 4, 4], "mask": mask(8, 9)}]})
            .to_string(),
    );
    let e = evaluate_paths_as(&gt, &other_size, IouType::Segm)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[8, 9]") && e.contains("[8, 8]"), "{e}");
    let polygons = write(
        "poly.json",
        &json!({"images": [{"id": 1, "file_name": "f_4.png"}], "categories": [{"id": 1, "name": "car"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "segmentation": [[0, 0, 4, 0, 4, 4]]}]})
            .to_string(),
    );
    let e = evaluate_paths_as(&polygons, &other_size, IouType::Segm)
        .unwrap_err()
        .to_string();
    assert!(e.contains("poly.json") && e.contains("annToRLE"), "{e}");
    let bad_runs = write(
        "runs.jsonl",
        &json!({"frame": 4, "detections": [{"label": "car", "score": 0.9, "bbox": [0, 0, 4, 4], "mask": mask(8, 8).as_object().map(|m| { let mut m = m.clone(); m["counts"] = json!([3, 2]); m }).unwrap()}]})
            .to_string(),
    );
    let e = evaluate_paths_as(&gt, &bad_runs, IouType::Segm)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("runs.jsonl line 1") && e.contains("5 pixels"),
        "{e}"
    );
    // Box evaluation of the same files is fine.
    assert!(evaluate_paths_as(&gt, &boxes_only, IouType::Bbox).is_ok());
}

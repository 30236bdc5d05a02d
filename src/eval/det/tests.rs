use super::read::frame_from_file_name;
use super::*;
use std::path::PathBuf;

fn gt_obj(label: &str, corners: [f64; 4], iscrowd: bool) -> GtObject {
    GtObject {
        label: label.into(),
        xywh: xywh_from_corners(corners),
        iscrowd,
        area: None,
        mask: None,
        polygon: false,
    }
}

fn det(label: &str, score: f64, corners: [f64; 4]) -> PredDetection {
    PredDetection {
        label: label.into(),
        score,
        xywh: xywh_from_corners(corners),
        mask: None,
    }
}

fn gt_frame(frame: u64, objects: Vec<GtObject>) -> GtFrame {
    GtFrame {
        key: FrameKey::frame(frame),
        objects,
    }
}

fn pred_frame(frame: u64, detections: Vec<PredDetection>) -> PredFrame {
    PredFrame {
        key: FrameKey::frame(frame),
        detections,
    }
}

fn class<'r>(r: &'r DetReport, name: &str) -> &'r ClassResult {
    r.classes.iter().find(|c| c.name == name).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

#[test]
fn thresholds_are_numpy_linspace() {
    let t = iou_thresholds();
    assert_eq!((t[0], t[5], t[9]), (0.5, 0.75, 0.95));
    let r = recall_points();
    assert_eq!((r[0], r[1], r[100]), (0.0, 0.01, 1.0));
}

/// One box found with IoU 0.8 (100x80 inside 100x100): a true positive at the thresholds
/// 0.50..0.80, nothing above.
#[test]
fn one_detection_counts_at_the_thresholds_its_iou_reaches() {
    let gt = [gt_frame(
        0,
        vec![gt_obj("car", [0.0, 0.0, 100.0, 100.0], false)],
    )];
    let pred = [pred_frame(
        0,
        vec![det("car", 0.9, [0.0, 0.0, 100.0, 80.0])],
    )];
    let r = evaluate(&gt, &pred);
    let c = class(&r, "car");
    // IoU 0.8: thresholds 0.50, 0.55, ..., 0.80 (7 of 10); 0.8 >= iouThrs[6] (0.8).
    assert!(close(c.ap, 0.7), "{c:?}");
    assert!(close(c.ap50, 1.0) && close(c.ap75, 1.0));
    assert!(close(c.ar100, 0.7));
    assert_eq!((c.gt, c.detections), (1, 1));
    assert_eq!(r.map, c.ap);
    assert_eq!(c.pr50.as_ref().unwrap().len(), RECALL_POINTS);
}

#[test]
fn a_duplicate_is_a_false_positive_after_the_match() {
    let gt = [
        gt_frame(0, vec![gt_obj("car", [0.0, 0.0, 100.0, 100.0], false)]),
        gt_frame(1, vec![gt_obj("car", [0.0, 0.0, 100.0, 100.0], false)]),
    ];
    let pred = [
        pred_frame(
            0,
            vec![
                det("car", 0.5, [0.0, 0.0, 100.0, 100.0]),
                det("car", 0.9, [0.0, 0.0, 100.0, 95.0]),
            ],
        ),
        pred_frame(1, vec![]),
    ];
    let r = evaluate(&gt, &pred);
    let c = class(&r, "car");
    // Ranked: 0.9 (TP), 0.5 (FP: its box is taken). Recall 0.5 at most, precision 1 up to it
    // (1 / (1 + eps) as pycocotools divides).
    let pr = c.pr50.as_ref().unwrap();
    let one = 1.0 / (1.0 + f64::EPSILON);
    assert!(
        pr[..=50].iter().all(|&p| p == one) && pr[51..].iter().all(|&p| p == 0.0),
        "{pr:?}"
    );
    assert!(close(c.ap50, 51.0 / 101.0));
    assert!(close(c.ar100, 0.5));
}

#[test]
fn crowd_boxes_are_ignored_and_taken_last() {
    let gt = [gt_frame(
        0,
        vec![
            gt_obj("person", [0.0, 0.0, 400.0, 400.0], true),
            gt_obj("person", [0.0, 0.0, 100.0, 100.0], false),
        ],
    )];
    // IoU with the regular box 0.62 (100x62 inside it); with the crowd box (over the
    // detection's area) 1. The crowd box comes last: the detection takes the regular box at
    // 0.50..0.60, the crowd box (ignored) above. Three detections inside the crowd box only
    // are ignored: no false positives.
    let pred = [pred_frame(
        0,
        vec![
            det("person", 0.9, [0.0, 0.0, 100.0, 62.0]),
            det("person", 0.8, [200.0, 200.0, 260.0, 260.0]),
            det("person", 0.7, [210.0, 200.0, 270.0, 260.0]),
            det("person", 0.6, [300.0, 300.0, 320.0, 330.0]),
        ],
    )];
    let r = evaluate(&gt, &pred);
    let c = class(&r, "person");
    assert_eq!((c.gt, c.ignored_gt, c.detections), (1, 1, 4));
    assert!(close(c.ap, 0.3), "{c:?}");
    assert!(close(c.ap50, 1.0));
    assert_eq!(
        frame_errors(&gt, &pred, 0.0),
        vec![(FrameKey::frame(0), 0, 0)]
    );
    // Only a crowd box: no ground truth that counts, so no AP, and no mAP at all.
    let gt = [gt_frame(
        0,
        vec![gt_obj("person", [0.0, 0.0, 400.0, 400.0], true)],
    )];
    let r = evaluate(&gt, &pred);
    assert_eq!((class(&r, "person").ap, r.map, r.map50), (None, None, None));
}

#[test]
fn classes_without_ground_truth_have_no_ap_and_missed_classes_have_zero() {
    let gt = [gt_frame(
        0,
        vec![gt_obj("bus", [0.0, 0.0, 50.0, 50.0], false)],
    )];
    let pred = [
        pred_frame(0, vec![det("dog", 0.9, [0.0, 0.0, 50.0, 50.0])]),
        pred_frame(7, vec![det("cat", 0.9, [0.0, 0.0, 50.0, 50.0])]),
    ];
    let r = evaluate_classes(&gt, &pred, &["zebra".into()]);
    let names: Vec<&str> = r.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["bus", "dog", "zebra"],
        "cat's only frame is not evaluated"
    );
    assert!(close(class(&r, "bus").ap, 0.0));
    assert_eq!(class(&r, "dog").ap, None);
    assert!(close(r.map, 0.0) && close(r.map50, 0.0));
    assert_eq!(
        (r.images, r.ignored_prediction_frames, r.ignored_predictions),
        (1, 1, 1)
    );
    let j = r.to_json();
    assert!(j["classes"]["dog"]["ap"].is_null() && j["classes"]["dog"]["pr50"].is_null());
    assert_eq!(j["classes"]["bus"]["gt"], 1);
    assert_eq!(j["ignored_prediction_frames"], 1);
    let t = r.table();
    assert!(
        t.contains("bus") && t.contains("all") && t.contains("left out"),
        "{t}"
    );
    assert_eq!(
        frame_errors(&gt, &pred, 0.0),
        vec![(FrameKey::frame(0), 1, 1)]
    );
}

#[test]
fn only_the_best_100_detections_per_image_and_class_count() {
    let gt = [gt_frame(
        0,
        vec![gt_obj("car", [0.0, 0.0, 10.0, 10.0], false)],
    )];
    let mut dets: Vec<PredDetection> = (0..100)
        .map(|k| det("car", 0.5, [100.0 + k as f64, 0.0, 110.0 + k as f64, 10.0]))
        .collect();
    dets.push(det("car", 0.4, [0.0, 0.0, 10.0, 10.0]));
    let r = evaluate(&gt, &[pred_frame(0, dets.clone())]);
    assert!(close(class(&r, "car").ap, 0.0), "the match is the 101st");
    assert_eq!(class(&r, "car").detections, 101);
    // frame_errors counts every detection at or above the score floor.
    let pred = [pred_frame(0, dets)];
    assert_eq!(
        frame_errors(&gt, &pred, 0.0)[0],
        (FrameKey::frame(0), 100, 0)
    );
    assert_eq!(
        frame_errors(&gt, &pred, 0.45)[0],
        (FrameKey::frame(0), 100, 1)
    );
}

#[test]
fn frame_numbers_come_from_the_last_digits_of_the_file_name() {
    let f = |s: &str| frame_from_file_name(s).map(Result::unwrap);
    assert_eq!(f("seq/frame_000123.jpg"), Some(123));
    assert_eq!(f("cam2_0042.v1.png"), Some(1));
    assert_eq!(f("img12x.png"), Some(12));
    assert_eq!(f("dir7/abc.jpg"), None);
    assert!(
        frame_from_file_name("f99999999999999999999999.jpg")
            .unwrap()
            .is_err()
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("perceptd-det-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn frames_pair_by_stream_only_when_there_are_several() {
    let d = scratch("streams");
    let gt = write(
        &d,
        "gt.jsonl",
        "{\"frame\":1,\"stream\":\"cam\",\"objects\":[{\"label\":\"car\",\"bbox\":[0,0,10,10]}]}\n\n\
         {\"frame\":2,\"objects\":[],\"width\":640,\"extra\":[1]}\n",
    );
    // One stream each, named differently: paired by frame.
    let pred = write(
        &d,
        "p.jsonl",
        "{\"pipeline\":\"x\",\"stream\":\"drive\",\"frame\":1,\"detections\":[{\"class_id\":0,\"label\":\"car\",\"score\":0.5,\"bbox\":[0,0,10,10],\"track_id\":null}]}\n",
    );
    let l = load_paths(&gt, &pred).unwrap();
    assert_eq!(l.gt[0].key, FrameKey::frame(1));
    assert!(close(evaluate_paths(&gt, &pred).unwrap().map, 1.0));
    // Two prediction streams: every line needs a stream, in both files.
    let pred2 = write(
        &d,
        "p2.jsonl",
        "{\"stream\":\"a\",\"frame\":1,\"detections\":[]}\n{\"stream\":\"b\",\"frame\":1,\"detections\":[]}\n",
    );
    let e = load_paths(&gt, &pred2).unwrap_err().to_string();
    assert!(
        e.contains("gt.jsonl line 3: no `stream`") && e.contains("a, b, cam"),
        "{e}"
    );
    let gt2 = write(
        &d,
        "gt2.jsonl",
        "{\"stream\":\"a\",\"frame\":1,\"objects\":[]}\n{\"stream\":\"b\",\"frame\":1,\"objects\":[]}\n",
    );
    let l = load_paths(&gt2, &pred2).unwrap();
    assert_eq!(l.gt[1].key.stream.as_deref(), Some("b"));
    // The same key twice names both lines.
    let dup = write(
        &d,
        "dup.jsonl",
        "{\"frame\":4,\"objects\":[]}\n{\"frame\":4,\"objects\":[]}\n",
    );
    let e = load_paths(&dup, &pred).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "dup.jsonl line 2: frame 4 appears twice (lines 1 and 2); write each frame once"
        ),
        "{e}"
    );
}

#[test]
fn bad_lines_name_the_file_line_and_field() {
    let d = scratch("bad");
    let gt = write(&d, "gt.jsonl", "{\"frame\":1,\"objects\":[]}\n");
    let pred = write(
        &d,
        "p.jsonl",
        "{\"frame\":1,\"detections\":[]}\n{\"frame\":2,\"detections\":[{\"label\":\"car\",\"bbox\":[0,0,1,1]}]}\n",
    );
    let e = load_paths(&gt, &pred).unwrap_err().to_string();
    assert!(
        e.ends_with("p.jsonl line 2: detections[0]: missing field `score`"),
        "{e}"
    );
    let pred = write(
        &d,
        "p.jsonl",
        "{\"frame\":1,\"detections\":[{\"label\":\"car\",\"score\":1,\"bbox\":[5,0,1,1]}]}\n",
    );
    let e = load_paths(&gt, &pred).unwrap_err().to_string();
    assert!(
        e.contains("line 1: detections[0]: bbox [5.0, 0.0, 1.0, 1.0] is not [x1, y1, x2, y2]"),
        "{e}"
    );
    let gt = write(
        &d,
        "gt.jsonl",
        "{\"frame\":1,\"objects\":[{\"label\":\"a\",\"bbox\":[0,0,1,1],\"iscrowd\":2}]}\n",
    );
    let e = load_paths(&gt, &pred).unwrap_err().to_string();
    assert!(e.contains("gt.jsonl line 1: objects[0].iscrowd: invalid value: integer `2`, expected true, false, 0 or 1"), "{e}");
    let gt = write(&d, "gt.json", "{\n\"images\": [\n");
    let e = load_paths(&gt, &pred).unwrap_err().to_string();
    assert!(e.contains("not JSON Lines") && e.contains("COCO"), "{e}");
    let empty = write(&d, "empty.jsonl", "\n");
    let e = load_paths(&empty, &pred).unwrap_err().to_string();
    assert!(e.ends_with("empty.jsonl: no frames; ground truth needs one JSON object per frame, or a COCO file with images"), "{e}");
    let e = load_paths(&d.join("none.jsonl"), &pred)
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.jsonl: cannot read"), "{e}");
}

#[test]
fn coco_files_map_images_to_frames_and_categories_by_name() {
    let d = scratch("coco");
    let gt = write(
        &d,
        "instances.json",
        r#"{"images":[{"id":9,"file_name":"f_0003.jpg"},{"id":2,"file_name":"f_0001.jpg"}],
            "annotations":[{"id":1,"image_id":9,"category_id":5,"bbox":[0,0,10,10],"iscrowd":0,"area":100},
                           {"id":2,"image_id":2,"category_id":5,"bbox":[0,0,10,10],"iscrowd":1,"area":100}],
            "categories":[{"id":5,"name":"car"},{"id":6,"name":"dog"}]}"#,
    );
    let pred = write(
        &d,
        "p.jsonl",
        "{\"frame\":3,\"detections\":[{\"label\":\"car\",\"score\":1,\"bbox\":[0,0,10,10]}]}\n",
    );
    let l = load_paths(&gt, &pred).unwrap();
    let frames: Vec<u64> = l.gt.iter().map(|f| f.key.frame).collect();
    assert_eq!(frames, [1, 3], "image id order");
    assert_eq!(l.gt_classes, ["car", "dog"]);
    let r = evaluate_paths(&gt, &pred).unwrap();
    assert!(close(r.map, 1.0));
    assert_eq!(class(&r, "dog").ap, None);
    let dup = write(
        &d,
        "dup.json",
        r#"{"images":[{"id":1,"file_name":"a/frame_7.jpg"},{"id":2,"file_name":"b/frame_007.jpg"}],"annotations":[],"categories":[]}"#,
    );
    let e = load_paths(&dup, &pred).unwrap_err().to_string();
    assert!(
        e.contains(
            "dup.json: images 1 (a/frame_7.jpg) and 2 (b/frame_007.jpg) both map to frame 7"
        ),
        "{e}"
    );
    let bad = write(
        &d,
        "bad.json",
        r#"{"images":[],"annotations":[{"image_id":1,"category_id":1,"bbox":[0,0,1]}]}"#,
    );
    let e = load_paths(&bad, &pred).unwrap_err().to_string();
    assert!(
        e.contains("bad.json: COCO JSON: annotations[0].bbox: invalid length 3"),
        "{e}"
    );
}

/// With `segm` the masks decide: a detection on the exact box with the other half of the box
/// as its mask misses; the box score of the same files is perfect.
#[test]
fn segm_scores_masks_not_boxes() {
    // 4x2 frame; the object is the left column pair, the detection claims the right pair.
    let left = Rle::new(2, 4, vec![0, 4, 4]).unwrap();
    let right = Rle::new(2, 4, vec![4, 4]).unwrap();
    let mut o = gt_obj("car", [0.0, 0.0, 4.0, 2.0], false);
    o.mask = Some(left.clone());
    let gt = vec![gt_frame(0, vec![o])];
    let mut wrong = det("car", 0.9, [0.0, 0.0, 4.0, 2.0]);
    wrong.mask = Some(right);
    let mut right_mask = wrong.clone();
    right_mask.mask = Some(left);
    let pred = |d: &PredDetection| vec![pred_frame(0, vec![d.clone()])];
    let score = |d: &PredDetection, t| evaluate_as(&gt, &pred(d), &[], t).map50.unwrap();
    // 1 - eps: precision is tp / (tp + fp + eps), as pycocotools has it.
    assert!(score(&wrong, IouType::Bbox) > 0.999);
    assert_eq!(score(&wrong, IouType::Segm), 0.0);
    assert!(score(&right_mask, IouType::Segm) > 0.999);
}

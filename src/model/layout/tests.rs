//! Layout resolution and decoding on hand-made outputs.

use super::*;

fn r(format: DetectFormat, shape: &[i64], nc: Option<usize>) -> Result<Layout, LayoutMismatch> {
    let out = OutputInfo {
        name: "output0".into(),
        ty: ElemType::F32,
        shape: shape.to_vec(),
    };
    let hints = Hints {
        nc,
        input_w: 640,
        input_h: 640,
        yolox_decoded: false,
    };
    Layout::resolve(format, &[out], &hints)
}

#[test]
fn yolov8_axes_are_found_both_ways() {
    let l = r(DetectFormat::Yolov8, &[1, 84, 8400], None).unwrap();
    assert_eq!(
        (
            l.views[0].channels,
            l.candidates,
            l.views[0].cand_stride,
            l.views[0].chan_stride,
            l.num_classes
        ),
        (84, 8400, 1, 8400, 80)
    );
    let t = r(DetectFormat::Yolov8, &[1, 8400, 84], None).unwrap();
    assert_eq!(
        (
            t.views[0].channels,
            t.candidates,
            t.views[0].cand_stride,
            t.views[0].chan_stride
        ),
        (84, 8400, 84, 1)
    );
    // Class names decide when the shape alone is ambiguous-looking.
    let s = r(DetectFormat::Yolov8, &[1, 7, 2100], Some(3)).unwrap();
    assert_eq!(s.num_classes, 3);
    let e = r(DetectFormat::Yolov8, &[1, 84, 8400], Some(3)).unwrap_err();
    assert!(
        e.0.contains("[1, 84, 8400]") && e.0.contains("classes"),
        "{e}"
    );
}

#[test]
fn a_prototype_output_makes_a_mask_head() {
    let out = |name: &str, shape: &[i64]| OutputInfo {
        name: name.into(),
        ty: ElemType::F32,
        shape: shape.to_vec(),
    };
    let hints = |nc| Hints {
        nc,
        input_w: 640,
        input_h: 640,
        yolox_decoded: false,
    };
    let outputs = [
        out("output0", &[1, 116, 8400]),
        out("output1", &[1, 32, 160, 160]),
    ];
    let l = Layout::resolve(DetectFormat::Yolov8, &outputs, &hints(None)).unwrap();
    assert_eq!(l.num_classes, 80);
    assert_eq!(
        l.mask,
        Some(MaskHead {
            coef_at: ch(84),
            coefs: 32,
            protos: 1
        })
    );
    // Coefficients of candidate 2 of 3, channels first: channel 84 + k at stride 3.
    let tiny = [
        out("output0", &[1, 4 + 1 + 2, 3]),
        out("output1", &[1, 2, 4, 4]),
    ];
    let t = Layout::resolve(DetectFormat::Yolov8, &tiny, &hints(Some(1))).unwrap();
    let data: Vec<f32> = (0..21).map(|v| v as f32).collect();
    let mut c = vec![];
    t.coefficients(&data, 2, &mut c);
    assert_eq!(c, vec![17.0, 20.0]);
    // Class names that do not fit name the coefficients too.
    let e = Layout::resolve(DetectFormat::Yolov8, &outputs, &hints(Some(3))).unwrap_err();
    assert!(e.0.contains("32 mask coefficients"), "{e}");
    // Without prototypes the same output is 112 classes.
    let plain = Layout::resolve(DetectFormat::Yolov8, &outputs[..1], &hints(None)).unwrap();
    assert_eq!((plain.num_classes, plain.mask), (112, None));
}

#[test]
fn wrong_rank_names_the_shape() {
    let e = r(DetectFormat::Yolov8, &[1, 85, 22, 22], None).unwrap_err();
    assert!(e.0.contains("[1, 85, 22, 22]"), "{e}");
    let e = r(DetectFormat::Fastestdet, &[1, 84, 8400], None).unwrap_err();
    assert!(e.0.contains("[1, 84, 8400]"), "{e}");
}

#[test]
fn yolov8_decode_reads_one_candidate() {
    // 2 candidates, 4 + 2 classes, channels first: candidate 1 is class 1 at 0.9.
    let l = r(DetectFormat::Yolov8, &[1, 6, 2], Some(2)).unwrap();
    #[rustfmt::skip]
    let data = [
        10.0, 100.0, // cx
        10.0, 50.0,  // cy
        4.0, 20.0,   // w
        4.0, 10.0,   // h
        0.1, 0.2,    // class 0
        0.1, 0.9,    // class 1
    ];
    let mut out = vec![];
    l.decode(&[&data], 640.0, 640.0, 0.25, None, &mut out);
    assert_eq!(
        out,
        vec![Candidate {
            class_id: 1,
            score: 0.9,
            bbox: [90.0, 45.0, 110.0, 55.0],
            index: 1,
        }]
    );
    out.clear();
    l.decode(&[&data], 640.0, 640.0, 0.25, Some(&[true, false]), &mut out);
    assert!(out.is_empty(), "class filter applies");
}

#[test]
fn yolov5_reads_objectness_times_class() {
    // 2 candidates first, 5 + 2 channels: candidate 0 has obj 0.5 x cls 0.9 = 0.45.
    let l = r(DetectFormat::Yolov5, &[1, 2, 7], None).unwrap();
    assert_eq!(
        (
            l.num_classes,
            l.views[0].cand_stride,
            l.views[0].chan_stride
        ),
        (2, 7, 1)
    );
    #[rustfmt::skip]
    let data = [
        50.0, 50.0, 10.0, 10.0, 0.5, 0.9, 0.1,
        10.0, 10.0, 4.0, 4.0, 0.1, 0.2, 0.9,
    ];
    let mut out = vec![];
    l.decode(&[&data], 320.0, 320.0, 0.25, None, &mut out);
    assert_eq!(
        out,
        vec![Candidate {
            class_id: 0,
            score: 0.45,
            bbox: [45.0, 45.0, 55.0, 55.0],
            index: 0,
        }]
    );
    let e = r(DetectFormat::Yolov5, &[1, 2, 7], Some(3)).unwrap_err();
    assert!(e.0.contains("2 class channels but 3 class names"), "{e}");
}

#[test]
fn end2end_takes_score_and_class_from_channels_without_nms() {
    let l = r(DetectFormat::YoloEnd2end, &[1, 3, 6], Some(80)).unwrap();
    assert!(!l.nms);
    #[rustfmt::skip]
    let data = [
        1.0, 2.0, 11.0, 12.0, 0.9, 7.0,
        1.0, 2.0, 11.0, 12.0, 0.8, 7.0, // overlaps the first fully: kept, NMS is the graph's
        5.0, 5.0, 6.0, 6.0, 0.1, 3.0,
    ];
    let mut out = vec![];
    l.decode(&[&data], 640.0, 640.0, 0.25, None, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].class_id, out[0].bbox), (7, [1.0, 2.0, 11.0, 12.0]));
    assert!(r(DetectFormat::YoloEnd2end, &[1, 300, 7], None).is_err());
}

//! Decode + NMS per output layout, on each layout's largest usual output (`cargo bench --bench
//! decode`). Outputs are synthetic but shaped like a real scene: low scores almost everywhere,
//! a few dozen objects, each seen by a cluster of neighbouring candidates that NMS must merge.

use criterion::{Criterion, criterion_group, criterion_main};
use perceptd::config::DetectFormat;
use perceptd::model::detector::Postprocess;
use perceptd::model::layout::{ElemType, Hints, Layout, OutputInfo};
use perceptd::model::nms::Candidate;
use std::hint::black_box;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32) / (1u64 << 24) as f32
    }
}

/// One layout's output and everything to decode it.
struct Case {
    name: &'static str,
    post: Postprocess,
    shapes: Vec<Vec<i64>>,
    data: Vec<Vec<f32>>,
}

fn post(format: DetectFormat, outputs: &[(&str, ElemType, &[i64])], nc: usize) -> Postprocess {
    let infos: Vec<OutputInfo> = outputs
        .iter()
        .map(|(n, t, s)| OutputInfo {
            name: n.to_string(),
            ty: *t,
            shape: s.to_vec(),
        })
        .collect();
    let hints = Hints {
        nc: Some(nc),
        input_w: 640,
        input_h: 640,
        yolox_decoded: false,
    };
    Postprocess {
        layout: Layout::resolve(format, &infos, &hints).expect("layout fits"),
        score_threshold: 0.25,
        keep: None,
        nms_iou: 0.45,
        agnostic_nms: false,
        max_detections: 300,
    }
}

/// Candidates at `anchors` (their position in input pixels), `ch` channels each, candidates
/// first, boxes as cx, cy, w, h pixels: class scores low, except for candidates whose anchor
/// lies near one of 30 objects, which fire for its class with a box around it (with jitter).
fn scene(anchors: &[(f32, f32)], ch: usize, first_class: usize, objectness: bool) -> Vec<f32> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let objects: Vec<(f32, f32, usize)> = (0..30)
        .map(|_| {
            (
                r.next() * 600.0 + 20.0,
                r.next() * 600.0 + 20.0,
                (r.next() * 80.0) as usize,
            )
        })
        .collect();
    let mut v = vec![0f32; anchors.len() * ch];
    for (row, &(ax, ay)) in v.chunks_exact_mut(ch).zip(anchors) {
        row[0] = ax;
        row[1] = ay;
        row[2] = 20.0 + r.next() * 60.0;
        row[3] = 20.0 + r.next() * 60.0;
        for v in &mut row[first_class..ch] {
            *v = r.next() * 0.05;
        }
        if objectness {
            row[4] = r.next() * 0.1;
        }
        if let Some(&(ox, oy, class)) = objects
            .iter()
            .find(|(ox, oy, _)| (ox - ax).abs() < 24.0 && (oy - ay).abs() < 24.0)
        {
            row[0] = ox + (r.next() - 0.5) * 6.0;
            row[1] = oy + (r.next() - 0.5) * 6.0;
            row[2] = 60.0 + r.next() * 4.0;
            row[3] = 60.0 + r.next() * 4.0;
            row[first_class + class % (ch - first_class)] = 0.5 + r.next() * 0.5;
            if objectness {
                row[4] = 0.6 + r.next() * 0.4;
            }
        }
    }
    v
}

/// Cell centres of grids of strides 8, 16, 32 over 640 x 640, and each cell's grid position
/// and stride (YOLOv8 and YOLOX candidates; YOLOv5 has three per cell).
fn grid_cells() -> Vec<(f32, f32, f32, f32, f32)> {
    let mut out = vec![];
    for s in [8.0f32, 16.0, 32.0] {
        let n = (640.0 / s) as usize;
        for gy in 0..n {
            for gx in 0..n {
                let (x, y) = (gx as f32, gy as f32);
                out.push(((x + 0.5) * s, (y + 0.5) * s, x, y, s));
            }
        }
    }
    out
}

fn transpose(v: &[f32], n: usize, ch: usize) -> Vec<f32> {
    let mut t = vec![0f32; v.len()];
    for i in 0..n {
        for c in 0..ch {
            t[c * n + i] = v[i * ch + c];
        }
    }
    t
}

fn cases() -> Vec<Case> {
    let mut out = vec![];
    let cells = grid_cells();
    let centres: Vec<(f32, f32)> = cells.iter().map(|c| (c.0, c.1)).collect();
    // Ultralytics YOLOv8 / YOLO11 at 640: [1, 84, 8400], channels first.
    out.push(Case {
        name: "yolov8 [1,84,8400]",
        post: post(
            DetectFormat::Yolov8,
            &[("output0", ElemType::F32, &[1, 84, 8400])],
            80,
        ),
        shapes: vec![vec![1, 84, 8400]],
        data: vec![transpose(&scene(&centres, 84, 4, false), 8400, 84)],
    });
    // Classic YOLOv5 at 640: [1, 25200, 85], three anchors per cell.
    let three: Vec<(f32, f32)> = centres.iter().flat_map(|&c| [c, c, c]).collect();
    out.push(Case {
        name: "yolov5 [1,25200,85]",
        post: post(
            DetectFormat::Yolov5,
            &[("output0", ElemType::F32, &[1, 25200, 85])],
            80,
        ),
        shapes: vec![vec![1, 25200, 85]],
        data: vec![scene(&three, 85, 5, true)],
    });
    // YOLOX raw head at 640: [1, 8400, 85], boxes as grid offsets.
    let mut x = scene(&centres, 85, 5, true);
    for (row, &(_, _, gx, gy, s)) in x.chunks_exact_mut(85).zip(&cells) {
        row[0] = row[0] / s - gx;
        row[1] = row[1] / s - gy;
        row[2] = (row[2] / s).ln();
        row[3] = (row[3] / s).ln();
    }
    out.push(Case {
        name: "yolox [1,8400,85]",
        post: post(
            DetectFormat::Yolox,
            &[("output", ElemType::F32, &[1, 8400, 85])],
            80,
        ),
        shapes: vec![vec![1, 8400, 85]],
        data: vec![x],
    });
    // End-to-end (YOLOv10 / YOLO26): [1, 300, 6], no NMS.
    let mut e = vec![0f32; 300 * 6];
    let mut r = Rng(11);
    for (i, row) in e.chunks_exact_mut(6).enumerate() {
        let (x, y) = (r.next() * 600.0, r.next() * 600.0);
        row.copy_from_slice(&[
            x,
            y,
            x + 40.0,
            y + 40.0,
            0.9 - i as f32 * 0.003,
            (i % 80) as f32,
        ]);
    }
    out.push(Case {
        name: "yolo_end2end [1,300,6]",
        post: post(
            DetectFormat::YoloEnd2end,
            &[("output0", ElemType::F32, &[1, 300, 6])],
            80,
        ),
        shapes: vec![vec![1, 300, 6]],
        data: vec![e],
    });
    // FastestDet at 352: [1, 85, 22, 22], boxes as tanh offsets in the cell and sigmoid sizes.
    let (gw, size) = (22usize, 352.0f32);
    let cell = size / gw as f32;
    let fd_cells: Vec<(f32, f32)> = (0..gw * gw)
        .map(|i| {
            (
                ((i % gw) as f32 + 0.5) * cell,
                ((i / gw) as f32 + 0.5) * cell,
            )
        })
        .collect();
    // FastestDet's channels: objectness, box (4), classes.
    let mut rows = scene(&fd_cells, 85, 5, true);
    for (i, row) in rows.chunks_exact_mut(85).enumerate() {
        let (gx, gy) = ((i % gw) as f32, (i / gw) as f32);
        let obj = row[4];
        let (cx, cy, w, h) = (row[0], row[1], row[2], row[3]);
        let logit = |p: f32| (p / (1.0 - p)).ln();
        row[0] = obj;
        row[1] = (cx / cell - gx).clamp(-0.99, 0.99).atanh();
        row[2] = (cy / cell - gy).clamp(-0.99, 0.99).atanh();
        row[3] = logit(w / size);
        row[4] = logit(h / size);
    }
    out.push(Case {
        name: "fastestdet [1,85,22,22]",
        post: post(
            DetectFormat::Fastestdet,
            &[("758", ElemType::F32, &[1, 85, 22, 22])],
            80,
        ),
        shapes: vec![vec![1, 85, 22, 22]],
        data: vec![transpose(&rows, gw * gw, 85)],
    });
    let mut r = Rng(7);
    // torchvision Faster R-CNN: 100 boxes (box_detections_per_img), labels, scores.
    let mut boxes = vec![0f32; 400];
    let (mut scores, mut labels) = (vec![0f32; 100], vec![0f32; 100]);
    for i in 0..100 {
        let (x, y) = (r.next() * 900.0, r.next() * 500.0);
        boxes[i * 4..i * 4 + 4].copy_from_slice(&[x, y, x + 50.0, y + 30.0]);
        scores[i] = 1.0 - i as f32 * 0.009;
        labels[i] = (1 + i % 90) as f32;
    }
    let frcnn = [
        ("boxes", ElemType::F32, &[100i64, 4][..]),
        ("labels", ElemType::I64, &[100][..]),
        ("scores", ElemType::F32, &[100][..]),
    ];
    out.push(Case {
        name: "faster_rcnn boxes[100,4]",
        post: post(DetectFormat::FasterRcnn, &frcnn, 91),
        // Views in layout order: boxes, scores, labels.
        shapes: vec![vec![100, 4], vec![100], vec![100]],
        data: vec![boxes, scores, labels],
    });
    out
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode+nms");
    for case in cases() {
        let shapes: Vec<&[i64]> = case.shapes.iter().map(|s| &s[..]).collect();
        let data: Vec<&[f32]> = case.data.iter().map(|d| &d[..]).collect();
        let mut cands: Vec<Candidate> = Vec::with_capacity(1024);
        case.post
            .candidates(&shapes, &data, (640.0, 640.0), &mut cands)
            .expect("decodes");
        assert!(
            !cands.is_empty(),
            "{}: the bench decodes something",
            case.name
        );
        eprintln!("{}: {} kept", case.name, cands.len());
        g.bench_function(case.name, |b| {
            b.iter(|| {
                case.post
                    .candidates(
                        black_box(&shapes),
                        black_box(&data),
                        (640.0, 640.0),
                        &mut cands,
                    )
                    .expect("decodes");
                black_box(cands.len())
            })
        });
    }
    g.finish();
}

/// Instance masks of an Ultralytics `-seg` export (prototypes [32, 160, 160] at 640x640) for 20
/// detections of a letterboxed 1920x1080 frame, from 40x30 px (far) to 400x300 px boxes in the
/// frame: the per-frame cost of masks after NMS.
fn masks(c: &mut Criterion) {
    use perceptd::frame::Geometry;
    use perceptd::frame::geometry::ResizeMode;
    use perceptd::model::masks::{MaskDecoder, Protos};
    let mut r = Rng(11);
    let (k, ph, pw) = (32, 160, 160);
    let protos: Vec<f32> = (0..k * ph * pw).map(|_| r.next() * 2.0 - 1.0).collect();
    let coefs: Vec<Vec<f32>> = (0..20)
        .map(|_| (0..k).map(|_| r.next() * 2.0 - 1.0).collect())
        .collect();
    let g = Geometry::new(ResizeMode::Letterbox, 1920, 1080, 640, 640);
    // Boxes in model-input pixels (1/3 of the frame's).
    let boxes: Vec<[f32; 4]> = (0..20)
        .map(|i| {
            let (w, h) = (13.0 + 6.5 * i as f32, 10.0 + 5.0 * i as f32);
            let (x, y) = (r.next() * (640.0 - w), 140.0 + r.next() * (360.0 - h));
            [x, y, x + w, y + h]
        })
        .collect();
    let p = Protos {
        data: &protos,
        k,
        h: ph,
        w: pw,
    };
    let mut d = MaskDecoder::new(0.5);
    let pixels: u64 = boxes
        .iter()
        .zip(&coefs)
        .filter_map(|(b, c)| d.mask(c, &p, *b, &g))
        .map(|m| (m.w * m.h) as u64)
        .sum();
    eprintln!("masks: 20 detections, {pixels} source pixels in their boxes");
    c.bench_function("masks 20 dets [32,160,160] -> 1920x1080", |b| {
        b.iter(|| {
            let mut n = 0;
            for (bx, cf) in boxes.iter().zip(&coefs) {
                n += black_box(d.mask(black_box(cf), &p, *bx, &g)).map_or(0, |m| m.area());
            }
            n
        })
    });
}

criterion_group!(benches, decode, masks);
criterion_main!(benches);

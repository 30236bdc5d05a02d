//! Evaluation speed: `eval det` (COCO AP over 10 000 frames of about 10 ground-truth boxes and
//! 10 detections each, 5 classes, in memory) and `eval seg`'s counting of one 960x540 frame.
//!
//! `cargo bench --bench eval`

use criterion::{Criterion, criterion_group, criterion_main};
use perceptd::eval::det::{FrameKey, GtFrame, GtObject, PredDetection, PredFrame, evaluate};
use perceptd::eval::seg::{Confusion, add_frame};
use std::hint::black_box;

/// xorshift64*: a small seeded generator, so every run measures the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

const CLASSES: [&str; 5] = ["car", "person", "truck", "bus", "bicycle"];

fn detections(frames: u64) -> (Vec<GtFrame>, Vec<PredFrame>) {
    let mut r = Rng(42);
    let (mut gt, mut pred) = (vec![], vec![]);
    for f in 0..frames {
        let mut objects = vec![];
        let mut dets = vec![];
        for _ in 0..10 {
            let (x, y) = (r.next() * 1800.0, r.next() * 1000.0);
            let (w, h) = (20.0 + r.next() * 200.0, 20.0 + r.next() * 150.0);
            let label = CLASSES[(r.next() * 5.0) as usize % 5].to_string();
            if r.next() > 0.1 {
                let j = |r: &mut Rng| (r.next() - 0.5) * 0.2;
                dets.push(PredDetection {
                    label: label.clone(),
                    score: r.next(),
                    xywh: [
                        x + w * j(&mut r),
                        y + h * j(&mut r),
                        w * (1.0 + j(&mut r)),
                        h * (1.0 + j(&mut r)),
                    ],
                    mask: None,
                });
            }
            objects.push(GtObject {
                label,
                xywh: [x, y, w, h],
                iscrowd: false,
                area: None,
                mask: None,
                polygon: false,
            });
        }
        for _ in 0..1 + (r.next() * 2.0) as usize {
            dets.push(PredDetection {
                label: CLASSES[(r.next() * 5.0) as usize % 5].to_string(),
                score: r.next() * 0.6,
                xywh: [r.next() * 1800.0, r.next() * 1000.0, 50.0, 50.0],
                mask: None,
            });
        }
        gt.push(GtFrame {
            key: FrameKey::frame(f),
            objects,
        });
        pred.push(PredFrame {
            key: FrameKey::frame(f),
            detections: dets,
        });
    }
    (gt, pred)
}

fn bench(c: &mut Criterion) {
    let (gt, pred) = detections(10_000);
    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    g.bench_function("det_10000_frames", |b| {
        b.iter(|| black_box(evaluate(&gt, &pred)))
    });
    // A road scene's class map: bands of classes, the prediction shifted a little, with noise.
    let (w, h) = (960usize, 540usize);
    let mut r = Rng(7);
    let gt_map: Vec<u8> = (0..w * h).map(|i| ((i / w) * 5 / h) as u8).collect();
    let pred_map: Vec<u8> = (0..w * h)
        .map(|i| {
            let v = (((i / w) + 6) * 5 / h).min(4) as u8;
            if r.next() < 0.002 { 5 } else { v }
        })
        .collect();
    let mut conf = Confusion::new();
    g.sample_size(50);
    g.bench_function("seg_count_960x540", |b| {
        b.iter(|| {
            add_frame(
                &mut conf,
                black_box(&gt_map),
                black_box(&pred_map),
                Some(255),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

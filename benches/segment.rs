//! Per frame at 960x540: a segmentation head's upsampling (+ argmax), class fractions and the
//! blend onto the frame (`cargo bench --bench segment`). The heads are TwinLiteNet-sized
//! ([2, 360, 640] logits: the output at input resolution, stretched from 960x540) and a coarse
//! FCN head ([5, 68, 120] logits: an eighth of a 960x540 input).

use criterion::{Criterion, criterion_group, criterion_main};
use perceptd::config::{ResizeMode, Upsample};
use perceptd::model::preprocess::Geometry;
use perceptd::segment::{HeadStyle, Upsampler, blend, fractions};
use std::hint::black_box;

/// Smooth logits with class borders: sums of a few sines per class.
fn logits(c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(c * h * w);
    for k in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                v.push(
                    ((k as f32 + 1.0) * 7.0 * fx).sin() + ((k as f32 + 2.0) * 5.0 * fy).cos()
                        - 0.3 * k as f32,
                );
            }
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let (sw, sh) = (960u32, 540u32);
    let style = HeadStyle {
        name: "da".into(),
        classes: (0..5).map(|i| format!("c{i}").into()).collect(),
        colors: vec![
            None,
            Some([0, 200, 0]),
            Some([255, 0, 0]),
            Some([0, 0, 255]),
            Some([255, 255, 0]),
        ],
        alpha: 0.4,
    };
    let mut g = c.benchmark_group("segment 960x540");
    for (name, classes, oh, ow, ih, iw, mode) in [
        (
            "twinlitenet head [2,360,640] bilinear",
            2,
            360,
            640,
            360,
            640,
            Upsample::Bilinear,
        ),
        (
            "twinlitenet head [2,360,640] nearest",
            2,
            360,
            640,
            360,
            640,
            Upsample::Nearest,
        ),
        (
            "coarse head [5,68,120] bilinear",
            5,
            68,
            120,
            544,
            960,
            Upsample::Bilinear,
        ),
    ] {
        let l = logits(classes, oh, ow);
        let geo = Geometry::new(ResizeMode::Stretch, sw, sh, iw, ih);
        let mut u = Upsampler::default();
        let mut map = Vec::new();
        let mut frac = Vec::new();
        let mut image = vec![90u8; (sw * sh * 3) as usize];
        g.bench_function(format!("{name} + fractions + blend"), |b| {
            b.iter(|| {
                u.logits(black_box(&l), [classes, oh, ow], &geo, mode, &mut map);
                fractions(&map, classes, &mut frac);
                blend(&mut image, &map, &style);
                black_box(frac[1])
            })
        });
        g.bench_function(format!("{name} (upsample + argmax only)"), |b| {
            b.iter(|| {
                u.logits(black_box(&l), [classes, oh, ow], &geo, mode, &mut map);
                black_box(map[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

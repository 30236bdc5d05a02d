//! Tracker update time per frame with 10, 100 and 500 objects in view (issue 5 targets: under
//! 0.05 ms, 0.5 ms and 5 ms). Objects move on a grid with a little box noise, so every update
//! does real association work; the tracker is warmed up over 30 frames first.
//!
//! `cargo bench --bench track`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use perceptd::frame::Detection;
use perceptd::track::{Tracker, TrackerParams};
use std::hint::black_box;
use std::sync::Arc;

/// `n` objects on a grid at time `t`, moving right at 60 px/s, with a wobble of a pixel or two.
fn frame(n: usize, t: f64, label: &Arc<str>) -> Vec<Detection> {
    let cols = (n as f64).sqrt().ceil() as usize;
    (0..n)
        .map(|i| {
            let (cx, cy) = ((i % cols) as f32 * 70.0, (i / cols) as f32 * 110.0);
            let x = cx + 60.0 * t as f32 + (t * 9.0 + i as f64).sin() as f32;
            Detection {
                class_id: 0,
                label: label.clone(),
                score: if i % 10 == 0 { 0.3 } else { 0.8 },
                bbox: [x, cy, x + 40.0, cy + 80.0],
                track_id: None,
                track_box: None,
                mask: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let label: Arc<str> = "person".into();
    let mut g = c.benchmark_group("tracker_update");
    for n in [10, 100, 500] {
        for (name, params) in [
            ("bytetrack", TrackerParams::bytetrack()),
            ("sort", TrackerParams::sort()),
        ] {
            let mut tr = Tracker::new(params);
            let mut next = 1;
            let all: Vec<usize> = (0..n).collect();
            for k in 0..30 {
                let t = k as f64 / 30.0;
                tr.update(t, &mut frame(n, t, &label), &all, &mut next);
            }
            assert!(
                tr.active() >= n * 9 / 10,
                "{name}: the warm-up tracks the objects"
            );
            // The next frame after the warm-up (frame 30 at 30 fps).
            let t = 1.0;
            let dets = frame(n, t, &label);
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter_batched(
                    || (tr.clone(), dets.clone()),
                    |(mut tr, mut dets)| {
                        let mut id = next;
                        black_box(tr.update(t, &mut dets, &all, &mut id));
                        (tr, dets)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

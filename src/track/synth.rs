//! Synthetic scenes with exact ground truth, to measure trackers without video: people and cars
//! cross a road in lanes (so they meet, overtake and hide each other), enter and leave, seen by
//! a simulated detector with box noise, misses, low scores when partly hidden, and false
//! positives.
//!
//! Everything is a function of the seed and of time: objects move in continuous time, and the
//! noise of an object at an instant does not depend on the frame rate, so a 10 fps and a 30 fps
//! sampling of one scene see the same detections at the instants they share.

use crate::frame::Detection;
use std::fmt::Write;
use std::sync::Arc;

/// The simulated detector's faults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Standard deviation of each box edge, as a fraction of the box's width or height.
    pub jitter: f32,
    /// Chance that a visible object is missed in a frame.
    pub miss: f32,
    /// Mean false positives per frame.
    pub false_positives: f32,
    /// Chance that a fully visible object scores low (below 0.5) in a frame.
    pub low_score: f32,
    /// Partly hidden objects get low scores, mostly hidden ones are missed.
    pub occlusion: bool,
}

impl Noise {
    pub const NONE: Noise = Noise {
        jitter: 0.0,
        miss: 0.0,
        false_positives: 0.0,
        low_score: 0.0,
        occlusion: false,
    };
    /// A fair small detector: 3 % box noise, 5 % misses, 0.3 false positives a frame, 5 % of
    /// visible objects at a low score.
    pub const TYPICAL: Noise = Noise {
        jitter: 0.03,
        miss: 0.05,
        false_positives: 0.3,
        low_score: 0.05,
        occlusion: true,
    };
}

#[derive(Debug, Clone, PartialEq)]
pub struct SceneConfig {
    pub seed: u64,
    /// Frames per second of the sampling (whole, so instants line up across rates).
    pub fps: u32,
    pub duration_s: f64,
    pub width: f32,
    pub height: f32,
    /// Objects that enter over the scene.
    pub objects: usize,
    pub noise: Noise,
}

impl SceneConfig {
    pub fn new(seed: u64, fps: u32, duration_s: f64, objects: usize, noise: Noise) -> SceneConfig {
        SceneConfig {
            seed,
            fps,
            duration_s,
            width: 1280.0,
            height: 720.0,
            objects,
            noise,
        }
    }
}

/// One object in one frame of the ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    /// 1-based object id.
    pub id: u64,
    pub class_id: u32,
    /// `[x1, y1, x2, y2]`, clipped to the frame.
    pub bbox: [f32; 4],
    /// Fraction of the box not hidden by objects in front (0..1).
    pub visibility: f32,
}

#[derive(Debug, Clone)]
pub struct SynthFrame {
    /// 0-based frame number.
    pub index: u64,
    /// Seconds from the scene's start.
    pub t: f64,
    pub gt: Vec<GtBox>,
    pub dets: Vec<Detection>,
}

/// Below this visibility an object is not detected, and its ground truth is marked ignored.
pub const MIN_VISIBILITY: f32 = 0.3;
/// Below this visibility a detected object scores low.
const LOW_SCORE_VISIBILITY: f32 = 0.7;

pub const PERSON: u32 = 0;
pub const CAR: u32 = 2;

/// A small deterministic generator (SplitMix64) seeded by a hash of its key.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, a: u64, b: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        r.0 ^= r.next().wrapping_add(a.wrapping_mul(0xBF58_476D_1CE4_E5B9));
        r.0 ^= r.next().wrapping_add(b.wrapping_mul(0x94D0_49BB_1331_11EB));
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f()
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f32 {
        let u1 = self.f().max(1e-7);
        let u2 = self.f();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// An object's motion: a box of fixed size moving at constant velocity from `t0`.
struct Mover {
    id: u64,
    class_id: u32,
    t0: f64,
    x0: f32,
    y_bottom: f32,
    vx: f32,
    vy: f32,
    w: f32,
    h: f32,
}

impl Mover {
    fn bbox(&self, t: f64) -> [f32; 4] {
        let dt = (t - self.t0) as f32;
        let x = self.x0 + self.vx * dt;
        let yb = self.y_bottom + self.vy * dt;
        [x, yb - self.h, x + self.w, yb]
    }
}

fn movers(cfg: &SceneConfig) -> Vec<Mover> {
    let (w, h) = (cfg.width, cfg.height);
    // Lanes by the bottom edge of the boxes: far (small) to near (large).
    let lanes = [0.58f32, 0.7, 0.84];
    (0..cfg.objects)
        .map(|i| {
            let mut r = Rng::new(cfg.seed, i as u64, u64::MAX);
            let t0 = r.f() as f64 * cfg.duration_s * 0.8;
            let lane = lanes[(r.next() % lanes.len() as u64) as usize];
            let scale = 0.6 + lane;
            let person = r.f() < 0.4;
            let (bw, bh, speed) = if person {
                (
                    r.range(30.0, 45.0) * scale,
                    r.range(80.0, 110.0) * scale,
                    r.range(40.0, 90.0),
                )
            } else {
                (
                    r.range(110.0, 170.0) * scale,
                    r.range(60.0, 90.0) * scale,
                    r.range(90.0, 220.0),
                )
            };
            let rightward = r.f() < 0.5;
            let (x0, vx) = if rightward { (-bw, speed) } else { (w, -speed) };
            Mover {
                id: i as u64 + 1,
                class_id: if person { PERSON } else { CAR },
                t0,
                x0,
                y_bottom: lane * h + r.range(-0.02, 0.02) * h,
                vx,
                vy: r.range(-8.0, 8.0),
                w: bw,
                h: bh,
            }
        })
        .collect()
}

fn clip(b: [f32; 4], w: f32, h: f32) -> [f32; 4] {
    [
        b[0].clamp(0.0, w),
        b[1].clamp(0.0, h),
        b[2].clamp(0.0, w),
        b[3].clamp(0.0, h),
    ]
}

fn area(b: [f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

fn inter(a: [f32; 4], b: [f32; 4]) -> f32 {
    area([
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ])
}

/// Samples the scene at `cfg.fps`: ground truth and the simulated detector's output per frame.
pub fn generate(cfg: &SceneConfig) -> Vec<SynthFrame> {
    let movers = movers(cfg);
    let labels: [Arc<str>; 3] = ["person".into(), "bicycle".into(), "car".into()];
    let n = (cfg.duration_s * cfg.fps as f64).round() as u64;
    let mut frames = Vec::with_capacity(n as usize);
    // (mover index, full box, clipped box)
    let mut on: Vec<(usize, [f32; 4], [f32; 4])> = vec![];
    for k in 0..n {
        // The instant in whole microseconds: the key of every random draw at it.
        let tick = k * 1_000_000 / cfg.fps as u64;
        let t = tick as f64 / 1e6;
        on.clear();
        for (i, m) in movers.iter().enumerate() {
            if t < m.t0 {
                continue;
            }
            let full = m.bbox(t);
            let c = clip(full, cfg.width, cfg.height);
            // Mostly outside the frame: not in the scene.
            if area(c) >= 0.2 * area(full) {
                on.push((i, full, c));
            }
        }
        let mut gt = Vec::with_capacity(on.len());
        let mut dets = Vec::with_capacity(on.len() + 2);
        for &(i, _, c) in &on {
            let m = &movers[i];
            // Hidden by objects nearer the camera (lower bottom edge on screen).
            let covered: f32 = on
                .iter()
                .filter(|&&(j, _, o)| j != i && o[3] > c[3])
                .map(|&(_, _, o)| inter(c, o))
                .sum();
            let visibility = if cfg.noise.occlusion {
                (1.0 - covered / area(c).max(1e-3)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            gt.push(GtBox {
                id: m.id,
                class_id: m.class_id,
                bbox: c,
                visibility,
            });
            let mut r = Rng::new(cfg.seed, m.id, tick);
            if visibility < MIN_VISIBILITY || r.f() < cfg.noise.miss {
                continue;
            }
            let score = if visibility < LOW_SCORE_VISIBILITY || r.f() < cfg.noise.low_score {
                r.range(0.15, 0.45)
            } else {
                r.range(0.6, 0.95)
            };
            let (bw, bh) = (c[2] - c[0], c[3] - c[1]);
            let j = cfg.noise.jitter;
            let b = [
                c[0] + r.normal() * j * bw,
                c[1] + r.normal() * j * bh,
                c[2] + r.normal() * j * bw,
                c[3] + r.normal() * j * bh,
            ];
            let b = clip(b, cfg.width, cfg.height);
            if b[2] - b[0] < 2.0 || b[3] - b[1] < 2.0 {
                continue;
            }
            dets.push(Detection {
                class_id: m.class_id,
                label: labels[m.class_id as usize].clone(),
                score,
                bbox: b,
                track_id: None,
                track_box: None,
                mask: None,
            });
        }
        // False positives: a Poisson count of boxes anywhere.
        let mut r = Rng::new(cfg.seed, 0, tick ^ 0xF00D);
        let floor = (-cfg.noise.false_positives).exp();
        let mut p = r.f();
        while p > floor && cfg.noise.false_positives > 0.0 {
            let (bw, bh) = (r.range(30.0, 160.0), r.range(40.0, 140.0));
            let x = r.range(0.0, cfg.width - bw);
            let y = r.range(cfg.height * 0.3, cfg.height - bh);
            let class_id = if r.f() < 0.5 { PERSON } else { CAR };
            dets.push(Detection {
                class_id,
                label: labels[class_id as usize].clone(),
                score: r.range(0.1, 0.65),
                bbox: [x, y, x + bw, y + bh],
                track_id: None,
                track_box: None,
                mask: None,
            });
            p *= r.f();
        }
        frames.push(SynthFrame {
            index: k,
            t,
            gt,
            dets,
        });
    }
    frames
}

/// The ground truth as MOTChallenge text: `frame,id,x,y,w,h,conf,class,visibility`, frames
/// 1-based; `conf` is 0 (ignored by evaluation) for objects too hidden to be detected.
pub fn gt_mot(frames: &[SynthFrame]) -> String {
    let mut s = String::new();
    for f in frames {
        for g in &f.gt {
            let [x1, y1, x2, y2] = g.bbox;
            let _ = writeln!(
                s,
                "{},{},{:.2},{:.2},{:.2},{:.2},{},{},{:.3}",
                f.index + 1,
                g.id,
                x1,
                y1,
                x2 - x1,
                y2 - y1,
                u8::from(g.visibility >= MIN_VISIBILITY),
                g.class_id + 1,
                g.visibility
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_scene_and_another_seed_does_not() {
        let cfg = SceneConfig::new(3, 30, 10.0, 20, Noise::TYPICAL);
        let a = gt_mot(&generate(&cfg));
        assert_eq!(a, gt_mot(&generate(&cfg)));
        assert_ne!(a, gt_mot(&generate(&SceneConfig { seed: 4, ..cfg })));
    }

    #[test]
    fn a_slower_sampling_sees_the_same_detections_at_shared_instants() {
        let fast = generate(&SceneConfig::new(5, 30, 6.0, 15, Noise::TYPICAL));
        let slow = generate(&SceneConfig::new(5, 10, 6.0, 15, Noise::TYPICAL));
        assert_eq!(slow.len() * 3, fast.len());
        for s in &slow {
            let f = &fast[s.index as usize * 3];
            assert_eq!(f.t, s.t);
            assert_eq!(f.gt, s.gt);
            assert_eq!(f.dets, s.dets);
        }
    }

    #[test]
    fn scenes_have_crossings_occlusions_and_faults() {
        let frames = generate(&SceneConfig::new(1, 30, 20.0, 40, Noise::TYPICAL));
        let gt: usize = frames.iter().map(|f| f.gt.len()).sum();
        let hidden = frames
            .iter()
            .flat_map(|f| &f.gt)
            .filter(|g| g.visibility < MIN_VISIBILITY)
            .count();
        let low = frames
            .iter()
            .flat_map(|f| &f.dets)
            .filter(|d| d.score < 0.5)
            .count();
        assert!(gt > 2000, "{gt} ground-truth boxes");
        assert!(hidden > 20, "{hidden} hidden boxes");
        assert!(low > 100, "{low} low-score detections");
        let dets: usize = frames.iter().map(|f| f.dets.len()).sum();
        assert!(
            dets < gt,
            "misses and occlusion remove more than false positives add"
        );
    }
}

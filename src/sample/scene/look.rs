//! The seed's look: the colours of sky, grass, road and things, and the slow drift of the light.

use crate::sample::rng::{Rng, stream};
use crate::sample::world::{DASH_PERIOD, scale};
use std::f64::consts::TAU;

#[derive(Debug, Clone)]
pub(super) struct Look {
    pub(super) sky: [[u8; 3]; 2],
    pub(super) grass: [[u8; 3]; 2],
    pub(super) asphalt: [u8; 3],
    pub(super) sidewalk: [u8; 3],
    pub(super) marking: [u8; 3],
    pub(super) brightness: f64,
    pub(super) drift: f64,
    pub(super) drift_period: f64,
    pub(super) drift_phase: f64,
    pub(super) tint: [f64; 3],
    pub(super) tint_period: f64,
    pub(super) tint_phase: [f64; 3],
    pub(super) treeline: Vec<f64>,
    pub(super) clouds: Vec<[f64; 4]>,
    pub(super) dash_phase: f64,
    pub(super) sway_phase: f64,
}

pub(super) const CAR_COLORS: [[u8; 3]; 10] = [
    [235, 235, 235],
    [30, 30, 30],
    [175, 175, 170],
    [110, 110, 110],
    [40, 40, 180],
    [150, 80, 30],
    [50, 90, 40],
    [60, 160, 210],
    [120, 40, 30],
    [90, 110, 150],
];
pub(super) const TRUCK_COLORS: [[u8; 3]; 5] = [
    [240, 240, 240],
    [200, 200, 195],
    [160, 90, 40],
    [50, 50, 170],
    [70, 140, 70],
];
pub(super) const BUS_COLORS: [[u8; 3]; 5] = [
    [40, 190, 235],
    [40, 40, 200],
    [170, 100, 30],
    [235, 235, 235],
    [60, 150, 60],
];
pub(super) const SHIRTS: [[u8; 3]; 10] = [
    [40, 40, 200],
    [200, 120, 40],
    [230, 230, 230],
    [40, 40, 40],
    [60, 170, 60],
    [40, 200, 230],
    [150, 60, 150],
    [120, 120, 120],
    [30, 90, 160],
    [200, 190, 120],
];
pub(super) const PANTS: [[u8; 3]; 5] = [
    [90, 50, 30],
    [40, 40, 40],
    [140, 140, 140],
    [70, 90, 110],
    [30, 30, 80],
];
pub(super) const SKINS: [[u8; 3]; 5] = [
    [170, 200, 240],
    [140, 175, 225],
    [100, 140, 190],
    [70, 100, 150],
    [50, 70, 110],
];
pub(super) const HAIRS: [[u8; 3]; 4] =
    [[20, 20, 25], [30, 50, 90], [60, 120, 180], [170, 170, 170]];

pub(super) fn mix(a: [u8; 3], b: [u8; 3], t: f64) -> [u8; 3] {
    let mut o = [0u8; 3];
    for i in 0..3 {
        o[i] = (a[i] as f64 + (b[i] as f64 - a[i] as f64) * t).round() as u8;
    }
    o
}

/// One of `colors`, a little lighter or darker.
pub(super) fn pick_color(rng: &mut Rng, colors: &[[u8; 3]], amount: f64) -> [u8; 3] {
    let c = rng.pick(colors);
    jitter(rng, c, amount)
}

pub(super) fn jitter(rng: &mut Rng, c: [u8; 3], amount: f64) -> [u8; 3] {
    let k = rng.range(1.0 - amount, 1.0 + amount);
    scale(c, k)
}

pub(super) fn smoothstep(a: f64, b: f64, x: f64) -> f64 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl Look {
    pub(super) fn new(seed: u64) -> Look {
        let mut r = Rng::keyed(seed, stream::LOOK, 0);
        let skies = [
            ([200, 150, 95], [235, 215, 195]),
            ([175, 165, 160], [215, 210, 205]),
            ([210, 160, 110], [220, 215, 225]),
            ([160, 120, 90], [200, 200, 215]),
        ];
        let (top, hor) = r.pick(&skies);
        let grass = jitter(&mut r, [55, 125, 80], 0.15);
        let treeline = (0..=48).map(|_| r.range(0.008, 0.045)).collect();
        let clouds = (0..r.below(5) + 1)
            .map(|_| {
                [
                    r.range(0.0, 1.0),
                    r.range(0.03, 0.3),
                    r.range(0.03, 0.08),
                    r.range(-0.004, 0.004),
                ]
            })
            .collect();
        Look {
            sky: [jitter(&mut r, top, 0.08), jitter(&mut r, hor, 0.04)],
            grass: [scale(grass, 0.8), grass],
            asphalt: jitter(&mut r, [92, 90, 88], 0.12),
            sidewalk: jitter(&mut r, [165, 168, 170], 0.08),
            marking: jitter(&mut r, [232, 236, 236], 0.04),
            brightness: r.range(0.85, 1.05),
            drift: r.range(0.05, 0.12),
            drift_period: r.range(12.0, 30.0),
            drift_phase: r.range(0.0, TAU),
            tint: [
                r.range(0.03, 0.08),
                r.range(0.02, 0.05),
                r.range(0.03, 0.08),
            ],
            tint_period: r.range(15.0, 40.0),
            tint_phase: [r.range(0.0, TAU), r.range(0.0, TAU), r.range(0.0, TAU)],
            treeline,
            clouds,
            dash_phase: r.range(0.0, DASH_PERIOD),
            sway_phase: r.range(0.0, TAU),
        }
    }
}

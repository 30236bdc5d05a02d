//! What the camera sees of the world at an instant: the frame's drawing ([`View`]), flat parts in
//! order and standing things far to near.

use super::Scene;
use super::look::{jitter, mix, smoothstep};
use crate::sample::rng::{Rng, stream};
use crate::sample::shapes::{Billboard, person, vehicle};
use crate::sample::world::*;
use std::f64::consts::TAU;

impl Scene {
    fn camera(&self) -> Camera {
        let t = self.time();
        let (w, h) = (self.width, self.height);
        let pitch = 0.0025 * (TAU * 1.3 * t + self.look.sway_phase).sin()
            - 0.003 * (-self.ego_accel).clamp(0.0, 6.0);
        Camera {
            f: 0.78 * w,
            cx: w / 2.0,
            horizon: h * (0.45 + pitch),
            x: self.vehicles[0].x + self.sway(t).0,
            width: w,
            height: h,
        }
    }

    /// The camera's sway in its lane at `t`: position (m) and speed (m/s).
    pub(super) fn sway(&self, t: f64) -> (f64, f64) {
        let (a, w) = (0.15, TAU / 7.0);
        let ph = w * t + self.look.sway_phase;
        (a * ph.sin(), a * w * ph.cos())
    }

    /// The current frame's drawing.
    pub fn view(&self) -> View {
        let cam = self.camera();
        let cs = self.cam_s();
        let t = self.time();
        let look = &self.look;
        let mut flat = vec![];

        // Sky: clouds drifting, a treeline on the horizon.
        for c in &look.clouds {
            let u = ((c[0] + c[3] * t).rem_euclid(1.2) - 0.1) * cam.width;
            let v = cam.horizon * (1.0 - c[1] * 3.0).max(0.05);
            let r = c[2] * cam.width;
            let col = mix(look.sky[1], [250, 250, 250], 0.6);
            for (dx, dy, k) in [(-0.8, 0.2, 0.7), (0.8, 0.25, 0.65), (0.0, 0.0, 1.0)] {
                flat.push(Part {
                    shape: Shape::Circle {
                        c: [(u + dx * r) as f32, (v + dy * r) as f32],
                        r: (r * k * 0.6) as f32,
                    },
                    color: col,
                    class: crate::sample::CLASS_BACKGROUND,
                });
            }
        }
        let n = look.treeline.len() - 1;
        let tree_col = scale(look.grass[0], 0.55);
        for k in 0..n {
            let u0 = cam.width * k as f64 / n as f64;
            let u1 = cam.width * (k + 1) as f64 / n as f64;
            let base = (cam.horizon + 1.0) as f32;
            flat.push(Part {
                shape: Shape::Poly(vec![
                    [u0 as f32, base],
                    [
                        u0 as f32,
                        (cam.horizon - look.treeline[k] * cam.height) as f32,
                    ],
                    [
                        u1 as f32,
                        (cam.horizon - look.treeline[k + 1] * cam.height) as f32,
                    ],
                    [u1 as f32, base],
                ]),
                color: tree_col,
                class: crate::sample::CLASS_BACKGROUND,
            });
        }

        // The ground: sidewalks, road, patches, markings.
        let ground = |x0: f64, x1: f64, s0: f64, s1: f64| -> Option<Shape> {
            let z0 = (s0 - cs).max(Z_NEAR);
            let z1 = (s1 - cs).min(Z_FAR);
            if z1 <= z0 {
                return None;
            }
            cam.polygon(&[[x0, 0.0, z0], [x1, 0.0, z0], [x1, 0.0, z1], [x0, 0.0, z1]])
                .map(Shape::Poly)
        };
        let mut push = |shape: Option<Shape>, color: [u8; 3], class: u8| {
            if let Some(shape) = shape {
                flat.push(Part {
                    shape,
                    color,
                    class,
                });
            }
        };
        let (near, far) = (cs, cs + Z_FAR);
        for side in [-1.0, 1.0] {
            let (a, b) = (side * ROAD_HALF, side * SIDEWALK_OUT);
            push(
                ground(a.min(b), a.max(b), near, far),
                look.sidewalk,
                crate::sample::CLASS_BACKGROUND,
            );
            let (a, b) = (side * ROAD_HALF, side * (ROAD_HALF + 0.22));
            push(
                ground(a.min(b), a.max(b), near, far),
                scale(look.sidewalk, 1.12),
                crate::sample::CLASS_BACKGROUND,
            );
        }
        push(
            ground(-ROAD_HALF, ROAD_HALF, near, far),
            look.asphalt,
            crate::sample::CLASS_ROAD,
        );
        let first = (cs / STRETCH).floor() as i64;
        let last = ((cs + Z_DRAW) / STRETCH).ceil() as i64;
        for k in first..=last {
            let mut r = Rng::keyed(self.seed, stream::SCENERY, k as u64 ^ (1 << 62));
            for _ in 0..r.below(3) {
                let x = r.range(-ROAD_HALF + 0.3, ROAD_HALF - 2.0);
                let s = k as f64 * STRETCH + r.range(0.0, STRETCH);
                let (w, l) = (r.range(0.8, 2.5), r.range(1.5, 6.0));
                let tone = if r.chance(0.6) { 0.9 } else { 1.08 };
                push(
                    ground(x, x + w, s, s + l),
                    scale(look.asphalt, tone),
                    crate::sample::CLASS_ROAD,
                );
            }
        }
        for side in [-1.0, 1.0] {
            let x = side * EDGE_X;
            let (a, b) = (x, x - side * LINE_W);
            push(
                ground(a.min(b), a.max(b), near, far),
                look.marking,
                crate::sample::CLASS_LANE,
            );
        }
        let on_zebra = |s0: f64, s1: f64| {
            self.crossings
                .iter()
                .filter(|c| c.zebra)
                .any(|c| s1 > c.s - ZEBRA_HALF - 1.0 && s0 < c.s + ZEBRA_HALF + 1.0)
        };
        let k0 = ((cs - look.dash_phase) / DASH_PERIOD).floor() as i64;
        let k1 = ((cs + 300.0 - look.dash_phase) / DASH_PERIOD).ceil() as i64;
        for k in k0..=k1 {
            let s0 = look.dash_phase + k as f64 * DASH_PERIOD;
            if on_zebra(s0, s0 + DASH) {
                continue;
            }
            for x in [-LANE_W / 2.0, LANE_W / 2.0] {
                push(
                    ground(x - LINE_W / 2.0, x + LINE_W / 2.0, s0, s0 + DASH),
                    look.marking,
                    crate::sample::CLASS_LANE,
                );
            }
        }
        for c in self.crossings.iter().filter(|c| c.zebra) {
            if c.s + ZEBRA_HALF < cs || c.s - ZEBRA_HALF > cs + Z_DRAW {
                continue;
            }
            let mut x = -EDGE_X + 0.25;
            while x + 0.5 <= EDGE_X {
                push(
                    ground(x, x + 0.5, c.s - ZEBRA_HALF, c.s + ZEBRA_HALF),
                    look.marking,
                    crate::sample::CLASS_LANE,
                );
                x += 1.0;
            }
            push(
                ground(
                    -EDGE_X,
                    EDGE_X,
                    c.s - ZEBRA_HALF - STOP_BEFORE,
                    c.s - ZEBRA_HALF - STOP_BEFORE + 0.3,
                ),
                look.marking,
                crate::sample::CLASS_LANE,
            );
        }

        // Bridge decks: above everything that stands on the road, so drawn before it.
        let mut shadow_rows = vec![];
        let mut standing = vec![];
        for b in &self.bridges {
            let (z0, z1) = (b.s - cs, b.s + BRIDGE_LEN - cs);
            if z1 < Z_NEAR || z0 > Z_DRAW {
                continue;
            }
            let concrete = scale(look.sidewalk, 0.85);
            let (y0, y1) = (BRIDGE_CLEAR, BRIDGE_CLEAR + BRIDGE_DECK);
            push(
                cam.polygon(&[
                    [-30.0, y0, z0],
                    [30.0, y0, z0],
                    [30.0, y0, z1],
                    [-30.0, y0, z1],
                ])
                .map(Shape::Poly),
                scale(concrete, 0.45),
                crate::sample::CLASS_BACKGROUND,
            );
            push(
                cam.polygon(&[
                    [-30.0, y0, z0],
                    [30.0, y0, z0],
                    [30.0, y1, z0],
                    [-30.0, y1, z0],
                ])
                .map(Shape::Poly),
                concrete,
                crate::sample::CLASS_BACKGROUND,
            );
            // The shadow on the ground, as rows of the frame.
            let (g0, g1) = ((z0 - 1.0).max(Z_NEAR), z1 + 1.0);
            let top = cam.project([0.0, 0.0, g1])[1];
            let bottom = cam.project([0.0, 0.0, g0])[1];
            shadow_rows.push([top, bottom]);
            for side in [-1.0, 1.0] {
                let (xa, xb) = (side * 8.8, side * 9.8);
                let mut parts = vec![];
                let inner = [
                    [xa, 0.0, z0 + 1.0],
                    [xa, 0.0, z1 - 1.0],
                    [xa, y0, z1 - 1.0],
                    [xa, y0, z0 + 1.0],
                ];
                if let Some(p) = cam.polygon(&inner) {
                    parts.push(Part {
                        shape: Shape::Poly(p),
                        color: scale(concrete, 0.7),
                        class: crate::sample::CLASS_BACKGROUND,
                    });
                }
                let front = [
                    [xa, 0.0, z0 + 1.0],
                    [xb, 0.0, z0 + 1.0],
                    [xb, y0, z0 + 1.0],
                    [xa, y0, z0 + 1.0],
                ];
                if let Some(p) = cam.polygon(&front) {
                    parts.push(Part {
                        shape: Shape::Poly(p),
                        color: concrete,
                        class: crate::sample::CLASS_BACKGROUND,
                    });
                }
                if !parts.is_empty() {
                    standing.push(Item {
                        object: None,
                        depth: z0 + 1.0,
                        parts,
                        shaded: false,
                    });
                }
            }
        }
        let in_shadow = |z: f64| {
            self.bridges
                .iter()
                .any(|b| z + cs > b.s - 1.0 && z + cs < b.s + BRIDGE_LEN + 1.0)
        };

        // Scenery: trees and street lights.
        for k in first..=last {
            let mut r = Rng::keyed(self.seed, stream::SCENERY, k as u64);
            for _ in 0..r.below(4) {
                let side = if r.chance(0.5) { 1.0 } else { -1.0 };
                let x = side * r.range(SIDEWALK_OUT + 1.0, SIDEWALK_OUT + 9.0);
                let s = k as f64 * STRETCH + r.range(0.0, STRETCH);
                let trunk = r.range(2.0, 3.5);
                let crown = r.range(1.3, 2.4);
                let green = jitter(&mut r, scale(look.grass[1], 0.75), 0.15);
                let z = s - cs;
                if !(1.0..=Z_DRAW).contains(&z) {
                    continue;
                }
                let bb = Billboard::new(&cam, x, z);
                let mut parts = vec![bb.quad(
                    [
                        (-0.16, 0.0),
                        (0.16, 0.0),
                        (0.12, trunk + 0.3),
                        (-0.12, trunk + 0.3),
                    ],
                    [40, 60, 90],
                    crate::sample::CLASS_BACKGROUND,
                )];
                for (dx, dy, k) in [(-0.5, 0.4, 0.75), (0.5, 0.45, 0.7), (0.0, 0.75, 1.0)] {
                    parts.push(bb.circle(
                        (dx * crown, trunk + dy * crown),
                        crown * k,
                        scale(green, 0.85 + 0.2 * k),
                        crate::sample::CLASS_BACKGROUND,
                    ));
                }
                standing.push(Item {
                    object: None,
                    depth: z,
                    parts,
                    shaded: in_shadow(z),
                });
            }
            if r.chance(0.6) {
                let side = if r.chance(0.5) { 1.0 } else { -1.0 };
                let x = side * (SIDEWALK_OUT - 0.3);
                let z = k as f64 * STRETCH + r.range(0.0, STRETCH) - cs;
                if (1.0..=Z_DRAW).contains(&z) {
                    let bb = Billboard::new(&cam, x, z);
                    let gray = [120, 120, 125];
                    let arm = -side * 1.8;
                    let (a0, a1) = (arm.min(0.0), arm.max(0.0));
                    standing.push(Item {
                        object: None,
                        depth: z,
                        parts: vec![
                            bb.quad(
                                [(-0.09, 0.0), (0.09, 0.0), (0.06, 7.6), (-0.06, 7.6)],
                                gray,
                                crate::sample::CLASS_BACKGROUND,
                            ),
                            bb.quad(
                                [(a0, 7.4), (a1, 7.4), (a1, 7.55), (a0, 7.55)],
                                gray,
                                crate::sample::CLASS_BACKGROUND,
                            ),
                        ],
                        shaded: in_shadow(z),
                    });
                }
            }
        }

        // Vehicles and people.
        for v in &self.vehicles[1..] {
            if let Some(mut item) = vehicle(&cam, v, cs) {
                item.shaded = in_shadow(item.depth);
                standing.push(item);
            }
        }
        for p in &self.people {
            if let Some(mut item) = person(&cam, p, cs) {
                item.shaded = in_shadow(item.depth);
                standing.push(item);
            }
        }
        standing.sort_by(|a, b| {
            b.depth
                .partial_cmp(&a.depth)
                .expect("finite depths")
                .then_with(|| a.object.map(|o| o.id).cmp(&b.object.map(|o| o.id)))
        });

        // Light: a slow drift in brightness and colour, darker under a bridge.
        let under = self
            .bridges
            .iter()
            .map(|b| {
                smoothstep(b.s - 8.0, b.s + 2.0, cs)
                    * (1.0 - smoothstep(b.s + BRIDGE_LEN - 2.0, b.s + BRIDGE_LEN + 8.0, cs))
            })
            .fold(0.0, f64::max);
        let g = (look.brightness
            + look.drift * (TAU * t / look.drift_period + look.drift_phase).sin())
            * (1.0 - 0.35 * under);
        let mut gain = [g; 3];
        for (c, gc) in gain.iter_mut().enumerate() {
            *gc *= 1.0 + look.tint[c] * (TAU * t / look.tint_period + look.tint_phase[c]).sin();
        }

        View {
            camera: cam,
            sky: look.sky,
            grass: look.grass,
            flat,
            standing,
            shadow_rows,
            shadow: 0.55,
            gain,
        }
    }
}

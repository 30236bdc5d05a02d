//! How things look: a vehicle as the faces of its body seen from behind (its flank towards the
//! camera, then its rear, with windows, lights, tyres), a person as a flat figure with limbs that
//! swing as they walk. Everything in screen space, projected through the frame's [`Camera`].

use super::world::{
    Camera, Item, Kind, ObjectRef, Part, Person, Shape, Vehicle, Walk, Z_DRAW, Z_NEAR, scale,
};
use std::f64::consts::TAU;

const GLASS: [u8; 3] = [75, 60, 45];
const TYRE: [u8; 3] = [25, 25, 28];
const TAIL: [u8; 3] = [40, 30, 190];

/// A flat upright figure at one depth: offsets in metres (right, up) from its foot point.
pub(super) struct Billboard {
    foot: [f64; 2],
    k: f64,
}

impl Billboard {
    pub(super) fn new(cam: &Camera, x: f64, z: f64) -> Billboard {
        let p = cam.project([x, 0.0, z]);
        Billboard {
            foot: [p[0] as f64, p[1] as f64],
            k: cam.f / z,
        }
    }

    fn at(&self, (dx, y): (f64, f64)) -> [f32; 2] {
        [
            (self.foot[0] + dx * self.k) as f32,
            (self.foot[1] - y * self.k) as f32,
        ]
    }

    pub(super) fn quad(&self, pts: [(f64, f64); 4], color: [u8; 3], class: u8) -> Part {
        Part {
            shape: Shape::Poly(pts.iter().map(|&p| self.at(p)).collect()),
            color,
            class,
        }
    }

    pub(super) fn circle(&self, c: (f64, f64), r: f64, color: [u8; 3], class: u8) -> Part {
        Part {
            shape: Shape::Circle {
                c: self.at(c),
                r: (r * self.k) as f32,
            },
            color,
            class,
        }
    }
}

/// A vehicle seen from behind: its side towards the camera, then its rear.
pub(super) fn vehicle(cam: &Camera, v: &Vehicle, cs: f64) -> Option<Item> {
    let z0 = v.s - cs;
    let (len, w, h) = (v.len, v.w, v.h);
    if z0 + len < Z_NEAR + 0.2 || z0 > Z_DRAW {
        return None;
    }
    let xl = v.x - w / 2.0;
    let xr = xl + w;
    let xc = v.x;
    let class = super::CLASS_VEHICLE;
    let mut parts = vec![];
    let mut add = |pts: &[[f64; 3]], color: [u8; 3]| {
        if let Some(p) = cam.polygon(pts) {
            parts.push(Part {
                shape: Shape::Poly(p),
                color,
                class,
            });
        }
    };
    // Faces in local coordinates: rear at z0, x across, y up, z along.
    let rear = |xa: f64, xb: f64, ya: f64, yb: f64, dz: f64| {
        let z = z0 + dz;
        [[xa, ya, z], [xb, ya, z], [xb, yb, z], [xa, yb, z]]
    };
    let side = |x: f64, pts: &[(f64, f64)]| -> Vec<[f64; 3]> {
        pts.iter().map(|&(dz, y)| [x, y, z0 + dz]).collect()
    };
    let rect = |za: f64, zb: f64, ya: f64, yb: f64| [(za, ya), (zb, ya), (zb, yb), (za, yb)];
    let wheel = |x: f64, zc: f64, r: f64| -> Vec<[f64; 3]> {
        (0..10)
            .map(|k| {
                let a = TAU * k as f64 / 10.0;
                [x, r + r * a.sin(), z0 + zc + r * a.cos()]
            })
            .collect()
    };
    let body = v.color;
    let flank = scale(body, 0.78);
    let sx = if xl > cam.x {
        Some(xl)
    } else if xr < cam.x {
        Some(xr)
    } else {
        None
    };
    let mirror = |xa: f64, xb: f64| [(xl + xa, xl + xb), (xr - xb, xr - xa)];
    match v.kind {
        Kind::Car => {
            for (a, b) in mirror(0.12, 0.4) {
                add(&rear(a, b, 0.0, 0.35, 0.6), TYRE);
            }
            if let Some(x) = sx {
                add(
                    &side(
                        x,
                        &[
                            (0.0, 0.3),
                            (len, 0.3),
                            (len, 0.75),
                            (len - 0.9, 0.95),
                            (0.2, 0.95),
                            (0.0, 0.8),
                        ],
                    ),
                    flank,
                );
                add(
                    &side(
                        x,
                        &[(0.6, 0.95), (len - 1.5, 0.95), (len - 2.3, h), (1.2, h)],
                    ),
                    flank,
                );
                add(
                    &side(
                        x,
                        &[
                            (0.8, 1.0),
                            (len - 1.65, 1.0),
                            (len - 2.35, h - 0.07),
                            (1.3, h - 0.07),
                        ],
                    ),
                    GLASS,
                );
                add(&wheel(x, 0.85, 0.32), TYRE);
                add(&wheel(x, len - 0.95, 0.32), TYRE);
            }
            let z = z0 + 0.6;
            add(
                &[
                    [xl + 0.08, 0.95, z],
                    [xr - 0.08, 0.95, z],
                    [xr - 0.2 * w, h, z],
                    [xl + 0.2 * w, h, z],
                ],
                body,
            );
            add(
                &[
                    [xl + 0.18, 1.0, z],
                    [xr - 0.18, 1.0, z],
                    [xr - 0.24 * w, h - 0.07, z],
                    [xl + 0.24 * w, h - 0.07, z],
                ],
                GLASS,
            );
            add(
                &[
                    [xl + 0.04, 0.95, z0],
                    [xr - 0.04, 0.95, z0],
                    [xr - 0.06, 0.95, z],
                    [xl + 0.06, 0.95, z],
                ],
                scale(body, 1.1),
            );
            add(&rear(xl, xr, 0.3, 0.95, 0.0), body);
            add(&rear(xl, xr, 0.3, 0.45, 0.0), scale(body, 0.55));
            for (a, b) in mirror(0.06, 0.4) {
                add(&rear(a, b, 0.72, 0.88, 0.0), TAIL);
            }
            add(&rear(xc - 0.26, xc + 0.26, 0.5, 0.62, 0.0), [225, 230, 230]);
        }
        Kind::Truck => {
            for (a, b) in mirror(0.15, 0.75) {
                add(&rear(a, b, 0.0, 1.0, 0.9), TYRE);
            }
            if let Some(x) = sx {
                add(&side(x, &rect(0.3, len - 0.3, 0.5, 1.05)), [45, 45, 48]);
                add(&side(x, &rect(0.0, len - 2.6, 1.05, h)), flank);
                add(
                    &side(
                        x,
                        &[
                            (len - 2.4, 0.6),
                            (len, 0.6),
                            (len, 2.5),
                            (len - 0.3, 3.0),
                            (len - 2.4, 3.0),
                        ],
                    ),
                    scale(v.accent, 0.8),
                );
                add(
                    &side(
                        x,
                        &[
                            (len - 1.4, 1.9),
                            (len - 0.15, 1.9),
                            (len - 0.35, 2.75),
                            (len - 1.4, 2.75),
                        ],
                    ),
                    GLASS,
                );
                for zc in [1.2, 2.4, len - 1.7] {
                    add(&wheel(x, zc, 0.5), TYRE);
                }
            }
            add(&rear(xl + 0.3, xr - 0.3, 0.65, 1.05, 0.5), [35, 35, 38]);
            add(&rear(xl + 0.2, xr - 0.2, 0.45, 0.65, 0.0), [50, 50, 55]);
            for (a, b) in mirror(0.1, 0.35) {
                add(&rear(a, b, 0.48, 0.62, -0.01), TAIL);
            }
            add(&rear(xl, xr, 1.05, h, 0.0), body);
            add(
                &rear(xc - 0.025, xc + 0.025, 1.1, h - 0.05, -0.01),
                scale(body, 0.6),
            );
            for y in [1.7, 2.6] {
                add(
                    &rear(xl + 0.05, xr - 0.05, y, y + 0.04, -0.01),
                    scale(body, 0.7),
                );
            }
        }
        // A bus (people are not vehicles).
        _ => {
            for (a, b) in mirror(0.15, 0.65) {
                add(&rear(a, b, 0.0, 0.45, 2.6), TYRE);
            }
            if let Some(x) = sx {
                add(&side(x, &rect(0.0, len, 0.35, h)), flank);
                add(&side(x, &rect(0.0, len, 0.9, 1.05)), scale(v.accent, 0.8));
                let mut z = 1.2;
                while z + 1.2 < len - 0.8 {
                    add(&side(x, &rect(z, z + 1.2, 1.35, h - 0.35)), GLASS);
                    z += 1.4;
                }
                add(&side(x, &rect(len - 0.6, len, 1.0, h - 0.3)), GLASS);
                for zc in [2.6, len - 2.9] {
                    add(&wheel(x, zc, 0.5), TYRE);
                }
            }
            add(&rear(xl, xr, 0.35, h, 0.0), body);
            add(&rear(xl + 0.25, xr - 0.25, h * 0.62, h - 0.2, -0.01), GLASS);
            add(&rear(xl, xr, 0.35, 0.55, -0.01), [45, 45, 48]);
            for (a, b) in mirror(0.08, 0.3) {
                add(&rear(a, b, 0.7, 1.3, -0.01), TAIL);
            }
        }
    }
    (!parts.is_empty()).then(|| Item {
        object: Some(ObjectRef {
            id: v.id,
            kind: v.kind,
        }),
        depth: z0.max(Z_NEAR),
        parts,
        shaded: false,
    })
}

/// A person: from the side while crossing or waiting, from the front or back on the sidewalk.
pub(super) fn person(cam: &Camera, p: &Person, cs: f64) -> Option<Item> {
    let z = p.s - cs;
    if !(1.0..=Z_DRAW).contains(&z) {
        return None;
    }
    let bb = Billboard::new(cam, p.x, z);
    let h = p.h;
    let r = 0.115 * h / 1.75;
    let class = super::CLASS_PERSON;
    let mut parts = vec![];
    let (legs, arms) = (p.pants, scale(p.shirt, 0.85));
    match p.walk {
        Walk::Along(dir) => {
            let lift = 0.07 * h / 1.75;
            let (l, rr) = (
                lift * p.phase.sin().max(0.0),
                lift * (-p.phase.sin()).max(0.0),
            );
            for (x, y) in [(-0.09, l), (0.09, rr)] {
                parts.push(bb.quad(
                    [
                        (x - 0.07, 0.5 * h),
                        (x + 0.07, 0.5 * h),
                        (x + 0.06, y),
                        (x - 0.06, y),
                    ],
                    legs,
                    class,
                ));
            }
            for s in [-1.0, 1.0] {
                parts.push(bb.quad(
                    [
                        (s * 0.19, 0.81 * h),
                        (s * 0.26, 0.8 * h),
                        (s * 0.27, 0.47 * h),
                        (s * 0.2, 0.47 * h),
                    ],
                    arms,
                    class,
                ));
            }
            parts.push(bb.quad(
                [
                    (-0.17, 0.48 * h),
                    (0.17, 0.48 * h),
                    (0.21, 0.82 * h),
                    (-0.21, 0.82 * h),
                ],
                p.shirt,
                class,
            ));
            if dir > 0.0 {
                // Walking away: the back of the head.
                parts.push(bb.circle((0.0, h - r), r, p.hair, class));
            } else {
                parts.push(bb.circle((0.0, h - r * 0.8), r * 0.95, p.hair, class));
                parts.push(bb.circle((0.0, h - r * 1.1), r * 0.85, p.skin, class));
            }
        }
        Walk::Waiting { .. } | Walk::Crossing { .. } => {
            let (d, swing) = match p.walk {
                Walk::Crossing { target, .. } => {
                    ((target - p.x).signum(), 0.26 * h / 1.75 * p.phase.sin())
                }
                _ => (-p.x.signum(), 0.0),
            };
            let leg = |fx: f64, color| {
                bb.quad(
                    [
                        (-0.065, 0.5 * h),
                        (0.065, 0.5 * h),
                        (fx + 0.065, 0.0),
                        (fx - 0.065, 0.0),
                    ],
                    color,
                    class,
                )
            };
            let arm = |hx: f64, color| {
                bb.quad(
                    [
                        (-0.045, 0.8 * h),
                        (0.045, 0.8 * h),
                        (hx + 0.04, 0.46 * h),
                        (hx - 0.04, 0.46 * h),
                    ],
                    color,
                    class,
                )
            };
            parts.push(leg(-swing * d, scale(legs, 0.8)));
            parts.push(arm(swing * 0.8 * d, scale(arms, 0.8)));
            parts.push(bb.quad(
                [
                    (-0.12, 0.48 * h),
                    (0.12, 0.48 * h),
                    (0.13, 0.82 * h),
                    (-0.13, 0.82 * h),
                ],
                p.shirt,
                class,
            ));
            parts.push(leg(swing * d, legs));
            parts.push(arm(-swing * 0.8 * d, arms));
            parts.push(bb.circle((-0.02 * d, h - r * 0.85), r * 0.95, p.hair, class));
            parts.push(bb.circle((0.03 * d, h - r * 1.1), r * 0.85, p.skin, class));
        }
    }
    // Wholly outside the frame: nothing to draw.
    let b = Part::bounds_of(&parts);
    if b[2] < 0.0 || b[0] > cam.width as f32 || b[3] < 0.0 || b[1] > cam.height as f32 {
        return None;
    }
    Some(Item {
        object: Some(ObjectRef {
            id: p.id,
            kind: Kind::Person,
        }),
        depth: z,
        parts,
        shaded: false,
    })
}

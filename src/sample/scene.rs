//! The world of a sample drive and what the camera sees of it.
//!
//! A straight three-lane road (the ego car in the middle lane) with sidewalks, trees, street
//! lights, zebra crossings and the odd bridge. Traffic follows the intelligent driver model in
//! each lane: cars, trucks and buses overtake the ego car and are overtaken, and stop in front of
//! a crossing while people walk over it in their lane. People wait at crossings and cross when
//! the ego car comes near, or walk along the sidewalks. The light drifts slowly in brightness and
//! colour and dims under a bridge, whose shadow darkens the road and the objects in it.
//!
//! The world advances in fixed steps of 1/[`SIM_HZ`] s whatever the frame rate, and every random
//! choice comes from streams keyed by the seed ([`Rng::keyed`]): one seed is one drive, and two
//! frame rates that divide [`SIM_HZ`] sample the same drive.
//!
//! [`Scene::view`] gives the frame's drawing: screen-space polygons and circles with colours and
//! classes, the flat ones (sky, ground, road markings, bridge decks) in order, the standing ones
//! (vehicles, people, trees, poles, pillars) far to near, each person and vehicle with its id.

use super::rng::Rng;
use super::shapes::{Billboard, person, vehicle};
use std::f64::consts::TAU;

/// World steps per second; frame rates that divide it sample the same drive.
pub const SIM_HZ: u64 = 600;
const DT: f64 = 1.0 / SIM_HZ as f64;

// Road geometry, in metres: x to the right, y up, s along the road (the camera looks along +s).
const LANE_W: f64 = 3.5;
pub(super) const LANES: [f64; 3] = [-LANE_W, 0.0, LANE_W];
const EGO_LANE: usize = 1;
/// Dashed lines between lanes at +-1.75 m, solid edge lines inside +-5.25 m.
const EDGE_X: f64 = 1.5 * LANE_W;
const LINE_W: f64 = 0.15;
const DASH: f64 = 3.0;
const DASH_PERIOD: f64 = 12.0;
/// Asphalt (lanes plus a shoulder) out to here; then the curb and the sidewalk.
const ROAD_HALF: f64 = EDGE_X + 0.5;
const SIDEWALK_OUT: f64 = ROAD_HALF + 2.6;
/// Half the length of a zebra crossing along the road; the stop line is before it.
const ZEBRA_HALF: f64 = 2.0;
const STOP_BEFORE: f64 = 3.5;

/// The camera: its height above the road, and where it sits in the ego car (from its rear).
const CAM_H: f64 = 1.35;
const EGO_LEN: f64 = 4.5;
const CAM_IN_EGO: f64 = 3.2;
/// Nothing nearer than this is drawn (polygons are clipped there).
pub(super) const Z_NEAR: f64 = 0.5;
/// The road is drawn out to here (sub-pixel at the horizon).
const Z_FAR: f64 = 2000.0;
/// Standing objects farther than this are not drawn.
pub(super) const Z_DRAW: f64 = 250.0;
/// Traffic lives from this far behind the camera to this far ahead.
const BEHIND: f64 = 50.0;
const AHEAD: f64 = 240.0;

// The intelligent driver model.
const IDM_ACCEL: f64 = 1.4;
const IDM_BRAKE: f64 = 2.5;
const IDM_GAP: f64 = 2.5;
const IDM_HEADWAY: f64 = 1.3;
const MAX_BRAKE: f64 = 9.0;
/// A driver stops for a crossing when that needs at most this deceleration; else drives on.
const STOP_DECEL: f64 = 6.0;

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Car,
    Truck,
    Bus,
    Person,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Car, Kind::Truck, Kind::Bus, Kind::Person];

    /// The detection label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Car => "car",
            Kind::Truck => "truck",
            Kind::Bus => "bus",
            Kind::Person => "person",
        }
    }

    /// The class-map index of its pixels.
    pub fn class(self) -> u8 {
        match self {
            Kind::Person => super::CLASS_PERSON,
            _ => super::CLASS_VEHICLE,
        }
    }

    /// The MOTChallenge class column: COCO's category id (person 1, car 3, bus 6, truck 8),
    /// which agrees with MOT17's pedestrian 1 and car 3.
    pub fn mot_class(self) -> u32 {
        match self {
            Kind::Person => 1,
            Kind::Car => 3,
            Kind::Bus => 6,
            Kind::Truck => 8,
        }
    }
}

/// A pinhole camera over the road.
#[derive(Debug, Clone, Copy)]
pub struct Camera {
    /// Focal length in pixels.
    pub f: f64,
    pub cx: f64,
    /// The horizon's row (moves with the car's pitch).
    pub horizon: f64,
    /// Lateral position in the lane (the car sways a little).
    pub x: f64,
    pub width: f64,
    pub height: f64,
}

impl Camera {
    /// A point `(x, y, z)`, z metres ahead of the camera (`z >= Z_NEAR`), to pixels.
    pub fn project(&self, p: [f64; 3]) -> [f32; 2] {
        [
            (self.cx + self.f * (p[0] - self.x) / p[2]) as f32,
            (self.horizon + self.f * (CAM_H - p[1]) / p[2]) as f32,
        ]
    }

    /// Clips a planar polygon to `z >= Z_NEAR` and projects it; None when nothing is left or it
    /// lies wholly outside the frame.
    pub(super) fn polygon(&self, pts: &[[f64; 3]]) -> Option<Vec<[f32; 2]>> {
        let mut out = Vec::with_capacity(pts.len() + 2);
        for (i, &a) in pts.iter().enumerate() {
            let b = pts[(i + 1) % pts.len()];
            let (ina, inb) = (a[2] >= Z_NEAR, b[2] >= Z_NEAR);
            if ina {
                out.push(self.project(a));
            }
            if ina != inb {
                let t = (Z_NEAR - a[2]) / (b[2] - a[2]);
                out.push(self.project([
                    a[0] + t * (b[0] - a[0]),
                    a[1] + t * (b[1] - a[1]),
                    Z_NEAR,
                ]));
            }
        }
        if out.len() < 3 {
            return None;
        }
        let (w, h) = (self.width as f32, self.height as f32);
        let all = |f: &dyn Fn(&[f32; 2]) -> bool| out.iter().all(f);
        if all(&|p| p[0] < 0.0) || all(&|p| p[0] > w) || all(&|p| p[1] < 0.0) || all(&|p| p[1] > h)
        {
            return None;
        }
        Some(out)
    }
}

/// A screen-space shape (pixels).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A convex polygon.
    Poly(Vec<[f32; 2]>),
    Circle {
        c: [f32; 2],
        r: f32,
    },
}

impl Shape {
    /// `[x0, y0, x1, y1]` around the shape.
    pub fn bounds(&self) -> [f32; 4] {
        match self {
            Shape::Poly(p) => p.iter().fold(
                [f32::MAX, f32::MAX, f32::MIN, f32::MIN],
                |[a, b, c, d], q| [a.min(q[0]), b.min(q[1]), c.max(q[0]), d.max(q[1])],
            ),
            Shape::Circle { c, r } => [c[0] - r, c[1] - r, c[0] + r, c[1] + r],
        }
    }
}

/// One shape with its colour (BGR) and class-map index.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub shape: Shape,
    pub color: [u8; 3],
    pub class: u8,
}

impl Part {
    /// `[x0, y0, x1, y1]` around all of `parts`.
    pub fn bounds_of(parts: &[Part]) -> [f32; 4] {
        parts
            .iter()
            .fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |a, p| {
                let q = p.shape.bounds();
                [
                    a[0].min(q[0]),
                    a[1].min(q[1]),
                    a[2].max(q[2]),
                    a[3].max(q[3]),
                ]
            })
    }
}

/// A person or a vehicle, as the ground truth names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef {
    /// Stable over the drive, from 1.
    pub id: u64,
    pub kind: Kind,
}

/// A standing thing: its parts are drawn in order, after everything farther away.
#[derive(Debug, Clone)]
pub struct Item {
    /// None for scenery (trees, poles, pillars).
    pub object: Option<ObjectRef>,
    /// Distance of its nearest point (m), for the drawing order.
    pub depth: f64,
    pub parts: Vec<Part>,
    /// In a bridge's shadow.
    pub shaded: bool,
}

/// One frame's drawing.
#[derive(Debug, Clone)]
pub struct View {
    pub camera: Camera,
    /// Sky colour at the top and at the horizon; ground colour at the horizon and at the bottom
    /// (BGR). Everything not drawn over is sky or grass: background.
    pub sky: [[u8; 3]; 2],
    pub grass: [[u8; 3]; 2],
    /// Drawn first, in order: clouds, treeline, sidewalks, road, markings, bridge decks.
    pub flat: Vec<Part>,
    /// Far to near.
    pub standing: Vec<Item>,
    /// Row ranges `[top, bottom)` of the road in a bridge's shadow.
    pub shadow_rows: Vec<[f32; 2]>,
    /// How much darker the shadow is (a factor).
    pub shadow: f64,
    /// The global light: a gain per channel (BGR).
    pub gain: [f64; 3],
}

#[derive(Debug, Clone)]
pub(super) struct Vehicle {
    /// 0 for the ego car (never drawn).
    pub(super) id: u64,
    pub(super) kind: Kind,
    pub(super) lane: usize,
    /// Rear end, along the road.
    pub(super) s: f64,
    pub(super) len: f64,
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) v: f64,
    /// Desired speed.
    pub(super) v0: f64,
    pub(super) color: [u8; 3],
    /// Bus stripe, truck cab.
    pub(super) accent: [u8; 3],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Walk {
    /// Along the sidewalk, +1 (away from the camera) or -1.
    Along(f64),
    /// At the curb of crossing `crossing` until it is triggered, then `delay` s more.
    Waiting { crossing: usize, delay: f64 },
    /// Over the road to `target` (x), then along the sidewalk in direction `then`.
    Crossing {
        crossing: usize,
        target: f64,
        then: f64,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) id: u64,
    pub(super) x: f64,
    pub(super) s: f64,
    pub(super) h: f64,
    pub(super) speed: f64,
    pub(super) walk: Walk,
    /// Gait phase (radians).
    pub(super) phase: f64,
    pub(super) shirt: [u8; 3],
    pub(super) pants: [u8; 3],
    pub(super) skin: [u8; 3],
    pub(super) hair: [u8; 3],
}

#[derive(Debug, Clone)]
struct Crossing {
    s: f64,
    /// People start crossing when the camera is this close.
    trigger: f64,
    triggered_at: Option<f64>,
    peopled: bool,
}

#[derive(Debug, Clone)]
struct Bridge {
    s: f64,
}

/// Streams of the seed, one per purpose.
mod stream {
    pub const TRAFFIC: u64 = 1;
    pub const LOOK: u64 = 2;
    pub const SCENERY: u64 = 3;
    pub const CROSSINGS: u64 = 4;
    pub const BRIDGES: u64 = 5;
    pub const GROUP: u64 = 6;
}

const BRIDGE_LEN: f64 = 10.0;
const BRIDGE_CLEAR: f64 = 5.2;
const BRIDGE_DECK: f64 = 1.4;
/// Scenery is generated per stretch of road of this length.
const STRETCH: f64 = 40.0;

/// The seed's look: colours and light.
#[derive(Debug, Clone)]
struct Look {
    sky: [[u8; 3]; 2],
    grass: [[u8; 3]; 2],
    asphalt: [u8; 3],
    sidewalk: [u8; 3],
    marking: [u8; 3],
    brightness: f64,
    drift: f64,
    drift_period: f64,
    drift_phase: f64,
    tint: [f64; 3],
    tint_period: f64,
    tint_phase: [f64; 3],
    treeline: Vec<f64>,
    clouds: Vec<[f64; 4]>,
    dash_phase: f64,
    sway_phase: f64,
}

/// The world of one drive.
pub struct Scene {
    seed: u64,
    width: f64,
    height: f64,
    step: u64,
    rng: Rng,
    look: Look,
    /// `vehicles[0]` is the ego car.
    vehicles: Vec<Vehicle>,
    /// The ego car's acceleration, smoothed over 0.4 s (the camera pitches with it).
    ego_accel: f64,
    people: Vec<Person>,
    crossings: Vec<Crossing>,
    crossing_rng: Rng,
    bridges: Vec<Bridge>,
    bridge_rng: Rng,
    next_id: u64,
}

const CAR_COLORS: [[u8; 3]; 10] = [
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
const TRUCK_COLORS: [[u8; 3]; 5] = [
    [240, 240, 240],
    [200, 200, 195],
    [160, 90, 40],
    [50, 50, 170],
    [70, 140, 70],
];
const BUS_COLORS: [[u8; 3]; 5] = [
    [40, 190, 235],
    [40, 40, 200],
    [170, 100, 30],
    [235, 235, 235],
    [60, 150, 60],
];
const SHIRTS: [[u8; 3]; 10] = [
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
const PANTS: [[u8; 3]; 5] = [
    [90, 50, 30],
    [40, 40, 40],
    [140, 140, 140],
    [70, 90, 110],
    [30, 30, 80],
];
const SKINS: [[u8; 3]; 5] = [
    [170, 200, 240],
    [140, 175, 225],
    [100, 140, 190],
    [70, 100, 150],
    [50, 70, 110],
];
const HAIRS: [[u8; 3]; 4] = [[20, 20, 25], [30, 50, 90], [60, 120, 180], [170, 170, 170]];

pub(super) fn scale(c: [u8; 3], k: f64) -> [u8; 3] {
    c.map(|v| (v as f64 * k).round().clamp(0.0, 255.0) as u8)
}

fn mix(a: [u8; 3], b: [u8; 3], t: f64) -> [u8; 3] {
    let mut o = [0u8; 3];
    for i in 0..3 {
        o[i] = (a[i] as f64 + (b[i] as f64 - a[i] as f64) * t).round() as u8;
    }
    o
}

/// One of `colors`, a little lighter or darker.
fn pick_color(rng: &mut Rng, colors: &[[u8; 3]], amount: f64) -> [u8; 3] {
    let c = rng.pick(colors);
    jitter(rng, c, amount)
}

fn jitter(rng: &mut Rng, c: [u8; 3], amount: f64) -> [u8; 3] {
    let k = rng.range(1.0 - amount, 1.0 + amount);
    scale(c, k)
}

fn smoothstep(a: f64, b: f64, x: f64) -> f64 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl Look {
    fn new(seed: u64) -> Look {
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

impl Scene {
    /// The drive of `seed` seen by a `width` x `height` camera, at its first instant.
    pub fn new(seed: u64, width: u32, height: u32) -> Scene {
        let mut rng = Rng::keyed(seed, stream::TRAFFIC, 0);
        let ego_v0 = rng.range(10.0, 14.0);
        let ego = Vehicle {
            id: 0,
            kind: Kind::Car,
            lane: EGO_LANE,
            s: -CAM_IN_EGO,
            len: EGO_LEN,
            w: 1.8,
            h: 1.45,
            v: ego_v0 * 0.9,
            v0: ego_v0,
            color: [0, 0, 0],
            accent: [0, 0, 0],
        };
        let mut scene = Scene {
            seed,
            width: width as f64,
            height: height as f64,
            step: 0,
            rng,
            look: Look::new(seed),
            vehicles: vec![ego],
            ego_accel: 0.0,
            people: vec![],
            crossings: vec![],
            crossing_rng: Rng::keyed(seed, stream::CROSSINGS, 0),
            bridges: vec![],
            bridge_rng: Rng::keyed(seed, stream::BRIDGES, 0),
            next_id: 1,
        };
        scene.populate();
        scene
    }

    /// Seconds since the first frame.
    pub fn time(&self) -> f64 {
        self.step as f64 * DT
    }

    /// Advances the world to `t_steps` world steps (1/[`SIM_HZ`] s each) from the start.
    pub fn advance_to(&mut self, t_steps: u64) {
        while self.step < t_steps {
            self.tick();
        }
    }

    fn cam_s(&self) -> f64 {
        self.vehicles[0].s + CAM_IN_EGO
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn random_vehicle(&mut self, kind: Kind, lane: usize, s: f64, v0: f64) -> Vehicle {
        let r = &mut self.rng;
        let (len, w, h, color, accent) = match kind {
            Kind::Car => (
                r.range(4.0, 4.9),
                r.range(1.72, 1.9),
                r.range(1.4, 1.58),
                pick_color(r, &CAR_COLORS, 0.06),
                [0, 0, 0],
            ),
            Kind::Truck => (
                r.range(8.0, 11.0),
                2.5,
                r.range(3.4, 3.9),
                pick_color(r, &TRUCK_COLORS, 0.05),
                pick_color(r, &CAR_COLORS, 0.05),
            ),
            _ => (
                r.range(11.0, 12.5),
                2.55,
                r.range(3.0, 3.2),
                pick_color(r, &BUS_COLORS, 0.05),
                pick_color(r, &BUS_COLORS, 0.05),
            ),
        };
        Vehicle {
            id: 0,
            kind,
            lane,
            s,
            len,
            w,
            h,
            v: v0,
            v0,
            color,
            accent,
        }
    }

    fn random_kind(&mut self) -> Kind {
        let u = self.rng.unit();
        if u < 0.64 {
            Kind::Car
        } else if u < 0.82 {
            Kind::Truck
        } else {
            Kind::Bus
        }
    }

    /// The first traffic: every lane filled around the camera, with a bus and a truck in view
    /// in the side lanes, the first crossing ahead with people waiting, people on the sidewalks.
    fn populate(&mut self) {
        let cam = self.cam_s();
        let ego_v0 = self.vehicles[0].v0;
        let forced = if self.rng.chance(0.5) {
            [Kind::Bus, Kind::Truck]
        } else {
            [Kind::Truck, Kind::Bus]
        };
        for lane in 0..3 {
            let mut s = if lane == EGO_LANE {
                cam + self.rng.range(14.0, 30.0)
            } else {
                cam - BEHIND + self.rng.range(0.0, 20.0)
            };
            let force_at = cam + self.rng.range(18.0, 45.0);
            let mut forced_done = lane == EGO_LANE;
            while s < cam + AHEAD {
                let kind = if !forced_done && s >= force_at {
                    forced_done = true;
                    forced[lane / 2]
                } else {
                    self.random_kind()
                };
                let v0 = if lane == EGO_LANE {
                    self.rng.range(ego_v0 - 1.0, ego_v0 + 4.0)
                } else {
                    self.rng.range(6.0, 17.0)
                };
                let mut v = self.random_vehicle(kind, lane, s, v0);
                v.id = self.new_id();
                s += v.len + self.rng.range(14.0, 50.0);
                self.vehicles.push(v);
            }
        }
        self.extend_world(cam);
        for _ in 0..self.rng.below(5) + 3 {
            let s = cam + self.rng.range(4.0, 130.0);
            self.spawn_walker(s);
        }
    }

    /// Makes sure the crossings and bridges reach well beyond `cam + AHEAD`, and that every
    /// crossing within reach has its people.
    fn extend_world(&mut self, cam: f64) {
        while self
            .crossings
            .last()
            .is_none_or(|c| c.s < cam + AHEAD + 200.0)
        {
            let r = &mut self.crossing_rng;
            let s = match self.crossings.last() {
                None => r.range(50.0, 170.0),
                Some(c) => c.s + r.range(110.0, 220.0),
            };
            let trigger = r.range(25.0, 130.0);
            self.crossings.push(Crossing {
                s,
                trigger,
                triggered_at: None,
                peopled: false,
            });
        }
        while self
            .bridges
            .last()
            .is_none_or(|b| b.s < cam + AHEAD + 200.0)
        {
            let r = &mut self.bridge_rng;
            let s = match self.bridges.last() {
                None => r.range(50.0, 260.0),
                Some(b) => b.s + r.range(300.0, 700.0),
            };
            self.bridges.push(Bridge { s });
        }
        for i in 0..self.crossings.len() {
            let c = &self.crossings[i];
            if !c.peopled && c.s - cam < 170.0 {
                self.crossings[i].peopled = true;
                self.spawn_group(i);
            }
        }
    }

    fn random_person(
        &mut self,
        rng_of_group: Option<&mut Rng>,
        x: f64,
        s: f64,
        walk: Walk,
    ) -> Person {
        let id = self.new_id();
        let r = match rng_of_group {
            Some(r) => r,
            None => &mut self.rng,
        };
        Person {
            id,
            x,
            s,
            h: r.range(1.55, 1.92),
            speed: r.range(1.1, 1.7),
            walk,
            phase: r.range(0.0, TAU),
            shirt: pick_color(r, &SHIRTS, 0.1),
            pants: pick_color(r, &PANTS, 0.1),
            skin: pick_color(r, &SKINS, 0.05),
            hair: r.pick(&HAIRS),
        }
    }

    /// People waiting at crossing `i`: one to four on one or both curbs.
    fn spawn_group(&mut self, i: usize) {
        let mut r = Rng::keyed(self.seed, stream::GROUP, i as u64);
        let cs = self.crossings[i].s;
        let n = 1 + r.below(4);
        for _ in 0..n {
            let side = if r.chance(0.5) { 1.0 } else { -1.0 };
            let x = side * r.range(ROAD_HALF + 0.4, ROAD_HALF + 1.6);
            let s = cs + r.range(-ZEBRA_HALF + 0.4, ZEBRA_HALF - 0.4);
            let walk = Walk::Waiting {
                crossing: i,
                delay: r.range(0.0, 2.5),
            };
            let p = self.random_person(Some(&mut r), x, s, walk);
            self.people.push(p);
        }
    }

    fn spawn_walker(&mut self, s: f64) {
        let side = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
        let x = side * self.rng.range(ROAD_HALF + 0.5, SIDEWALK_OUT - 0.4);
        let dir = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
        let p = self.random_person(None, x, s, Walk::Along(dir));
        self.people.push(p);
    }

    /// Whether people on crossing `c` are in lane `lane` (with a metre to spare) or will step
    /// into it within 2.5 s; people waiting count from a second before they start.
    fn lane_blocked(&self, c: usize, lane: usize) -> bool {
        let (lo, hi) = (
            LANES[lane] - LANE_W / 2.0 - 1.0,
            LANES[lane] + LANE_W / 2.0 + 1.0,
        );
        let t = self.time();
        self.people.iter().any(|p| {
            let dir = match p.walk {
                Walk::Crossing {
                    crossing, target, ..
                } if crossing == c => (target - p.x).signum(),
                Walk::Waiting { crossing, delay }
                    if crossing == c
                        && self.crossings[c]
                            .triggered_at
                            .is_some_and(|at| t + 1.0 >= at + delay) =>
                {
                    -p.x.signum()
                }
                _ => return false,
            };
            let ahead = if dir > 0.0 { lo - p.x } else { p.x - hi };
            (lo..=hi).contains(&p.x) || (ahead > 0.0 && ahead < p.speed * 2.5)
        })
    }

    /// One world step.
    fn tick(&mut self) {
        self.step += 1;
        let t = self.time();
        let cam = self.cam_s();

        // Traffic: each vehicle follows the one ahead in its lane and stops for a crossing.
        let n = self.vehicles.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let (va, vb) = (&self.vehicles[a], &self.vehicles[b]);
            (va.lane, va.s, va.id)
                .partial_cmp(&(vb.lane, vb.s, vb.id))
                .expect("finite positions")
        });
        let mut accel = vec![0.0; n];
        for (k, &i) in order.iter().enumerate() {
            let v = &self.vehicles[i];
            let front = v.s + v.len;
            let mut a = idm(v.v, v.v0, None);
            if let Some(&j) = order.get(k + 1)
                && self.vehicles[j].lane == v.lane
            {
                let l = &self.vehicles[j];
                a = a.min(idm(v.v, v.v0, Some((l.s - front, l.v))));
            }
            if let Some(c) = self
                .crossings
                .iter()
                .position(|c| c.s - ZEBRA_HALF - STOP_BEFORE > front)
            {
                let gap = self.crossings[c].s - ZEBRA_HALF - STOP_BEFORE - front;
                if gap < 60.0
                    && v.v * v.v / (2.0 * gap.max(0.01)) <= STOP_DECEL
                    && self.lane_blocked(c, v.lane)
                {
                    a = a.min(idm(v.v, v.v0, Some((gap, 0.0))));
                }
            }
            accel[i] = a.clamp(-MAX_BRAKE, IDM_ACCEL);
        }
        for (v, a) in self.vehicles.iter_mut().zip(&accel) {
            let dv = (v.v + a * DT).max(0.0);
            v.s += ((v.v + dv) * 0.5 * DT).max(0.0);
            v.v = dv;
        }
        self.ego_accel += (accel[0] - self.ego_accel) * DT / 0.4;

        // People.
        for c in 0..self.crossings.len() {
            let cr = &mut self.crossings[c];
            if cr.triggered_at.is_none() && cr.s - cam < cr.trigger {
                cr.triggered_at = Some(t);
            }
        }
        for i in 0..self.people.len() {
            let walk = self.people[i].walk;
            let p = &mut self.people[i];
            match walk {
                Walk::Along(dir) => {
                    p.s += dir * p.speed * DT;
                    p.phase += p.speed * DT * 3.2;
                }
                Walk::Waiting { crossing, delay } => {
                    if let Some(at) = self.crossings[crossing].triggered_at
                        && t >= at + delay
                    {
                        let mut r = Rng::keyed(self.seed, stream::GROUP, p.id | (1 << 40));
                        let target = -p.x.signum() * r.range(ROAD_HALF + 0.5, SIDEWALK_OUT - 0.4);
                        let then = if r.chance(0.5) { 1.0 } else { -1.0 };
                        p.walk = Walk::Crossing {
                            crossing,
                            target,
                            then,
                        };
                    }
                }
                Walk::Crossing { target, then, .. } => {
                    let dir = (target - p.x).signum();
                    p.x += dir * p.speed * DT;
                    p.phase += p.speed * DT * 3.2;
                    if (target - p.x) * dir <= 0.0 {
                        p.x = target;
                        p.walk = Walk::Along(then);
                    }
                }
            }
        }

        // Arrivals and departures.
        if self.step.is_multiple_of(SIM_HZ / 10) {
            self.arrivals(0.1);
        }
        let cam = self.cam_s();
        self.vehicles
            .retain(|v| v.id == 0 || (v.s + v.len > cam - BEHIND && v.s < cam + AHEAD + 30.0));
        let crossings = &self.crossings;
        self.people.retain(|p| {
            let waiting = matches!(p.walk, Walk::Waiting { crossing, .. } | Walk::Crossing { crossing, .. } if crossings[crossing].s > cam - 5.0);
            waiting || (p.s > cam - 5.0 && p.s < cam + AHEAD)
        });
    }

    /// New vehicles and walkers over `dt` seconds.
    fn arrivals(&mut self, dt: f64) {
        let cam = self.cam_s();
        self.extend_world(cam);
        let ego_v = self.vehicles[0].v;
        for lane in 0..3 {
            // From behind, faster than the ego car: they overtake it.
            if lane != EGO_LANE && self.rng.chance(0.10 * dt) {
                let s = cam - BEHIND + 5.0;
                let v0 = (ego_v + self.rng.range(2.5, 7.0)).min(22.0);
                self.try_spawn(lane, s, v0);
            }
            // Far ahead.
            if self.rng.chance(0.12 * dt) {
                let v0 = self.rng.range(7.0, 16.0);
                self.try_spawn(lane, cam + AHEAD, v0);
            }
        }
        if self.rng.chance(0.35 * dt) {
            let s = cam + self.rng.range(110.0, 150.0);
            self.spawn_walker(s);
        }
    }

    fn try_spawn(&mut self, lane: usize, s: f64, v0: f64) {
        let kind = self.random_kind();
        let mut v = self.random_vehicle(kind, lane, s, v0);
        let free = self
            .vehicles
            .iter()
            .filter(|o| o.lane == lane)
            .all(|o| o.s > s + v.len + 25.0 || o.s + o.len < s - 25.0);
        let crowded = self.vehicles.iter().filter(|o| o.lane == lane).count() >= 7;
        if free && !crowded {
            v.id = self.new_id();
            self.vehicles.push(v);
        }
    }

    fn camera(&self) -> Camera {
        let t = self.time();
        let (w, h) = (self.width, self.height);
        let pitch = 0.0025 * (TAU * 1.3 * t + self.look.sway_phase).sin()
            - 0.003 * (-self.ego_accel).clamp(0.0, 6.0);
        Camera {
            f: 0.78 * w,
            cx: w / 2.0,
            horizon: h * (0.45 + pitch),
            x: 0.15 * (TAU * t / 7.0 + self.look.sway_phase).sin(),
            width: w,
            height: h,
        }
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
                    class: super::CLASS_BACKGROUND,
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
                class: super::CLASS_BACKGROUND,
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
                super::CLASS_BACKGROUND,
            );
            let (a, b) = (side * ROAD_HALF, side * (ROAD_HALF + 0.22));
            push(
                ground(a.min(b), a.max(b), near, far),
                scale(look.sidewalk, 1.12),
                super::CLASS_BACKGROUND,
            );
        }
        push(
            ground(-ROAD_HALF, ROAD_HALF, near, far),
            look.asphalt,
            super::CLASS_ROAD,
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
                    super::CLASS_ROAD,
                );
            }
        }
        for side in [-1.0, 1.0] {
            let x = side * EDGE_X;
            let (a, b) = (x, x - side * LINE_W);
            push(
                ground(a.min(b), a.max(b), near, far),
                look.marking,
                super::CLASS_LANE,
            );
        }
        let on_zebra = |s0: f64, s1: f64| {
            self.crossings
                .iter()
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
                    super::CLASS_LANE,
                );
            }
        }
        for c in &self.crossings {
            if c.s + ZEBRA_HALF < cs || c.s - ZEBRA_HALF > cs + Z_DRAW {
                continue;
            }
            let mut x = -EDGE_X + 0.25;
            while x + 0.5 <= EDGE_X {
                push(
                    ground(x, x + 0.5, c.s - ZEBRA_HALF, c.s + ZEBRA_HALF),
                    look.marking,
                    super::CLASS_LANE,
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
                super::CLASS_LANE,
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
                super::CLASS_BACKGROUND,
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
                super::CLASS_BACKGROUND,
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
                        class: super::CLASS_BACKGROUND,
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
                        class: super::CLASS_BACKGROUND,
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
                    super::CLASS_BACKGROUND,
                )];
                for (dx, dy, k) in [(-0.5, 0.4, 0.75), (0.5, 0.45, 0.7), (0.0, 0.75, 1.0)] {
                    parts.push(bb.circle(
                        (dx * crown, trunk + dy * crown),
                        crown * k,
                        scale(green, 0.85 + 0.2 * k),
                        super::CLASS_BACKGROUND,
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
                                super::CLASS_BACKGROUND,
                            ),
                            bb.quad(
                                [(a0, 7.4), (a1, 7.4), (a1, 7.55), (a0, 7.55)],
                                gray,
                                super::CLASS_BACKGROUND,
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

/// The intelligent driver model's acceleration at speed `v` (desired `v0`), behind a leader at
/// `(gap, leader speed)` if any.
fn idm(v: f64, v0: f64, leader: Option<(f64, f64)>) -> f64 {
    let free = 1.0 - (v / v0.max(0.1)).powi(4);
    match leader {
        None => IDM_ACCEL * free,
        Some((gap, vl)) => {
            let want = IDM_GAP
                + (v * IDM_HEADWAY + v * (v - vl) / (2.0 * (IDM_ACCEL * IDM_BRAKE).sqrt()))
                    .max(0.0);
            IDM_ACCEL * (free - (want / gap.max(0.1)).powi(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, seconds: u64) -> Scene {
        let mut s = Scene::new(seed, 960, 540);
        s.advance_to(seconds * SIM_HZ);
        s
    }

    #[test]
    fn traffic_keeps_its_distance_and_the_ego_car_moves() {
        for seed in 0..6 {
            let s = run(seed, 20);
            assert!(s.cam_s() > 40.0, "seed {seed}: the ego car barely moved");
            for lane in 0..3 {
                let mut v: Vec<&Vehicle> = s.vehicles.iter().filter(|v| v.lane == lane).collect();
                v.sort_by(|a, b| a.s.partial_cmp(&b.s).unwrap());
                for p in v.windows(2) {
                    assert!(
                        p[0].s + p[0].len < p[1].s + 0.5,
                        "seed {seed} lane {lane}: {} runs into {}",
                        p[0].id,
                        p[1].id
                    );
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let (a, b) = (run(3, 5), run(3, 5));
        let key = |s: &Scene| -> Vec<(u64, u64, u64)> {
            s.vehicles
                .iter()
                .map(|v| (v.id, v.s.to_bits(), v.v.to_bits()))
                .chain(
                    s.people
                        .iter()
                        .map(|p| (p.id, p.x.to_bits(), p.s.to_bits())),
                )
                .collect()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&run(4, 5)));
    }

    #[test]
    fn the_view_is_far_to_near_and_projects_the_road_to_the_horizon() {
        let s = run(1, 2);
        let v = s.view();
        assert!(v.standing.windows(2).all(|w| w[0].depth >= w[1].depth));
        assert!(v.standing.iter().any(|i| i.object.is_some()));
        let p = v.camera.project([0.0, 0.0, 1e6]);
        assert!((p[1] as f64 - v.camera.horizon).abs() < 0.01);
        // Perspective: the same car is half as wide at twice the distance.
        let w = |z: f64| v.camera.project([1.0, 0.0, z])[0] - v.camera.project([-1.0, 0.0, z])[0];
        assert!((w(10.0) / w(20.0) - 2.0).abs() < 1e-4);
    }
}

//! What a sample drive's world is made of, and what its camera draws: the road's geometry, the
//! objects (vehicles, people) as the simulation keeps them, the pinhole camera, and the frame's
//! drawing as screen-space parts. Plain data, below the simulation ([`super::scene`]), the looks
//! (`shapes.rs`) and the renderer ([`super::render`]).

// Road geometry, in metres: x to the right, y up, s along the road (the camera looks along +s).
pub(super) const LANE_W: f64 = 3.5;
pub(super) const LANES: [f64; 3] = [-LANE_W, 0.0, LANE_W];
pub(super) const EGO_LANE: usize = 1;
/// Dashed lines between lanes at +-1.75 m, solid edge lines inside +-5.25 m.
pub(super) const EDGE_X: f64 = 1.5 * LANE_W;
pub(super) const LINE_W: f64 = 0.15;
pub(super) const DASH: f64 = 3.0;
pub(super) const DASH_PERIOD: f64 = 12.0;
/// Asphalt (lanes plus a shoulder) out to here; then the curb and the sidewalk.
pub(super) const ROAD_HALF: f64 = EDGE_X + 0.5;
pub(super) const SIDEWALK_OUT: f64 = ROAD_HALF + 2.6;
/// Half the length of a zebra crossing along the road; the stop line is before it.
pub(super) const ZEBRA_HALF: f64 = 2.0;
pub(super) const STOP_BEFORE: f64 = 3.5;

/// The camera: its height above the road, and where it sits in the ego car (from its rear).
pub(super) const CAM_H: f64 = 1.35;
pub(super) const EGO_LEN: f64 = 4.5;
pub(super) const CAM_IN_EGO: f64 = 3.2;
/// Nothing nearer than this is drawn (polygons are clipped there).
pub(super) const Z_NEAR: f64 = 0.5;
/// The road is drawn out to here (sub-pixel at the horizon).
pub(super) const Z_FAR: f64 = 2000.0;
/// Standing objects farther than this are not drawn.
pub(super) const Z_DRAW: f64 = 250.0;
/// Traffic lives from this far behind the camera to this far ahead.
pub(super) const BEHIND: f64 = 50.0;
pub(super) const AHEAD: f64 = 240.0;

/// Scenery is generated per stretch of road of this length.
pub(super) const STRETCH: f64 = 40.0;
/// Bridges: length along the road, clearance under the deck, deck thickness (m).
pub(super) const BRIDGE_LEN: f64 = 10.0;
pub(super) const BRIDGE_CLEAR: f64 = 5.2;
pub(super) const BRIDGE_DECK: f64 = 1.4;

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
    /// Lateral position of its centre (m); a lane's centre unless it is changing lanes.
    pub(super) x: f64,
    /// A lane change under way.
    pub(super) lat: Option<LatMove>,
    /// A scripted stop or slow-down under way.
    pub(super) brake: Option<Brake>,
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

/// A sideways move from `from` to `to` (m), eased in and out, from `t0` over `dur` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LatMove {
    pub(super) from: f64,
    pub(super) to: f64,
    pub(super) t0: f64,
    pub(super) dur: f64,
}

impl LatMove {
    pub(super) fn at(&self, t: f64) -> f64 {
        let u = ((t - self.t0) / self.dur).clamp(0.0, 1.0);
        self.from + (self.to - self.from) * u * u * (3.0 - 2.0 * u)
    }

    /// d(x)/dt at `t`.
    pub(super) fn rate(&self, t: f64) -> f64 {
        let u = (t - self.t0) / self.dur;
        if !(0.0..1.0).contains(&u) {
            return 0.0;
        }
        (self.to - self.from) * 6.0 * u * (1.0 - u) / self.dur
    }

    pub(super) fn done(&self, t: f64) -> bool {
        t >= self.t0 + self.dur
    }
}

/// Braking at `decel` (m/s^2) down to `v_target`, held there until `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Brake {
    pub(super) decel: f64,
    pub(super) v_target: f64,
    pub(super) until: f64,
}

/// The scripted driver-assistance moments of a sample drive; the time between them is calm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The vehicle ahead brakes hard while the ego driver looks away.
    LeadBraking,
    /// The vehicle ahead comes to a stop and stays; the ego driver looks away.
    StoppedVehicle,
    /// A vehicle from the next lane moves in close ahead.
    CutIn,
    /// The ego car drifts slowly over a marking and back.
    Drift,
    /// The ego car changes to the next lane.
    LaneChange,
    /// A person steps onto the road ahead, away from any crossing.
    PedestrianInPath,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::LeadBraking,
        Scenario::StoppedVehicle,
        Scenario::CutIn,
        Scenario::Drift,
        Scenario::LaneChange,
        Scenario::PedestrianInPath,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::LeadBraking => "lead_braking",
            Scenario::StoppedVehicle => "stopped_vehicle",
            Scenario::CutIn => "cut_in",
            Scenario::Drift => "drift",
            Scenario::LaneChange => "lane_change",
            Scenario::PedestrianInPath => "pedestrian_in_path",
        }
    }
}

/// The driver-assistance truth of one instant: metres from the ego car's front bumper (distances)
/// or its centre line (lateral), seconds, as the adas stage reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdasTruth {
    pub ego_speed_mps: f64,
    /// The camera (the vehicle's centre line) right of its lane's centre, m.
    pub offset_m: f64,
    /// d(offset)/dt, m/s.
    pub offset_rate_mps: f64,
    pub lane_width_m: f64,
    /// The nearest vehicle in the ego lane ahead: id, gap from the front bumper to its rear
    /// (m), d(gap)/dt (m/s), time to collision (s, when closing).
    pub lead: Option<LeadTruth>,
    /// People in the path (within half a metre of the lane) ahead: id, gap (m), x from the
    /// camera (m). The scene lists them all; the writer keeps here those the camera sees (the
    /// box truth holds them) and moves the others to `hidden_vrus`.
    pub vrus: Vec<(u64, f64, f64)>,
    /// People in the path whom a vehicle hides from the camera (filled by the writer).
    pub hidden_vrus: Vec<(u64, f64, f64)>,
    /// The scripted moment under way, if any.
    pub scenario: Option<Scenario>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeadTruth {
    pub id: u64,
    pub distance_m: f64,
    pub relative_speed_mps: f64,
    pub ttc_s: Option<f64>,
}

/// From the camera to the ego car's front bumper, m.
pub const CAM_TO_FRONT: f64 = EGO_LEN - CAM_IN_EGO;

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

pub(super) fn scale(c: [u8; 3], k: f64) -> [u8; 3] {
    c.map(|v| (v as f64 * k).round().clamp(0.0, 255.0) as u8)
}

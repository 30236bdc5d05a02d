//! What the driver-assistance stage learns about a frame, as plain data: the ego lane, the
//! vehicle ahead, vulnerable road users in the path, and the warnings. Every value that could
//! not be measured on this frame is `None` ("unknown"), never a guess. Metres on the ground
//! (`x` right of the camera, `z` ahead), seconds on the stream's clock.

use serde::Serialize;
use std::sync::Arc;

/// The ego lane on this frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EgoLane {
    /// Each boundary as `x = c0 + c1 z + c2 z^2`, when seen.
    pub left: Option<[f64; 3]>,
    pub right: Option<[f64; 3]>,
    /// 0 to 1: how sure the fit is (the lower of the two sides, or half of the one seen).
    pub confidence: f64,
    /// Boundary to boundary at the camera, metres.
    pub width_m: Option<f64>,
    /// The vehicle centre right of the lane centre, metres (negative: left of it).
    pub offset_m: Option<f64>,
    /// d(offset)/dt, m/s.
    pub offset_rate_mps: Option<f64>,
    /// The lane on the image for drawing: the left boundary near to far, then the right one
    /// far to near (pixels); `polygon_len` points of it are set.
    #[serde(skip)]
    pub polygon_px: [[f32; 2]; 2 * LANE_POLY_STEPS],
    #[serde(skip)]
    pub polygon_len: usize,
}

/// Points per boundary in [`EgoLane::polygon_px`].
pub const LANE_POLY_STEPS: usize = 8;

/// The nearest tracked vehicle inside the ego corridor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    pub track_id: u64,
    #[serde(serialize_with = "as_str")]
    pub label: Arc<str>,
    /// `[x1, y1, x2, y2]`, source pixels.
    pub bbox: [f32; 4],
    /// From the front bumper to the vehicle's rear, metres (`camera.bumper_m` ahead of the camera).
    pub distance_m: f64,
    /// d(distance)/dt, m/s (negative: closing).
    pub relative_speed_mps: Option<f64>,
    /// Distance over closing speed, seconds; `None` when not closing.
    pub ttc_s: Option<f64>,
    /// From the box's scale rate alone, seconds.
    pub ttc_scale_s: Option<f64>,
    /// Distance over the ego speed, seconds, when the ego speed is known.
    pub headway_s: Option<f64>,
}

/// A person (or cyclist) inside the corridor ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vru {
    pub track_id: Option<u64>,
    #[serde(serialize_with = "as_str")]
    pub label: Arc<str>,
    pub distance_m: f64,
    pub x_m: f64,
}

/// The kinds of warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    ForwardCollision,
    LaneDeparture,
    PedestrianInPath,
    Headway,
}

impl WarningKind {
    pub const ALL: [WarningKind; 4] = [
        WarningKind::ForwardCollision,
        WarningKind::LaneDeparture,
        WarningKind::PedestrianInPath,
        WarningKind::Headway,
    ];

    /// The name in events, metrics and the pipeline file.
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::ForwardCollision => "forward_collision",
            WarningKind::LaneDeparture => "lane_departure",
            WarningKind::PedestrianInPath => "pedestrian_in_path",
            WarningKind::Headway => "headway",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

/// A warning's start or end, as the events sink writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdasEvent {
    pub kind: WarningKind,
    /// `start` or `end`.
    pub edge: &'static str,
    #[serde(serialize_with = "as_str")]
    pub stream: Arc<str>,
    /// The time of the frame on which this edge was decided (a start is decided once the
    /// condition has held for the minimum time, so after `start_pts_s`).
    pub at_pts_s: f64,
    pub start_pts_s: f64,
    /// Set on `end`.
    pub end_pts_s: Option<f64>,
    pub severity: Severity,
    pub track_id: Option<u64>,
    /// The worst value while active: the smallest TTC or headway (s), the largest offset past
    /// the threshold (m), the nearest pedestrian (m). Set on `end`.
    pub peak: Option<f64>,
}

/// A warning in progress on this frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ActiveWarning {
    pub kind: WarningKind,
    pub start_pts_s: f64,
    /// The worst value so far (as [`AdasEvent::peak`]).
    pub peak: f64,
    pub severity: Severity,
    pub track_id: Option<u64>,
}

/// Everything the adas stage says about one frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AdasState {
    pub lane: Option<EgoLane>,
    pub lead: Option<Lead>,
    pub vrus: Vec<Vru>,
    /// The warnings active on this frame.
    pub active: Vec<ActiveWarning>,
    /// The horizon's row used, as a fraction of the height, when it is learnt from the lane
    /// (`camera.horizon_from_lanes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizon: Option<f64>,
    /// The starts and ends that happened on this frame.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<AdasEvent>,
}

fn as_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

//! One stream's driver-assistance state, frame after frame: the ego lane (fitted, smoothed over
//! PTS time, followed across lane changes), the lateral offset and its rate, the lead vehicle
//! with its distance and time to collision, the vulnerable road users in the path, and the
//! warnings with their hysteresis. Every rate is over the stream's clock; a value that could not
//! be measured is `None`. When time runs backwards (a restarted stream) everything starts over,
//! open warnings closed first.

use super::camera::{Camera, CameraSpec, HorizonFit};
use super::lane::{Boundary, LaneFit, LaneFitter, Z_MIN};
use super::lead::{History, Motion, distance, plausible, slope, width_prior};
use super::warn::{Debounce, Edge, Worse};
use crate::frame::Detection;
use crate::frame::adas::{
    ActiveWarning, AdasEvent, AdasState, EgoLane, LANE_POLY_STEPS, Lead, Severity, Vru, WarningKind,
};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The checked thresholds and classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub camera: CameraSpec,
    pub vehicles: Vec<String>,
    pub vulnerable: Vec<String>,
    /// Forward collision: time to collision below this (s) while closing.
    pub fcw_ttc_s: f64,
    /// ... critical below this (s).
    pub fcw_critical_ttc_s: f64,
    /// Lane departure: the vehicle centre this far (m) from the lane centre...
    pub ldw_offset_m: f64,
    /// ... moving outward at least this fast (m/s)...
    pub ldw_min_rate_mps: f64,
    /// ... while the lane fit is at least this sure.
    pub min_lane_confidence: f64,
    /// Pedestrian in path: a vulnerable road user in the corridor nearer than this (m).
    pub pedestrian_distance_m: f64,
    /// Headway: distance over ego speed below this (s), when the ego speed is known.
    pub headway_s: f64,
    /// A condition must hold this long (s) before its warning starts...
    pub min_on_s: f64,
    /// ... and be off this long (s) before it ends.
    pub min_off_s: f64,
}

/// Time constant (s) of the lane boundaries' smoothing.
const LANE_TAU_S: f64 = 0.25;
/// A boundary not seen for this long (s) is forgotten; until then it coasts.
const COAST_S: f64 = 0.6;
/// A new fit this far (m, at the camera) from the smoothed boundary replaces it at once.
const JUMP_M: f64 = 0.6;
/// The offset's rate is fitted over this window (s).
const OFFSET_WINDOW_S: f64 = 0.5;
/// Widths (m) accepted as a lane's.
const LANE_WIDTH_RANGE: (f64, f64) = (2.4, 5.0);
/// A vehicle is in the path when it overlaps the corridor by this much (m).
const IN_PATH_OVERLAP_M: f64 = 0.5;
/// A vehicle whose ground and width distances differ by more than this factor is not a lead.
const MAX_DISTANCE_RATIO: f64 = 1.5;
/// A box whose outer edge is this share of its width or less from the frame's side may be cut
/// there.
const EDGE_MARGIN: f32 = 0.2;
/// A forward collision warning needs rates standing on this much of a track's history (s): a
/// track just started, or started over after an identity switch, gives wild rates from a few
/// frames (a far car whose box jumps reads as closing at 30 m/s).
const FCW_MIN_SPAN_S: f64 = 0.5;
/// A forward collision warning under way holds while its vehicle's time to collision stays
/// under this multiple of the threshold.
const FCW_HOLD: f64 = 1.6;
/// A box with this share of its area inside a box cut by the frame's side is a piece of it.
const FRAGMENT_SHARE: f32 = 0.5;
/// People count as in the path this far (m) outside the lane's boundaries.
const VRU_MARGIN_M: f64 = 0.5;
/// The horizon learns from frames whose two boundaries are this sure...
const HORIZON_MIN_CONFIDENCE: f64 = 0.5;
/// ... and both reach this far (m).
const HORIZON_MIN_REACH_M: f64 = 20.0;
/// A track's history is dropped once it has not been seen for this long (s).
const TRACK_FORGET_S: f64 = 1.0;
/// Below this ego speed (m/s) there is no headway.
const MIN_HEADWAY_SPEED_MPS: f64 = 2.0;

/// What one frame gives the analysis.
pub struct Inputs<'a> {
    /// Seconds on the stream's clock.
    pub t: f64,
    pub width: u32,
    pub height: u32,
    /// The lane head's class map (`width * height`) and the lane-marking class in it.
    pub lane_map: Option<(&'a [u8], u8)>,
    pub detections: &'a [Detection],
    /// Ego speed (m/s), when known.
    pub ego_speed: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Side {
    b: Boundary,
    last_seen: f64,
}

/// One warning kind's hysteresis and how bad a given peak is.
struct Warning {
    kind: WarningKind,
    debounce: Debounce,
}

pub struct StreamAdas {
    fitter: LaneFitter,
    left: Option<Side>,
    right: Option<Side>,
    width_m: f64,
    last_t: Option<f64>,
    offsets: VecDeque<(f64, f64)>,
    tracks: HashMap<u64, (History, f64)>,
    /// This frame's vehicle boxes and whether each is cut by the frame's side (reused).
    vehicle_boxes: Vec<([f32; 4], bool)>,
    /// The horizon learnt from the lane (`camera.horizon_from_lanes`).
    horizon: HorizonFit,
    warnings: [Warning; 4],
    /// The side (sign of the offset) of the lane departure warning in progress or last held.
    ldw_side: Option<f64>,
    /// A lane departure warning ended on this side: that side warns again only once the vehicle
    /// is back near a lane centre (re-armed), so one drift is one warning.
    ldw_blocked: Option<f64>,
}

impl StreamAdas {
    pub fn new(p: &Params) -> StreamAdas {
        let w = |kind, worse| Warning {
            kind,
            debounce: Debounce::new(p.min_on_s, p.min_off_s, worse),
        };
        StreamAdas {
            fitter: LaneFitter::default(),
            left: None,
            right: None,
            width_m: p.camera.lane_width_m,
            last_t: None,
            offsets: VecDeque::with_capacity(64),
            ldw_side: None,
            ldw_blocked: None,
            tracks: HashMap::new(),
            vehicle_boxes: Vec::with_capacity(32),
            horizon: HorizonFit::default(),
            warnings: [
                w(WarningKind::ForwardCollision, Worse::Lower),
                w(WarningKind::LaneDeparture, Worse::Higher),
                w(WarningKind::PedestrianInPath, Worse::Lower),
                w(WarningKind::Headway, Worse::Lower),
            ],
        }
    }

    /// The analysis of one frame.
    pub fn update(&mut self, p: &Params, stream: &Arc<str>, inp: &Inputs) -> AdasState {
        let t = inp.t;
        let mut state = AdasState::default();
        if self.last_t.is_some_and(|l| t < l) {
            // A restarted stream: close what is open, forget the past.
            // The same camera: what was learnt of its horizon stays.
            self.close_all(stream, t, &mut state.events);
            let horizon = self.horizon;
            *self = StreamAdas::new(p);
            self.horizon = horizon;
        }
        let dt = self.last_t.map_or(0.0, |l| t - l);
        self.last_t = Some(t);
        let mut cam = p.camera.on_frame(inp.width, inp.height);
        if p.camera.horizon_from_lanes {
            cam = self.horizon.apply(cam);
            state.horizon = Some(cam.horizon / cam.height);
        }

        state.lane = self.lane(p, &cam, inp, dt);
        let lane_ok = state
            .lane
            .is_some_and(|l| l.confidence >= p.min_lane_confidence);

        // Vehicles: every tracked one's history; the nearest in the corridor is the lead.
        // Every vehicle box of the frame, and whether the frame's side cuts it, first.
        self.vehicle_boxes.clear();
        for d in inp.detections {
            if p.vehicles.iter().any(|v| **v == *d.label) {
                self.vehicle_boxes
                    .push((d.bbox, side_cut(d.bbox, cam.width as f32)));
            }
        }
        let mut lead: Option<(f64, &Detection, Motion)> = None;
        for d in inp.detections {
            let Some(id) = d.track_id else { continue };
            if !p.vehicles.iter().any(|v| **v == *d.label) {
                continue;
            }
            let prior = width_prior(&d.label);
            let entry = self.tracks.entry(id).or_default();
            let Some(z) = distance(&cam, d.bbox, entry.0.width.prior(prior)) else {
                continue;
            };
            let w_px = (d.bbox[2] - d.bbox[0]) as f64;
            entry.1 = t;
            let motion = entry.0.update(t, z, w_px);
            entry.0.width.observe(&cam, d.bbox);
            // A box cut by the frame's side shows no rear: not the vehicle ahead. Detectors stop
            // short of the edge on what the frame cuts (a truck alongside, cut at the right,
            // boxed to 50 px from it): a box within a fifth of its width of a side counts as
            // cut, its outer edge (hence where it is across the road) unknown. A vehicle in
            // the lane comes that near a side only closer than ~3 m. A box mostly inside a
            // cut one is a piece of that vehicle (detectors break a bus alongside into
            // several boxes), as unknown across the road.
            let cut = side_cut(d.bbox, cam.width as f32)
                || self
                    .vehicle_boxes
                    .iter()
                    .any(|(b, cut)| *cut && inside_share(d.bbox, *b) >= FRAGMENT_SHARE);
            if cut || !plausible(&cam, d.bbox, prior, MAX_DISTANCE_RATIO) {
                continue;
            }
            // Sideways from the ground contact (the box's bottom), whatever the class, and from
            // the box's outer edge: off-centre, the box also holds the side facing the camera.
            let zg = cam.z_of_row(d.bbox[3] as f64).unwrap_or(z);
            let width = (w_px * zg / cam.f).min(prior.map_or(f64::MAX, |p| p.0));
            let ground_x = |u: f32| (u as f64 - cam.cx) * zg / cam.f;
            let centre_u = ((d.bbox[0] + d.bbox[2]) / 2.0) as f64;
            let (xl, xr) = if centre_u < cam.cx {
                let x = ground_x(d.bbox[0]);
                (x, x + width)
            } else {
                let x = ground_x(d.bbox[2]);
                (x - width, x)
            };
            let (lo, hi) = self.corridor(zg);
            let overlap = hi.min(xr) - lo.max(xl);
            if overlap >= IN_PATH_OVERLAP_M.min(width / 2.0)
                && lead.as_ref().is_none_or(|l| z < l.0)
            {
                lead = Some((z, d, motion));
            }
        }
        self.tracks
            .retain(|_, (_, seen)| t - *seen <= TRACK_FORGET_S);
        let bumper = p.camera.bumper_m;
        let lead_span = lead.as_ref().map_or(0.0, |l| l.2.span_s);
        state.lead = lead.map(|(z, d, m)| {
            let gap = (z - bumper).max(0.0);
            Lead {
                track_id: d.track_id.expect("tracked"),
                label: d.label.clone(),
                bbox: d.bbox,
                distance_m: gap,
                relative_speed_mps: m.range_rate,
                // The bumper's time: the window's distance less the camera's overhang.
                ttc_s: m
                    .ttc
                    .and(m.range_rate)
                    .and_then(|r| Some((m.distance? - bumper).max(0.0) / -r)),
                ttc_scale_s: m.ttc_scale.map(|s| s * (gap / z.max(0.1))),
                headway_s: inp
                    .ego_speed
                    .filter(|v| *v >= MIN_HEADWAY_SPEED_MPS)
                    .map(|v| gap / v),
            }
        });

        // People in the path.
        for d in inp.detections {
            if !p.vulnerable.iter().any(|v| **v == *d.label) {
                continue;
            }
            let Some(z) = distance(&cam, d.bbox, width_prior(&d.label)) else {
                continue;
            };
            let x = ((d.bbox[0] + d.bbox[2]) as f64 / 2.0 - cam.cx) * z / cam.f;
            let (lo, hi) = self.corridor(z);
            if x >= lo - VRU_MARGIN_M && x <= hi + VRU_MARGIN_M {
                state.vrus.push(Vru {
                    track_id: d.track_id,
                    label: d.label.clone(),
                    distance_m: (z - p.camera.bumper_m).max(0.0),
                    x_m: x,
                });
            }
        }
        state
            .vrus
            .sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));

        // The warnings' conditions. A forward collision warning under way holds while its
        // vehicle is still closing within `FCW_HOLD` of the threshold: the time to collision
        // wavers around the threshold (the box breathes), and one threat is one warning.
        let fcw_track = self.warnings[0].debounce.active().and_then(|a| a.track);
        let fcw = state.lead.as_ref().and_then(|l| {
            if lead_span < FCW_MIN_SPAN_S {
                return None;
            }
            let ttc = l.ttc_s?;
            if fcw_track == Some(l.track_id) && ttc < FCW_HOLD * p.fcw_ttc_s {
                return Some((ttc, Some(l.track_id)));
            }
            let confirmed =
                l.ttc_scale_s.is_some_and(|s| s < 2.0 * p.fcw_ttc_s) || ttc < 0.6 * p.fcw_ttc_s;
            (ttc < p.fcw_ttc_s && confirmed).then_some((ttc, Some(l.track_id)))
        });
        // Re-armed once back within half the threshold of a lane centre, or across the line
        // (the offset changes sign against the next lane's centre).
        if let (Some(side), Some(o)) = (self.ldw_blocked, state.lane.and_then(|l| l.offset_m))
            && (o.abs() < p.ldw_offset_m / 2.0 || o.signum() != side)
        {
            self.ldw_blocked = None;
        }
        let ldw = state.lane.filter(|_| lane_ok).and_then(|l| {
            let (o, r) = (l.offset_m?, l.offset_rate_mps?);
            (o.abs() >= p.ldw_offset_m
                && r * o.signum() >= p.ldw_min_rate_mps
                && self.ldw_blocked != Some(o.signum()))
            .then(|| {
                self.ldw_side = Some(o.signum());
                (o.abs(), None)
            })
        });
        // Warned about: a person the tracker confirmed. The detector's stray boxes beside a
        // real one (taller, so their bottom reads nearer and the person in the path) are never
        // confirmed; they are listed (`track_id` null), not warned about.
        let pip = state
            .vrus
            .iter()
            .find(|v| v.track_id.is_some())
            .filter(|v| v.distance_m <= p.pedestrian_distance_m)
            .map(|v| (v.distance_m, v.track_id));
        let headway = state.lead.as_ref().and_then(|l| {
            l.headway_s
                .filter(|h| *h < p.headway_s)
                .map(|h| (h, Some(l.track_id)))
        });
        for (w, cond) in self.warnings.iter_mut().zip([fcw, ldw, pip, headway]) {
            let edge = w.debounce.update(t, cond);
            if w.kind == WarningKind::LaneDeparture && matches!(edge, Some(Edge::End { .. })) {
                self.ldw_blocked = self.ldw_side;
            }
            if let Some(edge) = edge {
                state.events.push(event(p, w, edge, stream, t));
            }
            if let Some(a) = w.debounce.active() {
                state.active.push(ActiveWarning {
                    kind: w.kind,
                    start_pts_s: a.start,
                    peak: a.peak,
                    severity: severity(p, w.kind, Some(a.peak)),
                    track_id: a.track,
                });
            }
        }
        state
    }

    fn close_all(&mut self, stream: &Arc<str>, t: f64, out: &mut Vec<AdasEvent>) {
        for w in &mut self.warnings {
            if let Some(edge) = w.debounce.finish() {
                out.push(event_of(w.kind, edge, stream, t, Severity::Warning));
            }
        }
    }

    /// The corridor's `(left, right)` x (m) at `z` metres ahead: the lane when it is known,
    /// else a lane's width around the camera.
    fn corridor(&self, z: f64) -> (f64, f64) {
        let w = self.width_m;
        match (&self.left, &self.right) {
            (Some(l), Some(r)) => (l.b.x_at(z), r.b.x_at(z)),
            (Some(l), None) => (l.b.x_at(z), l.b.x_at(z) + w),
            (None, Some(r)) => (r.b.x_at(z) - w, r.b.x_at(z)),
            (None, None) => (-w / 2.0, w / 2.0),
        }
    }

    /// Fits, smooths and follows the ego lane; `None` when no boundary is known.
    fn lane(&mut self, p: &Params, cam: &Camera, inp: &Inputs, dt: f64) -> Option<EgoLane> {
        let t = inp.t;
        let fit = match inp.lane_map {
            Some((map, class)) => {
                let prior = LaneFit {
                    left: self.left.map(|s| s.b),
                    right: self.right.map(|s| s.b),
                };
                self.fitter.fit(
                    map,
                    inp.width as usize,
                    inp.height as usize,
                    class,
                    cam,
                    &prior,
                    self.width_m,
                )
            }
            None => LaneFit::default(),
        };
        if p.camera.horizon_from_lanes
            && let (Some(l), Some(r)) = (fit.left, fit.right)
            && l.confidence.min(r.confidence) >= HORIZON_MIN_CONFIDENCE
        {
            let far = l.z_far.min(r.z_far) * 0.9;
            let near = Z_MIN + 2.0;
            let width = |z: f64| r.x_at(z) - l.x_at(z);
            if far >= HORIZON_MIN_REACH_M {
                self.horizon
                    .observe(cam, (near, width(near)), (far, width(far)), dt);
            }
        }
        let a = 1.0 - (-dt / LANE_TAU_S).exp();
        for (side, new) in [(&mut self.left, fit.left), (&mut self.right, fit.right)] {
            match (side.as_mut(), new) {
                (Some(s), Some(n)) if (n.c[0] - s.b.c[0]).abs() < JUMP_M => {
                    for (c, nc) in s.b.c.iter_mut().zip(n.c) {
                        *c += a * (nc - *c);
                    }
                    s.b.confidence += a * (n.confidence - s.b.confidence);
                    s.b.points = n.points;
                    s.b.z_far = n.z_far;
                    s.last_seen = t;
                }
                (_, Some(n)) => *side = Some(Side { b: n, last_seen: t }),
                (Some(s), None) if t - s.last_seen > COAST_S => *side = None,
                _ => {}
            }
        }
        // Across a boundary (the camera past the marking): the ego is in the next lane now;
        // the crossed marking is its other side, and its far side is expected a width away.
        let w = self.width_m;
        let shifted = |s: Side, by: f64| {
            let mut b = s.b;
            b.c[0] += by;
            b.confidence = 0.0;
            Side {
                b,
                last_seen: t - COAST_S / 2.0,
            }
        };
        if let Some(l) = self.left
            && l.b.c[0] > 0.0
        {
            self.right = Some(l);
            self.left = Some(shifted(l, -w));
            self.offsets.clear();
        } else if let Some(r) = self.right
            && r.b.c[0] < 0.0
        {
            self.left = Some(r);
            self.right = Some(shifted(r, w));
            self.offsets.clear();
        }
        let seen = |s: &Option<Side>| s.filter(|s| s.last_seen == t || s.b.confidence > 0.0);
        let (left, right) = (seen(&self.left), seen(&self.right));
        let (centre, confidence) = match (left, right) {
            (Some(l), Some(r)) => {
                let width = r.b.c[0] - l.b.c[0];
                if (LANE_WIDTH_RANGE.0..=LANE_WIDTH_RANGE.1).contains(&width) {
                    self.width_m += a * (width - self.width_m);
                }
                (
                    (l.b.c[0] + r.b.c[0]) / 2.0,
                    l.b.confidence.min(r.b.confidence),
                )
            }
            (Some(l), None) => (l.b.c[0] + w / 2.0, l.b.confidence / 2.0),
            (None, Some(r)) => (r.b.c[0] - w / 2.0, r.b.confidence / 2.0),
            (None, None) => {
                self.offsets.clear();
                return None;
            }
        };
        let offset = -centre;
        if self.offsets.back().is_some_and(|o| o.0 >= t) {
            self.offsets.clear();
        }
        self.offsets.push_back((t, offset));
        while self
            .offsets
            .front()
            .is_some_and(|o| o.0 < t - OFFSET_WINDOW_S)
        {
            self.offsets.pop_front();
        }
        let rate = (self.offsets.len() >= 3
            && t - self.offsets.front().map_or(t, |o| o.0) >= OFFSET_WINDOW_S / 2.0)
            .then(|| slope(self.offsets.iter().copied(), t).0);
        let mut lane = EgoLane {
            left: left.map(|s| s.b.c),
            right: right.map(|s| s.b.c),
            confidence,
            width_m: (left.is_some() && right.is_some()).then_some(self.width_m),
            offset_m: Some(offset),
            offset_rate_mps: rate,
            polygon_px: [[0.0; 2]; 2 * LANE_POLY_STEPS],
            polygon_len: 0,
        };
        self.polygon(
            cam,
            p,
            &mut lane,
            left.or(right).map_or(30.0, |s| s.b.z_far),
        );
        Some(lane)
    }

    /// The lane on the image, from the bottom row out to `z_far`.
    fn polygon(&self, cam: &Camera, _p: &Params, lane: &mut EgoLane, z_far: f64) {
        let z_near = cam.z_of_row(cam.height - 1.0).unwrap_or(Z_MIN).max(1.0);
        let z_far = z_far.clamp(z_near + 1.0, 60.0);
        let n = LANE_POLY_STEPS;
        for k in 0..n {
            // Evenly in 1/z: even on the image.
            let inv = 1.0 / z_near + (1.0 / z_far - 1.0 / z_near) * k as f64 / (n - 1) as f64;
            let z = 1.0 / inv;
            let (lo, hi) = self.corridor(z);
            let (ul, v) = cam.image(lo, z);
            let (ur, _) = cam.image(hi, z);
            lane.polygon_px[k] = [ul as f32, v as f32];
            lane.polygon_px[2 * n - 1 - k] = [ur as f32, v as f32];
        }
        lane.polygon_len = 2 * n;
    }
}

fn event(p: &Params, w: &Warning, edge: Edge, stream: &Arc<str>, t: f64) -> AdasEvent {
    let peak = match edge {
        Edge::Start { .. } => w.debounce.active().map(|a| a.peak),
        Edge::End { peak, .. } => Some(peak),
    };
    let mut e = event_of(w.kind, edge, stream, t, severity(p, w.kind, peak));
    if let (Edge::Start { .. }, Some(a)) = (edge, w.debounce.active()) {
        e.track_id = a.track;
    }
    e
}

/// Critical: a TTC under the critical time, a pedestrian at under half the warning distance,
/// the vehicle centre past the marking.
fn severity(p: &Params, kind: WarningKind, peak: Option<f64>) -> Severity {
    match (kind, peak) {
        (WarningKind::ForwardCollision, Some(v)) if v < p.fcw_critical_ttc_s => Severity::Critical,
        (WarningKind::PedestrianInPath, Some(v)) if v < p.pedestrian_distance_m / 2.0 => {
            Severity::Critical
        }
        (WarningKind::LaneDeparture, Some(v)) if v >= p.camera.lane_width_m / 2.0 => {
            Severity::Critical
        }
        _ => Severity::Warning,
    }
}

fn event_of(
    kind: WarningKind,
    edge: Edge,
    stream: &Arc<str>,
    t: f64,
    severity: Severity,
) -> AdasEvent {
    match edge {
        Edge::Start { t: start } => AdasEvent {
            kind,
            edge: "start",
            stream: stream.clone(),
            at_pts_s: t,
            start_pts_s: start,
            end_pts_s: None,
            severity,
            track_id: None,
            peak: None,
        },
        Edge::End {
            start,
            t: end,
            peak,
            track,
        } => AdasEvent {
            kind,
            edge: "end",
            stream: stream.clone(),
            at_pts_s: t,
            start_pts_s: start,
            end_pts_s: Some(end),
            severity,
            track_id: track,
            peak: Some(peak),
        },
    }
}

/// Whether `b` reaches within a fifth of its width (and at least a pixel) of the frame's left
/// or right side.
fn side_cut(b: [f32; 4], frame_width: f32) -> bool {
    let margin = 1.0_f32.max(EDGE_MARGIN * (b[2] - b[0]));
    b[0] <= margin || b[2] >= frame_width - margin
}

/// The share of `a`'s area inside `b`.
fn inside_share(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area = (a[2] - a[0]).max(0.0) * (a[3] - a[1]).max(0.0);
    let x = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let y = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    if area <= 0.0 { 0.0 } else { x * y / area }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::adas::camera::{Focal, Horizon};

    fn params() -> Params {
        Params {
            camera: CameraSpec {
                focal: Focal::Pixels(748.8),
                principal: [0.5, 0.5],
                height_m: 1.35,
                horizon: Horizon::Row(0.45),
                horizon_from_lanes: false,
                lane_width_m: 3.5,
                bumper_m: 1.3,
            },
            vehicles: vec!["car".into(), "truck".into()],
            vulnerable: vec!["person".into()],
            fcw_ttc_s: 2.5,
            fcw_critical_ttc_s: 1.2,
            ldw_offset_m: 0.8,
            ldw_min_rate_mps: 0.1,
            min_lane_confidence: 0.3,
            pedestrian_distance_m: 25.0,
            headway_s: 0.8,
            min_on_s: 0.2,
            min_off_s: 0.5,
        }
    }

    fn det(id: u64, label: &str, bbox: [f32; 4]) -> Detection {
        Detection {
            class_id: 0,
            label: label.into(),
            score: 0.9,
            bbox,
            track_id: Some(id),
            track_box: None,
            mask: None,
        }
    }

    /// The box of a car 1.8 m wide and 1.5 m tall whose rear is `gap` m ahead of the bumper,
    /// centred, on the 960x540 frame.
    fn car(gap: f64) -> [f32; 4] {
        let p = params();
        let cam = p.camera.on_frame(960, 540);
        super::super::lead::tests::car_box(&cam, gap + p.camera.bumper_m, 1.8)
    }

    /// One 960x540 frame at `t` with `dets` and no lane map.
    fn frame(a: &mut StreamAdas, t: f64, dets: &[Detection]) -> AdasState {
        let inp = Inputs {
            t,
            width: 960,
            height: 540,
            lane_map: None,
            detections: dets,
            ego_speed: None,
        };
        a.update(&params(), &Arc::from("s"), &inp)
    }

    /// Feeds `boxes(t)` at 30 frames a second from `t0` to `t1`; the times the forward
    /// collision warning was on.
    fn fcw_on(
        a: &mut StreamAdas,
        t0: f64,
        t1: f64,
        boxes: impl Fn(f64) -> Vec<Detection>,
    ) -> Vec<f64> {
        warning_on(a, WarningKind::ForwardCollision, t0, t1, boxes)
    }

    /// ... the times the warning `kind` was on.
    fn warning_on(
        a: &mut StreamAdas,
        kind: WarningKind,
        t0: f64,
        t1: f64,
        boxes: impl Fn(f64) -> Vec<Detection>,
    ) -> Vec<f64> {
        let mut on = vec![];
        let mut k = 0;
        loop {
            let t = t0 + k as f64 / 30.0;
            if t > t1 {
                return on;
            }
            let s = frame(a, t, &boxes(t));
            if s.active.iter().any(|w| w.kind == kind) {
                on.push(t);
            }
            k += 1;
        }
    }

    #[test]
    fn a_car_closing_in_the_lane_warns_once_its_track_has_half_a_second_of_history() {
        // Closing at 8 m/s from 14 m: the TTC is under 2.5 s from the first frame, but a track
        // this young says little (an identity switch looks the same), so the warning waits
        // for half a second of history and the debounce.
        let mut a = StreamAdas::new(&params());
        let on = fcw_on(&mut a, 10.0, 11.0, |t| {
            vec![det(1, "car", car(14.0 - 8.0 * (t - 10.0)))]
        });
        let first = *on.first().expect("the forward collision warning came on");
        assert!(first >= 10.0 + FCW_MIN_SPAN_S, "{first}");
        assert!(first < 10.0 + FCW_MIN_SPAN_S + 0.35, "{first}");
    }

    #[test]
    fn a_truck_alongside_boxed_short_of_the_frame_edge_is_not_the_lead() {
        // A truck beside the ego car, cut by the frame's right side, whose detector box stops
        // 50 px short of it: its outer edge says nothing about where it is, so it is not taken
        // for a vehicle in the lane (its box's inner edge reaches into the corridor), however
        // fast it seems to close.
        let p = params();
        let mut a = StreamAdas::new(&p);
        let on = fcw_on(&mut a, 0.0, 1.5, |t| {
            let grow = (t * 20.0) as f32;
            vec![det(
                2,
                "truck",
                [606.0 - grow, 49.0, 911.0, 439.0 + grow / 2.0],
            )]
        });
        assert!(on.is_empty(), "{on:?}");
        let s = frame(&mut a, 1.6, &[det(2, "truck", [600.0, 49.0, 911.0, 440.0])]);
        assert!(s.lead.is_none(), "{:?}", s.lead);
        // The same box well inside the frame is a vehicle in the lane.
        let s = frame(&mut a, 1.7, &[det(3, "truck", [500.0, 49.0, 811.0, 440.0])]);
        assert_eq!(s.lead.map(|l| l.track_id), Some(3));
    }

    #[test]
    fn only_a_person_the_tracker_confirmed_is_warned_about() {
        // A person 10 m ahead in the lane, 1.7 m tall: warned about once tracked; the same box
        // untracked (a stray detection the tracker never confirmed) is listed, not warned.
        let cam = params().camera.on_frame(960, 540);
        let z = 11.3;
        let bottom = cam.row_of_z(z) as f32;
        let top = (cam.horizon - cam.f * (1.7 - cam.height_m) / z) as f32;
        let person = |track: Option<u64>| Detection {
            track_id: track,
            ..det(0, "person", [470.0, top, 490.0, bottom])
        };
        let mut a = StreamAdas::new(&params());
        let stray = warning_on(&mut a, WarningKind::PedestrianInPath, 0.0, 1.0, |_| {
            vec![person(None)]
        });
        assert!(stray.is_empty(), "{stray:?}");
        let mut a = StreamAdas::new(&params());
        let tracked = warning_on(&mut a, WarningKind::PedestrianInPath, 0.0, 1.0, |_| {
            vec![person(Some(5))]
        });
        assert!(!tracked.is_empty() && tracked[0] < 0.3, "{tracked:?}");
    }

    #[test]
    fn a_piece_of_a_vehicle_the_frame_cuts_is_not_the_lead() {
        // A bus alongside on the left, cut by the frame's side; the detector also boxes a piece
        // of it whose inner edge reaches into the corridor. Without the whole bus's box the
        // piece would be the lead.
        let piece = det(4, "truck", [108.0, 98.0, 420.0, 423.0]);
        let bus = det(5, "truck", [0.0, 0.0, 430.0, 450.0]);
        let mut a = StreamAdas::new(&params());
        let s = frame(&mut a, 0.0, std::slice::from_ref(&piece));
        assert_eq!(s.lead.map(|l| l.track_id), Some(4));
        let mut a = StreamAdas::new(&params());
        let s = frame(&mut a, 0.0, &[piece, bus]);
        assert!(s.lead.is_none(), "{:?}", s.lead);
    }

    #[test]
    fn one_threat_whose_time_to_collision_wavers_over_the_threshold_is_one_warning() {
        // Closing fast, then slower for a second (the TTC back over 2.5 s, under 4 s), then fast
        // again: the same car, the same threat, one warning.
        let gap = |t: f64| {
            if t < 1.4 {
                24.0 - 8.0 * t
            } else if t < 2.6 {
                12.8 - 3.0 * (t - 1.4)
            } else {
                9.2 - 7.0 * (t - 2.6)
            }
        };
        let mut a = StreamAdas::new(&params());
        let (mut starts, mut k) = (0, 0);
        let mut ttc_over = false;
        while k as f64 / 30.0 < 3.4 {
            let t = k as f64 / 30.0;
            let s = frame(&mut a, t, &[det(1, "car", car(gap(t)))]);
            starts += s.events.iter().filter(|e| e.edge == "start").count();
            ttc_over |= s.lead.and_then(|l| l.ttc_s).is_some_and(|x| x > 2.7) && t > 2.0;
            k += 1;
        }
        assert!(ttc_over, "the TTC went back over the threshold");
        assert_eq!(starts, 1);
    }

    #[test]
    fn the_horizon_is_learnt_from_the_lane_markings() {
        // The camera is set level (horizon at row 270) where it looks down (horizon at row
        // 243): with the horizon 27 rows too low, a straight lane 3.5 m wide widens with
        // distance on the ground. Ten seconds of it put the horizon where it is.
        let truth = params().camera.on_frame(960, 540);
        let map =
            super::super::lane::tests::paint(&[(-1.75, 0.0, false), (1.75, 0.0, false)], &truth);
        let run = |learn: bool| {
            let mut p = params();
            p.camera.horizon = Horizon::Pitch(0.0);
            p.camera.horizon_from_lanes = learn;
            let mut a = StreamAdas::new(&p);
            let mut last = AdasState::default();
            for k in 0..300 {
                let inp = Inputs {
                    t: k as f64 / 30.0,
                    width: 960,
                    height: 540,
                    lane_map: Some((&map, 2)),
                    detections: &[],
                    ego_speed: None,
                };
                last = a.update(&p, &Arc::from("s"), &inp);
            }
            last
        };
        let learnt = run(true);
        let row = learnt.horizon.expect("the horizon used is reported") * 540.0;
        assert!(
            (row - truth.horizon).abs() < 3.0,
            "{row} vs {}",
            truth.horizon
        );
        // The offset follows (the ego is centred in its lane).
        let offset = learnt.lane.and_then(|l| l.offset_m).unwrap();
        assert!(offset.abs() < 0.1, "{offset}");
        // Not asked: the configured horizon, not reported.
        assert_eq!(run(false).horizon, None);
    }
}

//! Distance to a vehicle from its box, and its closing speed and time to collision from the
//! history of one track, all on the stream's clock (PTS seconds), never on frame counts.
//!
//! Distance fuses two estimates by their variances: the ground point under the box's bottom
//! edge (`z = f h / (y2 - horizon)`, whose error grows with `z^2` for a pixel of pitch error) and
//! the box's width against the class's typical width (`z = f W / w`, error proportional to `z`
//! through the spread of real widths). The range rate is the slope of a least-squares line
//! through the distances of the last [`WINDOW_S`] seconds; the time to collision is distance over
//! closing speed. A second time to collision comes from the box's scale rate alone
//! (`1 / w` falls linearly at a constant closing speed; no camera model involved), so the two
//! can be checked against each other.
//!
//! A detector's box is seldom exactly a vehicle's rear: it holds mirrors and a sliver of side,
//! and each car differs from its class's typical width. A width prior that is wrong by a tenth
//! biases the fused distance more far away (where the width weighs most) than near, and the
//! range rate, hence the time to collision, with it. So each track learns its own box width
//! ([`WidthFit`]) from the frames whose ground contact is sure, and its width estimate uses that.

use super::camera::Camera;
use std::collections::VecDeque;

/// The history a rate is fitted on, seconds.
pub const WINDOW_S: f64 = 0.8;
/// A rate needs at least this much history, seconds.
pub const MIN_SPAN_S: f64 = 0.3;
/// A rate needs at least this many samples.
pub const MIN_SAMPLES: usize = 5;
/// A track unseen for longer than this (s) starts its history again.
pub const MAX_GAP_S: f64 = 0.3;
/// Relative accelerations (m/s^2) vehicles reach: hard braking ahead while the ego speeds up.
pub const MAX_ACCEL_MPS2: f64 = 15.0;
/// Closing slower than this (m/s) is not closing: no time to collision.
pub const MIN_CLOSING_MPS: f64 = 0.3;
/// Rows of pitch uncertainty behind the ground-plane estimate.
const ROW_SIGMA_PX: f64 = 2.0;

/// Box pixels of uncertainty in a detector's width.
const WIDTH_SIGMA_PX: f64 = 3.0;
/// Ground contacts farther than this (m) teach a track nothing about its width.
const LEARN_MAX_Z: f64 = 45.0;
/// What a track's own boxes can tell about its width, at best, relative: their errors
/// (pitch, the detector's habits) are shared from frame to frame, so they do not average out.
const LEARN_FLOOR: f64 = 0.04;

/// A class's typical box width and how much boxes of that class spread around it, metres (a
/// box is wider than the body: mirrors, a sliver of side).
pub fn width_prior(label: &str) -> Option<(f64, f64)> {
    match label {
        "car" => Some((1.8, 0.1)),
        "truck" => Some((2.5, 0.1)),
        "bus" => Some((2.55, 0.05)),
        "motorcycle" | "motorbike" | "bicycle" => Some((0.7, 0.15)),
        _ => None,
    }
}

/// What one track's boxes say about its width in metres: each box whose ground contact is
/// near and not cut by the frame gives `w_px z / f`, weighted by the ground estimate's
/// certainty; the class prior is sharpened by them, never beyond [`LEARN_FLOOR`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WidthFit {
    /// Sum of the observations' weights (1 / variance, 1/m^2).
    info: f64,
    /// Sum of weight x width.
    weighted: f64,
}

impl WidthFit {
    /// Learns from `bbox` (source pixels) when its ground contact is sure.
    pub fn observe(&mut self, cam: &Camera, bbox: [f32; 4]) {
        let w_px = (bbox[2] - bbox[0]) as f64;
        if is_cut(cam, bbox) || w_px < 4.0 {
            return;
        }
        let Some(z) = cam.z_of_row(bbox[3] as f64).filter(|z| *z <= LEARN_MAX_Z) else {
            return;
        };
        let width = w_px * z / cam.f;
        let rel = (z * ROW_SIGMA_PX / (cam.f * cam.height_m)).hypot(WIDTH_SIGMA_PX / w_px);
        let var = (width * rel).powi(2);
        self.info += 1.0 / var;
        self.weighted += width / var;
    }

    /// The class prior `(width, spread)` sharpened by what was learnt.
    pub fn prior(&self, class: Option<(f64, f64)>) -> Option<(f64, f64)> {
        let (w0, s0) = class?;
        if self.info <= 0.0 {
            return Some((w0, s0));
        }
        let learnt = self.weighted / self.info;
        let info = self.info.min(1.0 / (LEARN_FLOOR * learnt).powi(2));
        let total = 1.0 / (s0 * s0) + info;
        let mean = (w0 / (s0 * s0) + learnt * info) / total;
        Some((mean, total.sqrt().recip()))
    }
}

/// Whether a box touches the frame's sides or bottom (the object goes on beyond it).
fn is_cut(cam: &Camera, bbox: [f32; 4]) -> bool {
    bbox[0] <= 2.0 || bbox[2] as f64 >= cam.width - 2.0 || bbox[3] as f64 >= cam.height - 2.0
}

/// The two estimates of an object's distance (m): from the ground under its box's bottom edge
/// (`None` at or above the horizon) and from its width against the class's typical width.
pub fn estimates(
    cam: &Camera,
    bbox: [f32; 4],
    prior: Option<(f64, f64)>,
) -> (Option<f64>, Option<f64>) {
    (
        cam.z_of_row(bbox[3] as f64),
        prior.and_then(|(w, _)| cam.z_of_width(w, (bbox[2] - bbox[0]) as f64)),
    )
}

/// The distance (m) of the object in `bbox` (source pixels) whose width prior is `prior`, the
/// two estimates fused by their variances; `None` when neither is known.
pub fn distance(cam: &Camera, bbox: [f32; 4], prior: Option<(f64, f64)>) -> Option<f64> {
    let (g, w) = estimates(cam, bbox, prior);
    let ground = g.map(|z| {
        let sigma = z * z * ROW_SIGMA_PX / (cam.f * cam.height_m);
        (z, sigma * sigma)
    });
    let width = w.zip(prior).map(|(z, (w, spread))| {
        let sigma = z * spread / w;
        (z, sigma * sigma)
    });
    match (ground, width) {
        (Some((a, va)), Some((b, vb))) => Some((a * vb + b * va) / (va + vb)),
        (Some((a, _)), None) | (None, Some((a, _))) => Some(a),
        (None, None) => None,
    }
}

/// Whether a box's two distances agree within `ratio` (a box whose width says twice the
/// distance its ground contact says is no vehicle of that class: a false detection, or one
/// seen from the side). Boxes cut by the frame's edge, or with one estimate only, pass.
pub fn plausible(cam: &Camera, bbox: [f32; 4], prior: Option<(f64, f64)>, ratio: f64) -> bool {
    match estimates(cam, bbox, prior) {
        (Some(g), Some(w)) if !is_cut(cam, bbox) => g.max(w) / g.min(w).max(1e-6) <= ratio,
        _ => true,
    }
}

/// What a track's history says now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Motion {
    /// The distance the window's line gives now, m.
    pub distance: Option<f64>,
    /// d(distance)/dt, m/s (negative: closing).
    pub range_rate: Option<f64>,
    /// Distance over closing speed, s; `None` when not closing.
    pub ttc: Option<f64>,
    /// From the box's scale rate alone, s; `None` when it is not growing.
    pub ttc_scale: Option<f64>,
    /// How much history (s) the rates stand on.
    pub span_s: f64,
}

/// The recent distances and box widths of one track.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// `(t, distance, width_px)`, oldest first, within [`WINDOW_S`].
    samples: VecDeque<(f64, f64, f64)>,
    /// The track's own width, learnt from its boxes.
    pub width: WidthFit,
}

impl History {
    /// Adds the sample at `t` (forgetting what left the window, or everything when time went
    /// backwards) and says what the window gives.
    pub fn update(&mut self, t: f64, distance: f64, width_px: f64) -> Motion {
        if self.samples.back().is_some_and(|s| s.0 >= t) || self.jumps(t, distance, width_px) {
            self.clear();
        }
        self.samples.push_back((t, distance, width_px));
        while self.samples.front().is_some_and(|s| s.0 < t - WINDOW_S) {
            self.samples.pop_front();
        }
        self.motion()
    }

    /// Whether a sample is off the window's line by more than a vehicle could move: the track
    /// went over to another object (an identity switch), so its past says nothing.
    fn jumps(&self, t: f64, distance: f64, width_px: f64) -> bool {
        let Some(last) = self.samples.back() else {
            return false;
        };
        let dt = (t - last.0).max(0.0);
        // Lost for a while and found again: perhaps on another object.
        let lost = dt > MAX_GAP_S;
        // 30 m/s of closing or opening, plus a tenth of the distance for the estimate's noise.
        let far = (distance - last.1).abs() > 30.0 * dt + 0.1 * last.1.max(distance) + 0.5;
        let resized = width_px.max(last.2) > 1.3 * width_px.min(last.2).max(1.0) + 4.0;
        lost || far || resized
    }

    pub fn clear(&mut self) {
        self.samples.clear();
        self.width = WidthFit::default();
    }

    fn motion(&self) -> Motion {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return Motion::default();
        };
        if last.0 - first.0 < MIN_SPAN_S || self.samples.len() < MIN_SAMPLES {
            return Motion::default();
        }
        let (range_rate, d_now) = slope(self.samples.iter().map(|s| (s.0, s.1)), last.0);
        // Closing only when the rate stands out of its own noise (two standard errors): a
        // far, flickering box gives wild slopes from few points.
        let significant = {
            let n = self.samples.len() as f64;
            let mt = self.samples.iter().map(|s| s.0).sum::<f64>() / n;
            let (mut stt, mut res) = (0.0, 0.0);
            for s in &self.samples {
                let fit = d_now + range_rate * (s.0 - last.0);
                stt += (s.0 - mt).powi(2);
                res += (s.1 - fit).powi(2);
            }
            let se = (res / (n - 2.0) / stt.max(1e-9)).sqrt();
            range_rate.abs() > 2.0 * se
        };
        // A window no vehicle could drive: its distances bend harder than any braking or
        // accelerating does, beyond what their noise explains. A track drifting from one
        // object onto another (a far truck, then the car before it) or a box stepping gives
        // such a window; its rates say nothing.
        let steady = parabola(self.samples.iter().map(|s| (s.0, s.1)), last.0)
            .is_none_or(|q| q.accel.abs() <= MAX_ACCEL_MPS2 + 3.0 * q.se_accel);
        let significant = significant && steady;
        // 1 / width is proportional to the distance, so it falls linearly at a constant
        // closing speed, and the time to collision is its value over its rate of fall.
        let (inv_rate, inv_now) = slope(self.samples.iter().map(|s| (s.0, 1.0 / s.2)), last.0);
        let ttc =
            (significant && -range_rate >= MIN_CLOSING_MPS).then(|| d_now.max(0.0) / -range_rate);
        // Growth slower than closing at the threshold speed from this distance is no growth.
        let ttc_scale = (steady && inv_rate < 0.0 && inv_now > 0.0)
            .then(|| inv_now / -inv_rate)
            .filter(|t| *t * MIN_CLOSING_MPS < d_now.max(1.0));
        Motion {
            distance: Some(d_now),
            range_rate: Some(range_rate),
            ttc,
            ttc_scale,
            span_s: last.0 - first.0,
        }
    }
}

/// What a least-squares parabola through `(t, y)` says: the acceleration (twice the quadratic
/// term) and its standard error.
#[derive(Debug, Clone, Copy)]
struct Parabola {
    accel: f64,
    se_accel: f64,
}

/// The parabola through `pts`; `None` with fewer than six points.
fn parabola(pts: impl Iterator<Item = (f64, f64)> + Clone, t_now: f64) -> Option<Parabola> {
    // Normal equations of y = a + b u + c u^2, u = t - t_now.
    let (mut m, mut r) = ([[0.0f64; 3]; 3], [0.0f64; 3]);
    let mut n = 0usize;
    for (t, y) in pts.clone() {
        let u = t - t_now;
        let row = [1.0, u, u * u];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += row[i] * row[j];
            }
            r[i] += row[i] * y;
        }
        n += 1;
    }
    if n < 6 {
        return None;
    }
    let inv = invert3(m)?;
    let c: [f64; 3] = std::array::from_fn(|i| (0..3).map(|j| inv[i][j] * r[j]).sum());
    let rss: f64 = pts
        .map(|(t, y)| {
            let u = t - t_now;
            (y - c[0] - c[1] * u - c[2] * u * u).powi(2)
        })
        .sum();
    let var = (rss / (n as f64 - 3.0)).max(0.0);
    Some(Parabola {
        accel: 2.0 * c[2],
        se_accel: 2.0 * (var * inv[2][2]).max(0.0).sqrt(),
    })
}

/// The inverse of a symmetric 3x3 matrix; `None` when singular.
fn invert3(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c = |i: usize, j: usize| {
        let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
        let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
        m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    if det.abs() < 1e-12 {
        return None;
    }
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = c(j, i) / det;
        }
    }
    Some(inv)
}

/// The least-squares slope of `(t, y)` and the line's value at `t_now`.
pub(super) fn slope(pts: impl Iterator<Item = (f64, f64)> + Clone, t_now: f64) -> (f64, f64) {
    let (mut n, mut st, mut sy) = (0.0, 0.0, 0.0);
    for (t, y) in pts.clone() {
        n += 1.0;
        st += t - t_now;
        sy += y;
    }
    let (mt, my) = (st / n, sy / n);
    let (mut stt, mut sty) = (0.0, 0.0);
    for (t, y) in pts {
        let dt = t - t_now - mt;
        stt += dt * dt;
        sty += dt * (y - my);
    }
    let b = if stt > 0.0 { sty / stt } else { 0.0 };
    (b, my - b * mt)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn cam() -> Camera {
        Camera {
            f: 748.8,
            cx: 480.0,
            horizon: 243.0,
            height_m: 1.35,
            width: 960.0,
            height: 540.0,
        }
    }

    /// The box of a car `w` m wide and 1.5 m tall whose rear is `z` m ahead, centred.
    pub(in crate::stage::adas) fn car_box(c: &Camera, z: f64, w: f64) -> [f32; 4] {
        let (u0, v1) = c.image(-w / 2.0, z);
        let (u1, _) = c.image(w / 2.0, z);
        let top = c.horizon + c.f * (c.height_m - 1.5) / z;
        [u0 as f32, top as f32, u1 as f32, v1 as f32]
    }

    #[test]
    fn distance_fuses_the_ground_point_and_the_width_prior() {
        let c = cam();
        for z in [8.0, 20.0, 45.0, 80.0] {
            let d = distance(&c, car_box(&c, z, 1.8), width_prior("car")).unwrap();
            assert!((d - z).abs() / z < 0.01, "{z}: {d}");
        }
        // A 2.0 m wide car at 60 m: the width prior alone says 54 m; the ground point is exact
        // but uncertain that far, so the fused answer lies between, nearer the prior.
        let d = distance(&c, car_box(&c, 60.0, 2.0), width_prior("car")).unwrap();
        assert!(d > 54.0 && d < 60.0, "{d}");
        // Near, the ground point dominates: a 2.0 m car at 10 m (the prior alone: 9 m) reads
        // within 2 %.
        let d = distance(&c, car_box(&c, 10.0, 2.0), width_prior("car")).unwrap();
        assert!((d - 10.0).abs() < 0.2, "{d}");
        // Above the horizon and no prior: unknown.
        assert_eq!(distance(&c, [400.0, 100.0, 500.0, 200.0], None), None);
    }

    #[test]
    fn a_track_learns_its_own_box_width_and_its_far_distances_follow() {
        let c = cam();
        // Boxes 2.05 m wide (mirrors and all) where the class says 1.8: unlearnt, the width
        // estimate at 60 m reads 12 % short and drags the fused distance with it.
        let prior = width_prior("car");
        let far = car_box(&c, 60.0, 2.05);
        let before = distance(&c, far, prior).unwrap();
        assert!(before < 57.0, "{before}");
        let mut fit = WidthFit::default();
        assert_eq!(fit.prior(prior), prior, "nothing learnt yet");
        for k in 0..30 {
            fit.observe(&c, car_box(&c, 12.0 + k as f64 * 0.5, 2.05));
        }
        // What was learnt outweighs the class (its errors are shared from frame to frame, so
        // never entirely): most of the way from 1.8 to 2.05, and surer than the class.
        let (w, spread) = fit.prior(prior).unwrap();
        assert!(w > 1.8 + 0.55 * 0.25 && w < 2.05, "learnt {w}");
        assert!(spread < 0.07, "{spread}");
        let after = distance(&c, far, fit.prior(prior)).unwrap();
        assert!(
            (after - 60.0).abs() < 0.6 * (before - 60.0).abs(),
            "{before} -> {after}"
        );
        // Boxes cut by the frame, or beyond the ground's sure range, teach nothing.
        let mut none = WidthFit::default();
        none.observe(&c, [0.0, 200.0, 300.0, 400.0]);
        none.observe(&c, car_box(&c, 80.0, 2.05));
        assert_eq!(none, WidthFit::default());
        // No class prior (a person): nothing to sharpen.
        assert_eq!(fit.prior(None), None);
    }

    #[test]
    fn closing_speed_and_both_times_to_collision_follow_the_track() {
        let c = cam();
        let mut h = History::default();
        // Closing at 5 m/s from 40 m, 25 frames a second: TTC at t is (40 - 5t) / 5.
        let mut last = Motion::default();
        for k in 0..40 {
            let t = 100.0 + k as f64 / 25.0;
            let z = 40.0 - 5.0 * (t - 100.0);
            let b = car_box(&c, z, 1.8);
            let d = distance(&c, b, width_prior("car")).unwrap();
            last = h.update(t, d, (b[2] - b[0]) as f64);
            if k < 7 {
                assert_eq!(last.ttc, None, "too little history at frame {k}");
            }
        }
        let t = 39.0 / 25.0;
        let want = (40.0 - 5.0 * t) / 5.0;
        assert!((last.range_rate.unwrap() + 5.0).abs() < 0.05, "{last:?}");
        assert!(
            (last.ttc.unwrap() - want).abs() / want < 0.02,
            "{last:?} want {want}"
        );
        assert!(
            (last.ttc_scale.unwrap() - want).abs() / want < 0.05,
            "{last:?}"
        );
        // Keeping the distance: no time to collision.
        let mut h = History::default();
        for k in 0..30 {
            let b = car_box(&c, 25.0, 1.8);
            last = h.update(k as f64 * 0.04, 25.0, (b[2] - b[0]) as f64);
        }
        assert_eq!((last.ttc, last.ttc_scale), (None, None), "{last:?}");
        // Time going backwards (a stream restart) forgets the history.
        assert_eq!(h.update(0.0, 25.0, 50.0), Motion::default());
    }

    #[test]
    fn a_window_no_vehicle_could_drive_gives_no_time_to_collision() {
        // The acceleration of a parabola, exactly, and no error.
        let pts: Vec<(f64, f64)> = (0..20)
            .map(|k| {
                let u = -(k as f64) / 25.0;
                (10.0 + u, 3.0 + 2.0 * u + 4.0 * u * u)
            })
            .collect();
        let q = parabola(pts.iter().copied(), 10.0).unwrap();
        assert!((q.accel - 8.0).abs() < 1e-6 && q.se_accel < 1e-6, "{q:?}");
        // A track drifting from a truck 60 m off onto the car before it at 45 m: its distances
        // rise and fall by 16-22 m within 0.6 s; the last stretch alone reads as 54 m/s closing.
        let c = cam();
        let mut h = History::default();
        let mut last = Motion::default();
        for k in 0..20 {
            let t = k as f64 / 30.0;
            let d = if k < 8 {
                50.0 + 2.0 * k as f64
            } else {
                66.0 - 1.8 * (k - 8) as f64
            };
            let w = c.f * 1.8 / d;
            last = h.update(t, d, w);
        }
        assert_eq!((last.ttc, last.ttc_scale), (None, None), "{last:?}");
        // Hard braking ahead (the closing speed up 8 m/s every second) is a vehicle's:
        // followed.
        let mut h = History::default();
        for k in 0..25 {
            let t = k as f64 / 30.0;
            let z = 20.0 - 2.0 * t - 4.0 * t * t;
            let b = car_box(&c, z, 1.8);
            let d = distance(&c, b, width_prior("car")).unwrap();
            last = h.update(t, d, (b[2] - b[0]) as f64);
        }
        assert!(last.ttc.is_some() && last.ttc_scale.is_some(), "{last:?}");
    }
}

//! The camera over the road: a pinhole at a known height whose optical axis is parallel to a
//! flat ground, the pitch folded into the horizon's row. A ground point `x` metres to the right
//! and `z` metres ahead is seen at `u = cx + f x / z`, `v = horizon + f h / z`; a pixel below the
//! horizon is the ground point `z = f h / (v - horizon)`, `x = (u - cx) z / f`.
//!
//! [`CameraConfig`] is the `camera:` block as written; [`CameraSpec`] the checked values, with
//! the defaults a value left out takes; [`Camera`] the spec on a frame of a given size.

use crate::config::diag::Diagnostics;
use serde::Deserialize;

/// Horizontal field of view taken when neither `focal_px` nor `hfov_deg` is given: a typical
/// dash camera (perceptd's sample drives use 65.3 degrees).
pub const DEFAULT_HFOV_DEG: f64 = 65.0;
/// Mount height taken when `height_m` is left out: a car's windscreen.
pub const DEFAULT_HEIGHT_M: f64 = 1.35;
/// Lane width assumed before lanes are seen (and when only one boundary is).
pub const DEFAULT_LANE_WIDTH_M: f64 = 3.5;
/// Camera to front bumper taken when `bumper_m` is left out: a windscreen camera in a car.
pub const DEFAULT_BUMPER_M: f64 = 1.5;

/// `camera:` as written. Every key is optional; see [`CameraSpec::check`] for the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Focal length in pixels of the frame the camera delivers (exclusive with `hfov_deg`).
    pub focal_px: Option<f64>,
    /// Horizontal field of view in degrees.
    pub hfov_deg: Option<f64>,
    /// Principal point as fractions of the frame's width and height (default `[0.5, 0.5]`).
    pub principal: Option<[f64; 2]>,
    /// Mount height above the road, metres.
    pub height_m: Option<f64>,
    /// Downward pitch of the optical axis, degrees (exclusive with `horizon`).
    pub pitch_deg: Option<f64>,
    /// The horizon's row as a fraction of the frame's height (0 top, 1 bottom).
    pub horizon: Option<f64>,
    /// Refine the horizon's row from the ego lane's markings while driving (default false):
    /// `horizon` or `pitch_deg` (or level) is where it starts.
    pub horizon_from_lanes: Option<bool>,
    /// The lane width to expect, metres.
    pub lane_width_m: Option<f64>,
    /// From the camera forward to the front bumper, metres: distances and times to collision
    /// are the bumper's.
    pub bumper_m: Option<f64>,
}

/// How the focal length is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Focal {
    Pixels(f64),
    /// Horizontal field of view, radians: the focal length follows from the frame's width.
    Hfov(f64),
}

/// How the horizon's row is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Horizon {
    /// A fraction of the frame's height.
    Row(f64),
    /// Downward pitch, radians: the horizon lies `f tan(pitch)` above the principal point.
    Pitch(f64),
}

/// The checked camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraSpec {
    pub focal: Focal,
    pub principal: [f64; 2],
    pub height_m: f64,
    pub horizon: Horizon,
    /// The horizon is refined from the lane markings ([`HorizonFit`]).
    pub horizon_from_lanes: bool,
    pub lane_width_m: f64,
    pub bumper_m: f64,
}

impl CameraSpec {
    /// Checks `cfg`; every impossible value is an error under `key.<field>`, every value left
    /// out takes its default with a warning naming it. `None` when there was an error.
    pub fn check(cfg: &CameraConfig, key: &str, diag: &mut Diagnostics) -> Option<CameraSpec> {
        let mut ok = true;
        let mut bad = |field: &str, msg: String| {
            diag.error(format!("{key}.{field}"), msg);
            ok = false;
        };
        let mut range = |field: &str, v: Option<f64>, lo: f64, hi: f64, what: &str| {
            if let Some(v) = v
                && !(v.is_finite() && v > lo && v < hi)
            {
                bad(
                    field,
                    format!("{v} is impossible; give {what}, above {lo} and below {hi}"),
                );
            }
        };
        range("focal_px", cfg.focal_px, 0.0, 1e5, "pixels");
        range("hfov_deg", cfg.hfov_deg, 5.0, 175.0, "degrees");
        range("height_m", cfg.height_m, 0.2, 10.0, "metres above the road");
        range("pitch_deg", cfg.pitch_deg, -30.0, 30.0, "degrees down");
        range(
            "horizon",
            cfg.horizon,
            0.0,
            1.0,
            "a fraction of the frame's height",
        );
        range("lane_width_m", cfg.lane_width_m, 1.5, 6.0, "metres");
        if let Some(b) = cfg.bumper_m
            && !(b.is_finite() && (0.0..=6.0).contains(&b))
        {
            bad(
                "bumper_m",
                format!(
                    "{b} is impossible; give the metres from the camera forward to the front bumper, 0 to 6"
                ),
            );
        }
        if let Some(p) = cfg.principal
            && !p.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1.0)
        {
            diag.error(
                format!("{key}.principal"),
                format!("{p:?} is outside the frame; give [x, y] as fractions of width and height, each between 0 and 1"),
            );
            ok = false;
        }
        if cfg.focal_px.is_some() && cfg.hfov_deg.is_some() {
            diag.error(
                format!("{key}.hfov_deg"),
                "both focal_px and hfov_deg are given; keep one (the focal length follows from either)",
            );
            ok = false;
        }
        if cfg.pitch_deg.is_some() && cfg.horizon.is_some() {
            diag.error(
                format!("{key}.pitch_deg"),
                "both pitch_deg and horizon are given; keep one (the horizon's row follows from either)",
            );
            ok = false;
        }
        let focal = match (cfg.focal_px, cfg.hfov_deg) {
            (Some(f), _) => Focal::Pixels(f),
            (None, Some(a)) => Focal::Hfov(a.to_radians()),
            (None, None) => {
                diag.warning(
                    format!("{key}.hfov_deg"),
                    format!("not given; assuming {DEFAULT_HFOV_DEG} degrees (distances scale with it: measure it for real figures)"),
                );
                Focal::Hfov(DEFAULT_HFOV_DEG.to_radians())
            }
        };
        let height_m = cfg.height_m.unwrap_or_else(|| {
            diag.warning(
                format!("{key}.height_m"),
                format!("not given; assuming {DEFAULT_HEIGHT_M} m above the road"),
            );
            DEFAULT_HEIGHT_M
        });
        let horizon = match (cfg.horizon, cfg.pitch_deg) {
            (Some(r), _) => Horizon::Row(r),
            (None, Some(p)) => Horizon::Pitch(p.to_radians()),
            (None, None) => {
                if cfg.horizon_from_lanes != Some(true) {
                    diag.warning(
                        format!("{key}.horizon"),
                        "not given; assuming the camera looks level (the horizon through the principal point); set it, or horizon_from_lanes: true to find it from the lane markings",
                    );
                }
                Horizon::Pitch(0.0)
            }
        };
        ok.then_some(CameraSpec {
            focal,
            principal: cfg.principal.unwrap_or([0.5, 0.5]),
            height_m,
            horizon,
            horizon_from_lanes: cfg.horizon_from_lanes.unwrap_or(false),
            lane_width_m: cfg.lane_width_m.unwrap_or(DEFAULT_LANE_WIDTH_M),
            bumper_m: cfg.bumper_m.unwrap_or_else(|| {
                diag.warning(
                    format!("{key}.bumper_m"),
                    format!("not given; assuming the front bumper {DEFAULT_BUMPER_M} m ahead of the camera"),
                );
                DEFAULT_BUMPER_M
            }),
        })
    }

    /// The camera on a `width` x `height` frame.
    pub fn on_frame(&self, width: u32, height: u32) -> Camera {
        let (w, h) = (width as f64, height as f64);
        let f = match self.focal {
            Focal::Pixels(f) => f,
            Focal::Hfov(a) => w / 2.0 / (a / 2.0).tan(),
        };
        let cy = self.principal[1] * h;
        let horizon = match self.horizon {
            Horizon::Row(r) => r * h,
            Horizon::Pitch(p) => cy - f * p.tan(),
        };
        Camera {
            f,
            cx: self.principal[0] * w,
            horizon,
            height_m: self.height_m,
            width: w,
            height: h,
        }
    }
}

/// The horizon's row learnt from the ego lane while driving. Two parallel markings seen with
/// the horizon `d` rows too high come out on the ground as lines that close in with distance:
/// the lane's width `W` shrinks by `W d / (f h)` a metre. So each frame whose two boundaries
/// are both sure and long says how far the horizon is off, `d = -(dW/dz) f h / W`; the shift
/// follows those readings with a time constant of [`HorizonFit::TAU_S`] (a merge or a curve
/// is a moment, a mis-set pitch is for good), each reading bounded to a few rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HorizonFit {
    /// Rows added to the configured horizon (positive: lower in the frame).
    pub shift: f64,
}

impl HorizonFit {
    pub const TAU_S: f64 = 3.0;
    /// A reading counts up to this many rows.
    const MAX_READING_PX: f64 = 15.0;

    /// One frame's boundaries as widths at two distances, `w_near` at `z_near` and `w_far` at
    /// `z_far` (metres, seen with `cam`, which holds the shift learnt so far), `dt` seconds
    /// after the last frame.
    pub fn observe(
        &mut self,
        cam: &Camera,
        (z_near, w_near): (f64, f64),
        (z_far, w_far): (f64, f64),
        dt: f64,
    ) {
        let w = (w_near + w_far) / 2.0;
        if !(w > 1.0 && z_far > z_near + 5.0 && dt > 0.0) {
            return;
        }
        let slope = (w_far - w_near) / (z_far - z_near);
        let d =
            (-slope * cam.f * cam.height_m / w).clamp(-Self::MAX_READING_PX, Self::MAX_READING_PX);
        let a = 1.0 - (-dt / Self::TAU_S).exp();
        // Within the frame's middle: a horizon outside it is no road camera's.
        let row = (cam.horizon + a * d).clamp(0.15 * cam.height, 0.85 * cam.height);
        self.shift += row - cam.horizon;
    }

    /// `cam` with the learnt horizon.
    pub fn apply(&self, mut cam: Camera) -> Camera {
        cam.horizon += self.shift;
        cam
    }
}

/// The camera on one frame size, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub f: f64,
    pub cx: f64,
    pub horizon: f64,
    pub height_m: f64,
    pub width: f64,
    pub height: f64,
}

impl Camera {
    /// The distance ahead (m) of the ground seen on row `v`; `None` at or above the horizon.
    pub fn z_of_row(&self, v: f64) -> Option<f64> {
        let d = v - self.horizon;
        (d > 1e-6).then(|| self.f * self.height_m / d)
    }

    /// The row on which the ground `z` metres ahead is seen.
    pub fn row_of_z(&self, z: f64) -> f64 {
        self.horizon + self.f * self.height_m / z
    }

    /// The ground point `(x, z)` seen at pixel `(u, v)`; `None` at or above the horizon.
    pub fn ground(&self, u: f64, v: f64) -> Option<(f64, f64)> {
        let z = self.z_of_row(v)?;
        Some(((u - self.cx) * z / self.f, z))
    }

    /// The pixel `(u, v)` of the ground point `(x, z)`, `z > 0`.
    pub fn image(&self, x: f64, z: f64) -> (f64, f64) {
        (self.cx + self.f * x / z, self.row_of_z(z))
    }

    /// The distance (m) of an object `width_m` wide seen `width_px` pixels wide.
    pub fn z_of_width(&self, width_m: f64, width_px: f64) -> Option<f64> {
        (width_px > 0.5).then(|| self.f * width_m / width_px)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cfg: CameraConfig) -> (Option<CameraSpec>, Diagnostics) {
        let mut d = Diagnostics::default();
        (CameraSpec::check(&cfg, "stages[3].camera", &mut d), d)
    }

    #[test]
    fn ground_and_image_are_inverse_and_match_the_pinhole() {
        let (s, _) = spec(CameraConfig {
            focal_px: Some(748.8),
            horizon: Some(0.45),
            height_m: Some(1.35),
            ..Default::default()
        });
        let c = s.unwrap().on_frame(960, 540);
        assert_eq!((c.cx, c.horizon), (480.0, 243.0));
        for (x, z) in [(-1.75, 8.0), (1.75, 30.0), (0.3, 70.0)] {
            let (u, v) = c.image(x, z);
            let (x2, z2) = c.ground(u, v).unwrap();
            assert!((x2 - x).abs() < 1e-9 && (z2 - z).abs() < 1e-9, "{x} {z}");
        }
        // 1.35 m below the camera, 10 m ahead: f * 1.35 / 10 rows under the horizon.
        assert!((c.row_of_z(10.0) - (243.0 + 748.8 * 0.135)).abs() < 1e-9);
        assert_eq!(c.ground(100.0, 243.0), None);
        assert_eq!(c.ground(100.0, 200.0), None);
        assert!((c.z_of_width(1.8, 74.88).unwrap() - 18.0).abs() < 1e-9);
    }

    #[test]
    fn field_of_view_and_pitch_give_focal_length_and_horizon() {
        let (s, d) = spec(CameraConfig {
            hfov_deg: Some(90.0),
            pitch_deg: Some(10.0),
            height_m: Some(1.2),
            bumper_m: Some(1.6),
            ..Default::default()
        });
        assert!(d.is_empty(), "{d:?}");
        let c = s.unwrap().on_frame(1000, 500);
        assert!((c.f - 500.0).abs() < 1e-9);
        assert!((c.horizon - (250.0 - 500.0 * 10f64.to_radians().tan())).abs() < 1e-6);
    }

    #[test]
    fn impossible_values_are_errors_naming_the_key_and_defaults_are_warned() {
        let (s, d) = spec(CameraConfig {
            focal_px: Some(-3.0),
            hfov_deg: Some(60.0),
            height_m: Some(0.0),
            horizon: Some(1.4),
            principal: Some([0.5, 2.0]),
            ..Default::default()
        });
        assert!(s.is_none());
        let text = format!("{d}");
        for key in [
            "stages[3].camera.focal_px",
            "stages[3].camera.hfov_deg",
            "stages[3].camera.height_m",
            "stages[3].camera.horizon",
            "stages[3].camera.principal",
        ] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        let (s, d) = spec(CameraConfig::default());
        let s = s.unwrap();
        assert_eq!(s.height_m, DEFAULT_HEIGHT_M);
        assert_eq!(s.lane_width_m, DEFAULT_LANE_WIDTH_M);
        let text = format!("{d}");
        assert!(
            text.contains("camera.hfov_deg") && text.contains("camera.height_m"),
            "{text}"
        );
        assert!(!d.has_errors(), "{text}");
    }
}

//! The ego lane from a segmentation head's lane-marking pixels, fitted on the ground plane.
//!
//! Rows below the horizon are scanned from near to far (every [`ROW_STEP`]-th row, out to
//! [`Z_MAX`] metres); each run of lane pixels is a candidate marking point, projected to the
//! ground (`x` right, `z` ahead). Each side's marking is found by votes: every point votes for
//! the lines `x = a + b z` through it (a few slopes, `a` in bins across the side's reach), and
//! the side takes the line near last frame's boundary when that one has support, else the
//! nearest line to the camera with enough support (a dashed marking has a quarter of a solid
//! one's points, so "nearest" and not "strongest" picks the ego lane's and not the next
//! lane's). The points within [`GATE`] of that line are fitted by weighted least squares
//! (a parabola once they span [`CURVE_SPAN`] metres), refitted once without outliers. A
//! side's confidence grows with how much of the range it covers and how closely its points lie
//! on it. Nothing is allocated per frame: the point buffers live in [`LaneFitter`].

use super::camera::Camera;

/// Rows scanned: every this many.
pub const ROW_STEP: usize = 2;
/// Nearest and farthest ground distance fitted, metres.
pub const Z_MIN: f64 = 3.0;
pub const Z_MAX: f64 = 45.0;
/// A run wider than this on the ground (m) is not a marking (a crossing, a painted area).
pub const MAX_RUN_M: f64 = 0.6;
/// Points farther than this from the first fit (m) are dropped before the second.
pub const GATE: f64 = 0.35;
/// Points from which a side counts as fully seen (with the span).
pub const MIN_POINTS_FULL: f64 = 12.0;
/// The z span (m) from which a side is fitted with curvature.
pub const CURVE_SPAN: f64 = 20.0;

/// One boundary on the ground: `x = c[0] + c[1] z + c[2] z^2`, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boundary {
    pub c: [f64; 3],
    /// 0 (not seen) to 1.
    pub confidence: f64,
    /// Points it was fitted on.
    pub points: usize,
    /// Farthest point, metres.
    pub z_far: f64,
}

impl Boundary {
    pub fn x_at(&self, z: f64) -> f64 {
        self.c[0] + z * (self.c[1] + z * self.c[2])
    }
}

/// Both boundaries of one frame, each when seen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LaneFit {
    pub left: Option<Boundary>,
    pub right: Option<Boundary>,
}

/// Fits lanes frame after frame, reusing its buffers.
#[derive(Debug)]
pub struct LaneFitter {
    /// Every marking point of the frame, `(z, x)`.
    points: Vec<(f64, f64)>,
    side_pts: Vec<(f64, f64)>,
    votes: [(f64, usize); VOTE_BINS],
}

impl Default for LaneFitter {
    fn default() -> LaneFitter {
        LaneFitter {
            points: Vec::with_capacity(1024),
            side_pts: Vec::with_capacity(512),
            votes: [(0.0, 0); VOTE_BINS],
        }
    }
}

impl LaneFitter {
    /// The boundaries in `map` (`width` x `height` class indices) where the class is `lane`,
    /// seen by `cam`; `prior` (the last frame's fit) settles which marking a side is when
    /// several would do, and `lane_width` (m) bounds where a side may lie.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        &mut self,
        map: &[u8],
        width: usize,
        height: usize,
        lane: u8,
        cam: &Camera,
        prior: &LaneFit,
        lane_width: f64,
    ) -> LaneFit {
        self.points.clear();
        let v_far = cam.row_of_z(Z_MAX).ceil().max(0.0) as usize;
        let v_near = (cam.row_of_z(Z_MIN).floor() as usize).min(height.saturating_sub(1));
        let mut v = v_near;
        while v >= v_far && v < height {
            let Some(z) = cam.z_of_row(v as f64 + 0.5) else {
                break;
            };
            let m_per_px = z / cam.f;
            let row = &map[v * width..(v + 1) * width];
            let mut u = 0;
            while u < width {
                if row[u] != lane {
                    u += 1;
                    continue;
                }
                let start = u;
                while u < width && row[u] == lane {
                    u += 1;
                }
                let run_m = (u - start) as f64 * m_per_px;
                let x = ((start + u) as f64 / 2.0 - cam.cx) * m_per_px;
                if run_m <= MAX_RUN_M && x.abs() <= lane_width * 1.6 {
                    self.points.push((z, x));
                }
            }
            if v < ROW_STEP {
                break;
            }
            v -= ROW_STEP;
        }
        let left = self.side(-1.0, prior.left.as_ref(), lane_width);
        let right = self.side(1.0, prior.right.as_ref(), lane_width);
        LaneFit { left, right }
    }

    /// The boundary on side `sign` (-1 left, +1 right): among the straight lines through the
    /// points (slopes within [`MAX_SLOPE`]), the one nearest the camera with enough support,
    /// or the one near the prior when it has support.
    fn side(&mut self, sign: f64, prior: Option<&Boundary>, lane_width: f64) -> Option<Boundary> {
        let reach = lane_width + 0.5;
        // Per bin, the best slope's (weight, points, a, b). Points weigh z^2 (up to 30 m), so
        // that each metre of road counts alike (rows crowd near the camera).
        let mut cands = [(0.0f64, 0usize, 0.0f64, 0.0f64); VOTE_BINS];
        let mut most = 0.0f64;
        for k in 0..SLOPES {
            let b = -MAX_SLOPE + 2.0 * MAX_SLOPE * k as f64 / (SLOPES - 1) as f64;
            self.votes.iter_mut().for_each(|v| *v = (0.0, 0));
            for &(z, x) in &self.points {
                let a = (x - b * z) * sign;
                if !(-0.3..reach).contains(&a) {
                    continue;
                }
                let bin = ((a + 0.3) / VOTE_BIN_M) as usize;
                if bin < VOTE_BINS {
                    let zc = z.min(30.0);
                    self.votes[bin].0 += zc * zc / 100.0;
                    self.votes[bin].1 += 1;
                }
            }
            for (bin, cand) in cands.iter_mut().enumerate() {
                // A bin and its neighbour: a marking's width may straddle two.
                let (w0, n0) = self.votes[bin];
                let (w1, n1) = self.votes.get(bin + 1).copied().unwrap_or((0.0, 0));
                let (w, n) = (w0 + w1, n0 + n1);
                if w > cand.0 {
                    *cand = (w, n, (bin as f64 * VOTE_BIN_M - 0.3 + VOTE_BIN_M) * sign, b);
                }
                most = most.max(w);
            }
        }
        let supported = |c: &&(f64, usize, f64, f64)| c.1 >= MIN_VOTES && c.0 >= 0.2 * most;
        // Near the prior (the same marking as the last frame) if it is supported...
        let near_prior = prior.and_then(|p| {
            cands
                .iter()
                .filter(|c| c.1 >= MIN_VOTES && (c.2 - p.c[0]).abs() < 0.5)
                .max_by(|a, b| a.0.total_cmp(&b.0))
        });
        // ... else the nearest supported line: the ego lane's marking, not the next lane's.
        let (_, _, a, b) = *near_prior.or_else(|| cands.iter().find(supported))?;
        self.side_pts.clear();
        self.side_pts.extend(
            self.points
                .iter()
                .filter(|&&(z, x)| (x - (a + b * z)).abs() <= 2.0 * GATE),
        );
        fit_side(&mut self.side_pts)
    }
}

/// Slopes tried (dx/dz), from `-MAX_SLOPE` to `MAX_SLOPE`.
const SLOPES: usize = 17;
pub const MAX_SLOPE: f64 = 0.12;
/// Votes are counted in bins of this width (m) across a side's reach.
const VOTE_BIN_M: f64 = 0.15;
const VOTE_BINS: usize = 64;
/// Points a line needs to be a boundary (and a fifth of the best line's weight).
const MIN_VOTES: usize = 6;

/// Least squares of `x` on `z` (with `z^2` when the points span [`CURVE_SPAN`]), each point
/// weighted by `1 / z` (far points are coarser); `None` for fewer than 6 points.
fn fit_once(pts: &[(f64, f64)]) -> Option<[f64; 3]> {
    if pts.len() < 6 {
        return None;
    }
    let (lo, hi) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let curved = hi - lo >= CURVE_SPAN;
    let n = if curved { 3 } else { 2 };
    // Normal equations in z scaled by 1/10 for conditioning.
    let mut a = [[0.0f64; 3]; 3];
    let mut b = [0.0f64; 3];
    for &(z, x) in pts {
        let w = 1.0 / z;
        let zs = z / 10.0;
        let basis = [1.0, zs, zs * zs];
        for i in 0..n {
            b[i] += w * basis[i] * x;
            for j in 0..n {
                a[i][j] += w * basis[i] * basis[j];
            }
        }
    }
    let s = solve(a, b, n)?;
    Some([s[0], s[1] / 10.0, s[2] / 100.0])
}

/// Gaussian elimination with partial pivoting on the first `n` rows.
fn solve(mut a: [[f64; 3]; 3], mut b: [f64; 3], n: usize) -> Option<[f64; 3]> {
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in col + 1..n {
            let k = a[r][col] / a[col][col];
            let pivot_row = a[col];
            for (v, p) in a[r].iter_mut().zip(pivot_row).take(n).skip(col) {
                *v -= k * p;
            }
            b[r] -= k * b[col];
        }
    }
    let mut x = [0.0; 3];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

fn fit_side(pts: &mut Vec<(f64, f64)>) -> Option<Boundary> {
    let c = fit_once(pts)?;
    let at = |c: &[f64; 3], z: f64| c[0] + z * (c[1] + z * c[2]);
    pts.retain(|&(z, x)| (x - at(&c, z)).abs() <= GATE);
    let c = fit_once(pts)?;
    let rms = (pts
        .iter()
        .map(|&(z, x)| (x - at(&c, z)).powi(2))
        .sum::<f64>()
        / pts.len() as f64)
        .sqrt();
    // Coverage: of the fitted range (a dashed marking leaves gaps, not a shorter span), and
    // enough points (a dash or two alone is not a boundary).
    let (near, far) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let span = ((far - near) / (0.6 * (Z_MAX - Z_MIN))).min(1.0);
    let coverage = span * (pts.len() as f64 / MIN_POINTS_FULL).min(1.0);
    let tightness = (1.0 - rms / GATE).clamp(0.0, 1.0);
    Some(Boundary {
        c,
        confidence: coverage * tightness,
        points: pts.len(),
        z_far: far,
    })
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

    /// A class map with markings 0.15 m wide along `x = x0 + k z^2`, dashed when asked.
    pub(in crate::stage::adas) fn paint(lines: &[(f64, f64, bool)], cam: &Camera) -> Vec<u8> {
        let (w, h) = (960usize, 540usize);
        let mut m = vec![0u8; w * h];
        for v in 0..h {
            let Some(z) = cam.z_of_row(v as f64 + 0.5) else {
                continue;
            };
            for &(x0, k, dashed) in lines {
                if dashed && (z % 12.0) > 3.0 {
                    continue;
                }
                let x = x0 + k * z * z;
                let (u0, _) = cam.image(x - 0.075, z);
                let (u1, _) = cam.image(x + 0.075, z);
                for u in (u0.round().max(0.0) as usize)..(u1.round().min(w as f64) as usize) {
                    m[v * w + u] = 2;
                }
            }
        }
        m
    }

    #[test]
    fn straight_and_curved_markings_are_fitted_on_the_ground() {
        let c = cam();
        let mut fitter = LaneFitter::default();
        // Ego 0.4 m right of the lane centre: lines at -2.15 and +1.35; the next lane's
        // marking at +4.85 must not be taken.
        let map = paint(
            &[(-2.15, 0.0, false), (1.35, 0.0, true), (4.85, 0.0, true)],
            &c,
        );
        let fit = fitter.fit(&map, 960, 540, 2, &c, &LaneFit::default(), 3.5);
        let (l, r) = (fit.left.unwrap(), fit.right.unwrap());
        for z in [5.0, 15.0, 30.0] {
            assert!(
                (l.x_at(z) + 2.15).abs() < 0.05,
                "left at {z}: {}",
                l.x_at(z)
            );
            assert!(
                (r.x_at(z) - 1.35).abs() < 0.05,
                "right at {z}: {}",
                r.x_at(z)
            );
        }
        assert!(l.confidence > 0.8, "{l:?}");
        // Dashed: gaps, but the same span, so nearly as sure.
        assert!(r.confidence > 0.6, "{r:?}");
        // A bend to the left: x = x0 - 0.002 z^2.
        let map = paint(&[(-1.75, -0.002, false), (1.75, -0.002, false)], &c);
        let fit = fitter.fit(&map, 960, 540, 2, &c, &fit, 3.5);
        let r = fit.right.unwrap();
        assert!(
            (r.x_at(35.0) - (1.75 - 0.002 * 35.0 * 35.0)).abs() < 0.1,
            "{r:?}"
        );
    }

    #[test]
    fn no_markings_give_no_boundary() {
        let c = cam();
        let map = vec![0u8; 960 * 540];
        let fit = LaneFitter::default().fit(&map, 960, 540, 2, &c, &LaneFit::default(), 3.5);
        assert_eq!(fit, LaneFit::default());
        // A painted area (a crossing) is not a marking.
        let map = vec![2u8; 960 * 540];
        let fit = LaneFitter::default().fit(&map, 960, 540, 2, &c, &LaneFit::default(), 3.5);
        assert_eq!(fit, LaneFit::default());
    }
}

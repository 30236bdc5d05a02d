//! The ego lane from a segmentation head's lane-marking pixels, fitted on the ground plane.
//!
//! Rows below the horizon are scanned from near to far (every [`ROW_STEP`]-th row, out to
//! [`Z_MAX`] metres); each run of lane pixels is a candidate marking point, projected to the
//! ground (`x` right, `z` ahead). The left boundary's points are the nearest runs left of the
//! track each row predicts (the last fit, else the vehicle's centre line), likewise the right;
//! each side is a weighted least-squares line `x = a + b z` (a parabola once the points span
//! [`CURVE_SPAN`] metres), refitted once without the points off it by more than [`GATE`]. A
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
#[derive(Debug, Default)]
pub struct LaneFitter {
    left: Vec<(f64, f64)>,
    right: Vec<(f64, f64)>,
}

impl LaneFitter {
    /// The boundaries in `map` (`width` x `height` class indices) where the class is `lane`,
    /// seen by `cam`; `prior` (the last frame's fit) says where to look first.
    pub fn fit(
        &mut self,
        map: &[u8],
        width: usize,
        height: usize,
        lane: u8,
        cam: &Camera,
        prior: &LaneFit,
    ) -> LaneFit {
        self.left.clear();
        self.right.clear();
        let v_far = cam.row_of_z(Z_MAX).ceil().max(0.0) as usize;
        let v_near = (cam.row_of_z(Z_MIN).floor() as usize).min(height.saturating_sub(1));
        let mut v = v_near;
        while v >= v_far && v < height {
            let Some(z) = cam.z_of_row(v as f64 + 0.5) else {
                break;
            };
            let m_per_px = z / cam.f;
            let guess = |b: &Option<Boundary>, default: f64| b.map_or(default, |b| b.x_at(z));
            let (gl, gr) = (guess(&prior.left, 0.0), guess(&prior.right, 0.0));
            let centre = if prior.left.is_some() && prior.right.is_some() {
                (gl + gr) / 2.0
            } else {
                0.0
            };
            // The nearest run on each side of the centre line.
            let (mut best_l, mut best_r): (Option<f64>, Option<f64>) = (None, None);
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
                if run_m > MAX_RUN_M {
                    continue;
                }
                let x = ((start + u) as f64 / 2.0 - cam.cx) * m_per_px;
                if x < centre {
                    best_l = Some(best_l.map_or(x, |b: f64| b.max(x)));
                } else if best_r.is_none() {
                    best_r = Some(x);
                }
            }
            if let Some(x) = best_l {
                self.left.push((z, x));
            }
            if let Some(x) = best_r {
                self.right.push((z, x));
            }
            if v < ROW_STEP {
                break;
            }
            v -= ROW_STEP;
        }
        LaneFit {
            left: fit_side(&mut self.left),
            right: fit_side(&mut self.right),
        }
    }
}

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
mod tests {
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
    fn paint(lines: &[(f64, f64, bool)], cam: &Camera) -> Vec<u8> {
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
        let fit = fitter.fit(&map, 960, 540, 2, &c, &LaneFit::default());
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
        let fit = fitter.fit(&map, 960, 540, 2, &c, &fit);
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
        let fit = LaneFitter::default().fit(&map, 960, 540, 2, &c, &LaneFit::default());
        assert_eq!(fit, LaneFit::default());
        // A painted area (a crossing) is not a marking.
        let map = vec![2u8; 960 * 540];
        let fit = LaneFitter::default().fit(&map, 960, 540, 2, &c, &LaneFit::default());
        assert_eq!(fit, LaneFit::default());
    }
}

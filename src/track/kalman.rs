//! The constant-velocity Kalman filter of SORT and ByteTrack, on the box centre, aspect ratio
//! and height (`[x, y, a, h]`), with time in **seconds** between predictions, so a 10 fps and a
//! 30 fps stream estimate the same velocities (in pixels per second) and age alike.
//!
//! Noise follows ByteTrack: standard deviations proportional to the box height (1/20 for
//! position, 1/160 for velocity per frame). The per-frame velocity noise is expressed here per
//! second at a reference rate of 30 frames per second.

// Fixed 4x4 and 8x8 matrix algebra reads best with indices.
#![allow(clippy::needless_range_loop)]

/// `[x, y, a, h, vx, vy, va, vh]` and its covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct KalmanState {
    pub mean: [f64; 8],
    pub cov: [[f64; 8]; 8],
}

const STD_POS: f64 = 1.0 / 20.0;
const STD_VEL: f64 = 1.0 / 160.0;
/// ByteTrack's noise is per frame; perceptd's clock is seconds, at this reference rate.
const REF_FPS: f64 = 30.0;

/// A box `[x1, y1, x2, y2]` as `[cx, cy, w / h, h]`.
pub fn to_xyah(b: [f32; 4]) -> [f64; 4] {
    let (w, h) = ((b[2] - b[0]) as f64, (b[3] - b[1]) as f64);
    let h = h.max(1e-3);
    [
        (b[0] as f64 + b[2] as f64) / 2.0,
        (b[1] as f64 + b[3] as f64) / 2.0,
        w / h,
        h,
    ]
}

/// `[cx, cy, a, h]` back to `[x1, y1, x2, y2]`.
pub fn to_xyxy(m: &[f64]) -> [f32; 4] {
    let (h, w) = (m[3], m[2] * m[3]);
    [
        (m[0] - w / 2.0) as f32,
        (m[1] - h / 2.0) as f32,
        (m[0] + w / 2.0) as f32,
        (m[1] + h / 2.0) as f32,
    ]
}

impl KalmanState {
    /// A new track from its first measurement: position known, velocity unknown.
    pub fn initiate(z: [f64; 4]) -> KalmanState {
        let h = z[3];
        let std = [
            2.0 * STD_POS * h,
            2.0 * STD_POS * h,
            1e-2,
            2.0 * STD_POS * h,
            10.0 * STD_VEL * h * REF_FPS,
            10.0 * STD_VEL * h * REF_FPS,
            1e-5 * REF_FPS,
            10.0 * STD_VEL * h * REF_FPS,
        ];
        let mut cov = [[0.0; 8]; 8];
        for i in 0..8 {
            cov[i][i] = std[i] * std[i];
        }
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&z);
        KalmanState { mean, cov }
    }

    /// Moves the state `dt` seconds on.
    pub fn predict(&mut self, dt: f64) {
        let dt = dt.max(0.0);
        let h = self.mean[3];
        // Process noise grows with the time step: per frame at REF_FPS, scaled to dt.
        let frames = dt * REF_FPS;
        let q = [
            STD_POS * h,
            STD_POS * h,
            1e-2,
            STD_POS * h,
            STD_VEL * h * REF_FPS,
            STD_VEL * h * REF_FPS,
            1e-5 * REF_FPS,
            STD_VEL * h * REF_FPS,
        ];
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4] * dt;
        }
        // cov = F cov F^T + Q with F = [[I, dt I], [0, I]], by 4x4 blocks
        // [[A, B], [C, D]] -> [[A + dt (B + C) + dt^2 D, B + dt D], [C + dt D, D]].
        let c = &mut self.cov;
        for i in 0..4 {
            for j in 0..4 {
                let (a, b, cc, d) = (c[i][j], c[i][j + 4], c[i + 4][j], c[i + 4][j + 4]);
                c[i][j] = a + dt * (b + cc) + dt * dt * d;
                c[i][j + 4] = b + dt * d;
                c[i + 4][j] = cc + dt * d;
            }
        }
        for i in 0..8 {
            c[i][i] += q[i] * q[i] * frames;
        }
    }

    /// Corrects the state with a measurement `[cx, cy, a, h]`.
    pub fn update(&mut self, z: [f64; 4]) {
        let h = self.mean[3];
        let r = [STD_POS * h, STD_POS * h, 1e-1, STD_POS * h];
        // S = H P H^T + R (the top-left 4x4 block), K = P H^T S^-1.
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.cov[i][j];
            }
            s[i][i] += r[i] * r[i];
        }
        let Some(si) = invert4(&s) else {
            return;
        };
        let mut k = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                k[i][j] = (0..4).map(|a| self.cov[i][a] * si[a][j]).sum();
            }
        }
        let y: [f64; 4] = std::array::from_fn(|i| z[i] - self.mean[i]);
        for i in 0..8 {
            self.mean[i] += (0..4).map(|j| k[i][j] * y[j]).sum::<f64>();
        }
        // P = P - K H P.
        let c = self.cov;
        for i in 0..8 {
            for j in 0..8 {
                self.cov[i][j] = c[i][j] - (0..4).map(|a| k[i][a] * c[a][j]).sum::<f64>();
            }
        }
    }

    pub fn xyxy(&self) -> [f32; 4] {
        to_xyxy(&self.mean[..4])
    }
}

/// Inverse of a 4x4 matrix by Gauss-Jordan elimination with partial pivoting.
fn invert4(m: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..4 {
        let piv = (col..4).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        inv.swap(col, piv);
        let d = a[col][col];
        for j in 0..4 {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for r in 0..4 {
            if r != col {
                let f = a[r][col];
                for j in 0..4 {
                    a[r][j] -= f * a[col][j];
                    inv[r][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box moving at (120, -30) px/s observed at `fps` for 3 s: the velocity estimate, px/s.
    fn velocity_at(fps: f64) -> (f64, f64) {
        let dt = 1.0 / fps;
        let at = |t: f64| [100.0 + 120.0 * t, 300.0 - 30.0 * t, 0.5, 80.0];
        let mut k = KalmanState::initiate(at(0.0));
        let n = (3.0 * fps) as usize;
        for i in 1..=n {
            k.predict(dt);
            k.update(at(i as f64 * dt));
        }
        (k.mean[4], k.mean[5])
    }

    #[test]
    fn velocity_is_per_second_whatever_the_frame_rate() {
        for fps in [10.0, 30.0] {
            let (vx, vy) = velocity_at(fps);
            assert!(
                (vx - 120.0).abs() < 3.0 && (vy + 30.0).abs() < 3.0,
                "{fps} fps: {vx}, {vy}"
            );
        }
    }

    #[test]
    fn prediction_without_measurements_follows_the_motion_and_grows_uncertain() {
        let mut k = KalmanState::initiate([0.0, 0.0, 1.0, 50.0]);
        k.mean[4] = 10.0;
        let p0 = k.cov[0][0];
        k.predict(0.5);
        assert!((k.mean[0] - 5.0).abs() < 1e-9);
        assert!(k.cov[0][0] > p0, "uncertainty grows while unobserved");
        let b = k.xyxy();
        assert!((b[2] - b[0] - 50.0).abs() < 1e-3 && (b[3] - b[1] - 50.0).abs() < 1e-3);
    }

    #[test]
    fn boxes_round_trip_through_xyah() {
        let b = [10.0f32, 20.0, 50.0, 100.0];
        let back = to_xyxy(&to_xyah(b));
        assert!(
            b.iter().zip(&back).all(|(x, y)| (x - y).abs() < 1e-4),
            "{back:?}"
        );
    }
}

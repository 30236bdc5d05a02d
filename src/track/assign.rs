//! Optimal assignment (minimum total cost) between tracks and detections: the Hungarian method
//! on a rectangular cost matrix, with a gate above which a pair may not be matched.

/// The most pairs `(row, col)` with `cost <= gate` that can be made, and among those the ones
/// of minimum total cost; rows and columns left out are unmatched. `cost` is row-major,
/// `rows x cols`.
pub fn assign(cost: &[f32], rows: usize, cols: usize, gate: f32) -> Vec<(usize, usize)> {
    let mut out = vec![];
    Assigner::default().solve(cost, rows, cols, gate, &mut out);
    out
}

/// The Hungarian method with its work buffers kept between calls (a tracker solves several
/// small problems every frame).
#[derive(Debug, Clone, Default)]
pub struct Assigner {
    u: Vec<f64>,
    v: Vec<f64>,
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
}

impl Assigner {
    /// As [`assign`], into `out` (cleared first), sorted by row.
    pub fn solve(
        &mut self,
        cost: &[f32],
        rows: usize,
        cols: usize,
        gate: f32,
        out: &mut Vec<(usize, usize)>,
    ) {
        assert_eq!(cost.len(), rows * cols, "cost matrix is rows x cols");
        out.clear();
        if rows == 0 || cols == 0 {
            return;
        }
        // Square the problem. A gated-out or padding pair costs more than all allowed pairs
        // together, so one more allowed match always beats any saving in cost.
        let n = rows.max(cols);
        let allowed_max = cost
            .iter()
            .filter(|&&c| c <= gate)
            .fold(0f64, |m, &c| m.max(c as f64));
        let big = (n as f64 + 1.0) * (allowed_max.abs() + 1.0);
        let at = |r: usize, c: usize| -> f64 {
            if r < rows && c < cols {
                let v = cost[r * cols + c];
                if v <= gate { v as f64 } else { big }
            } else {
                big
            }
        };
        // Potentials (u, v), the matching `p[col] = row` (1-based, 0 = none), shortest paths.
        let Assigner {
            u,
            v,
            p,
            way,
            minv,
            used,
        } = self;
        for b in [&mut *u, &mut *v] {
            b.clear();
            b.resize(n + 1, 0.0);
        }
        for b in [&mut *p, &mut *way] {
            b.clear();
            b.resize(n + 1, 0);
        }
        for i in 1..=n {
            p[0] = i;
            let mut j0 = 0;
            minv.clear();
            minv.resize(n + 1, f64::INFINITY);
            used.clear();
            used.resize(n + 1, false);
            loop {
                used[j0] = true;
                let i0 = p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                for j in 1..=n {
                    if !used[j] {
                        let cur = at(i0 - 1, j - 1) - u[i0] - v[j];
                        if cur < minv[j] {
                            minv[j] = cur;
                            way[j] = j0;
                        }
                        if minv[j] < delta {
                            delta = minv[j];
                            j1 = j;
                        }
                    }
                }
                for j in 0..=n {
                    if used[j] {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    } else {
                        minv[j] -= delta;
                    }
                }
                j0 = j1;
                if p[j0] == 0 {
                    break;
                }
            }
            loop {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
        out.extend(
            (1..=n)
                .filter(|&j| p[j] > 0)
                .map(|j| (p[j] - 1, j - 1))
                .filter(|&(r, c)| r < rows && c < cols && cost[r * cols + c] <= gate),
        );
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of matching, by brute force: the minimum total cost over gated pairs, where an
    /// unmatched row or column costs nothing but the count of matches is maximal first.
    fn brute(cost: &[f32], rows: usize, cols: usize, gate: f32) -> (usize, f32) {
        fn go(
            r: usize,
            used: &mut Vec<bool>,
            cost: &[f32],
            rows: usize,
            cols: usize,
            gate: f32,
        ) -> (usize, f32) {
            if r == rows {
                return (0, 0.0);
            }
            let mut best = go(r + 1, used, cost, rows, cols, gate);
            for c in 0..cols {
                let v = cost[r * cols + c];
                if !used[c] && v <= gate {
                    used[c] = true;
                    let (n, s) = go(r + 1, used, cost, rows, cols, gate);
                    used[c] = false;
                    let cand = (n + 1, s + v);
                    if cand.0 > best.0 || (cand.0 == best.0 && cand.1 < best.1 - 1e-6) {
                        best = cand;
                    }
                }
            }
            best
        }
        go(0, &mut vec![false; cols], cost, rows, cols, gate)
    }

    #[test]
    fn the_classic_example_is_solved() {
        #[rustfmt::skip]
        let c = [
            4.0, 1.0, 3.0,
            2.0, 0.0, 5.0,
            3.0, 2.0, 2.0,
        ];
        assert_eq!(assign(&c, 3, 3, 10.0), vec![(0, 1), (1, 0), (2, 2)]);
    }

    #[test]
    fn gated_pairs_are_never_matched_and_rectangles_work() {
        // 2 tracks, 3 detections: track 1 may only take detection 2.
        #[rustfmt::skip]
        let c = [
            0.1, 0.2, 0.9,
            0.95, 0.9, 0.3,
        ];
        assert_eq!(assign(&c, 2, 3, 0.5), vec![(0, 0), (1, 2)]);
        assert_eq!(assign(&c, 2, 3, 0.05), vec![]);
        assert!(assign(&[], 0, 4, 1.0).is_empty());
    }

    #[test]
    fn agrees_with_brute_force_on_random_matrices() {
        let mut s = 7u32;
        let mut rnd = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1 << 24) as f32
        };
        for rows in 1..7 {
            for cols in 1..7 {
                for _ in 0..20 {
                    let c: Vec<f32> = (0..rows * cols).map(|_| rnd()).collect();
                    let got = assign(&c, rows, cols, 0.7);
                    let mut seen = std::collections::HashSet::new();
                    assert!(
                        got.iter().all(|&(_, k)| seen.insert(k)),
                        "one row per column"
                    );
                    let sum: f32 = got.iter().map(|&(r, k)| c[r * cols + k]).sum();
                    let (n, best) = brute(&c, rows, cols, 0.7);
                    assert_eq!(got.len(), n, "{rows}x{cols} {c:?}");
                    assert!((sum - best).abs() < 1e-4, "{rows}x{cols}: {sum} vs {best}");
                }
            }
        }
    }
}

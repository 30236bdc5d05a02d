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

/// ByteTrack's assignment: the pairs with `cost < limit` that minimise the total cost when every
/// row and column left unmatched costs `limit / 2`, i.e. that maximise the sum of `limit - cost`
/// over the pairs made. This is what `lap.lapjv(cost, extend_cost=True, cost_limit=limit)`
/// solves in the reference implementation; unlike [`assign`] it may leave a pair unmade to make
/// two better ones.
pub fn assign_limited(cost: &[f32], rows: usize, cols: usize, limit: f32) -> Vec<(usize, usize)> {
    let mut out = vec![];
    Assigner::default().solve_limited(cost, rows, cols, limit, &mut out);
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
    /// `solve_limited`'s savings matrix.
    shifted: Vec<f32>,
}

impl Assigner {
    /// As [`assign_limited`], into `out` (cleared first), sorted by row.
    pub fn solve_limited(
        &mut self,
        cost: &[f32],
        rows: usize,
        cols: usize,
        limit: f32,
        out: &mut Vec<(usize, usize)>,
    ) {
        assert_eq!(cost.len(), rows * cols, "cost matrix is rows x cols");
        // Leaving a row unmatched is worth 0, a pair `cost - limit` (< 0 when worth making): a
        // complete assignment of minimum total over these is the optimum, its pairs at 0 the
        // rows left unmatched.
        let mut shifted = std::mem::take(&mut self.shifted);
        shifted.clear();
        shifted.extend(
            cost.iter()
                .map(|&c| if c < limit { c - limit } else { 0.0 }),
        );
        self.solve(&shifted, rows, cols, f32::MAX, out);
        out.retain(|&(r, c)| cost[r * cols + c] < limit);
        self.shifted = shifted;
    }

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
            ..
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

/// Uniform values in [0, 1) from a seeded linear congruential generator: random test matrices
/// and boxes that are the same on every run.
#[cfg(test)]
pub(crate) fn lcg(mut s: u32) -> impl FnMut() -> f32 {
    move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) as f32 / (1 << 24) as f32
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

    /// Every way of matching, by brute force: the largest sum of `limit - cost` over the pairs.
    fn brute_limited(cost: &[f32], rows: usize, cols: usize, limit: f32) -> f32 {
        fn go(
            r: usize,
            used: &mut Vec<bool>,
            cost: &[f32],
            rows: usize,
            cols: usize,
            limit: f32,
        ) -> f32 {
            if r == rows {
                return 0.0;
            }
            let mut best = go(r + 1, used, cost, rows, cols, limit);
            for c in 0..cols {
                let v = cost[r * cols + c];
                if !used[c] && v < limit {
                    used[c] = true;
                    best = best.max(limit - v + go(r + 1, used, cost, rows, cols, limit));
                    used[c] = false;
                }
            }
            best
        }
        go(0, &mut vec![false; cols], cost, rows, cols, limit)
    }

    #[test]
    fn limited_assignment_trades_one_pair_for_two_better_ones() {
        // Row 0 fits column 0 best, but taking it leaves row 1 without a pair: two pairs save
        // more (0.3 + 0.6 against 0.7).
        #[rustfmt::skip]
        let c = [
            0.1, 0.5,
            0.2, 0.9,
        ];
        assert_eq!(assign_limited(&c, 2, 2, 0.8), vec![(0, 1), (1, 0)]);
        // A pair at 0.75 saves 0.05, less than the 0.6 lost by breaking the 0.2 pair: one pair,
        // where the most-pairs rule makes two.
        #[rustfmt::skip]
        let c = [
            0.2, 0.75,
            0.75, 9.0,
        ];
        assert_eq!(assign_limited(&c, 2, 2, 0.8), vec![(0, 0)]);
        assert_eq!(assign(&c, 2, 2, 0.8), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn limited_assignment_agrees_with_brute_force_on_random_matrices() {
        let mut rnd = lcg(5);
        for rows in 1..7 {
            for cols in 1..7 {
                for _ in 0..20 {
                    let c: Vec<f32> = (0..rows * cols).map(|_| rnd()).collect();
                    let got = assign_limited(&c, rows, cols, 0.6);
                    let mut seen = std::collections::HashSet::new();
                    assert!(
                        got.iter().all(|&(_, k)| seen.insert(k)),
                        "one row per column"
                    );
                    assert!(got.iter().all(|&(r, k)| c[r * cols + k] < 0.6));
                    let saved: f32 = got.iter().map(|&(r, k)| 0.6 - c[r * cols + k]).sum();
                    let best = brute_limited(&c, rows, cols, 0.6);
                    assert!(
                        (saved - best).abs() < 1e-4,
                        "{rows}x{cols}: {saved} vs {best}"
                    );
                }
            }
        }
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
        let mut rnd = lcg(7);
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

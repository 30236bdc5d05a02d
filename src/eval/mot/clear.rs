//! Matching one sequence, frame by frame, as py-motmetrics' `MOTAccumulator` does, and the
//! global id assignment behind IDF1.

use super::counts::MotCounts;
use super::file::{
    GT_MIN_CONFIDENCE, MAX_DISTANCE, MotBox, MotError, MotFile, PRED_MIN_CONFIDENCE,
};
use crate::track::assign::Assigner;
use std::collections::HashMap;

/// A box ready for matching: dense id, corners as py-motmetrics computes them.
#[derive(Debug, Clone, Copy)]
struct Item {
    frame: i64,
    id: u32,
    lo: [f64; 2],
    hi: [f64; 2],
    area: f64,
}

impl Item {
    fn new(frame: i64, id: u32, r: [f64; 4]) -> Self {
        // py-motmetrics shifts x, y by -1 (MATLAB convention) and takes max = min + size; the
        // shift changes no overlap, but keeping it keeps the rounding, hence the gate, identical.
        let lo = [r[0] - 1.0, r[1] - 1.0];
        let hi = [lo[0] + r[2], lo[1] + r[3]];
        let area = (hi[0] - lo[0]).max(0.0) * (hi[1] - lo[1]).max(0.0);
        Self {
            frame,
            id,
            lo,
            hi,
            area,
        }
    }

    /// `1 - IoU` (1 for boxes that do not overlap).
    fn distance(&self, o: &Item) -> f64 {
        let w = (self.hi[0].min(o.hi[0]) - self.lo[0].max(o.lo[0])).max(0.0);
        let h = (self.hi[1].min(o.hi[1]) - self.lo[1].max(o.lo[1])).max(0.0);
        let inter = w * h;
        if inter == 0.0 {
            return 1.0;
        }
        1.0 - inter / (self.area + o.area - inter)
    }
}

/// One file's boxes above `min_conf`, sorted by frame (file order within a frame), with dense
/// ids; each file frame (kept or not) is pushed onto `frames`. Returns the items and id count.
fn prepare(
    file: &MotFile,
    min_conf: f64,
    frames: &mut Vec<i64>,
) -> Result<(Vec<Item>, usize), MotError> {
    let mut dense: HashMap<i64, u32> = HashMap::new();
    let mut kept: Vec<(&MotBox, u32)> = Vec::with_capacity(file.boxes.len());
    for b in &file.boxes {
        frames.push(b.frame);
        if b.conf >= min_conf {
            let n = dense.len() as u32;
            kept.push((b, *dense.entry(b.id).or_insert(n)));
        }
    }
    kept.sort_by_key(|(b, _)| b.frame); // stable: file order within a frame
    // One box per id and frame: the frame-by-frame matching keys everything by id.
    let mut last: Vec<(i64, usize)> = vec![(i64::MIN, 0); dense.len()];
    for &(b, id) in &kept {
        let seen = &mut last[id as usize];
        if seen.0 == b.frame {
            return Err(MotError::Line {
                path: file.path.clone(),
                line: b.line.max(seen.1),
                message: format!(
                    "id {} appears twice in frame {} (lines {} and {}); each id may have one box per frame",
                    b.id,
                    b.frame,
                    b.line.min(seen.1),
                    b.line.max(seen.1)
                ),
            });
        }
        *seen = (b.frame, b.line);
    }
    let items = kept
        .into_iter()
        .map(|(b, id)| Item::new(b.frame, id, b.rect))
        .collect();
    Ok((items, dense.len()))
}

const NONE: u32 = u32::MAX;

/// Per ground-truth id: how often seen and matched, and the fragmentation state.
#[derive(Debug, Clone, Copy, Default)]
struct ObjectStats {
    frames: u32,
    tracked: u32,
    /// Matched at least once so far.
    was_tracked: bool,
    /// Missed since the last match.
    in_gap: bool,
}

/// Work buffers of the frame loop, reused from frame to frame.
#[derive(Default)]
struct FrameBuffers {
    /// `1 - IoU`, NaN where not matchable; gt-major.
    dist: Vec<f64>,
    gt_done: Vec<bool>,
    pred_done: Vec<bool>,
    rows: Vec<usize>,
    cols: Vec<usize>,
    cost: Vec<f32>,
    pairs: Vec<(usize, usize)>,
}

/// Evaluates one sequence: its ground truth and its predictions.
pub fn evaluate(gt: &MotFile, pred: &MotFile) -> Result<MotCounts, MotError> {
    let mut frames = Vec::with_capacity(gt.boxes.len() + pred.boxes.len());
    let (g, n_gt) = prepare(gt, GT_MIN_CONFIDENCE, &mut frames)?;
    let (p, n_pred) = prepare(pred, PRED_MIN_CONFIDENCE, &mut frames)?;
    frames.sort_unstable();
    frames.dedup();

    let mut c = MotCounts {
        num_frames: frames.len() as u64,
        num_objects: g.len() as u64,
        num_predictions: p.len() as u64,
        num_unique_objects: n_gt as u64,
        ..MotCounts::default()
    };
    // The prediction id each ground-truth id was last matched with.
    let mut last_match = vec![NONE; n_gt];
    let mut stats = vec![ObjectStats::default(); n_gt];
    // Where each prediction id sits in the current frame: (frame number + 1, index); 0 = absent.
    let mut pred_at: Vec<(usize, usize)> = vec![(0, 0); n_pred];
    // Frames in which each (gt id, prediction id) pair was matchable, for IDTP.
    let mut pair_frames: HashMap<u64, u32> = HashMap::new();
    let mut assigner = Assigner::default();
    let mut buf = FrameBuffers::default();

    let (mut gi, mut pi) = (0, 0);
    for (k, &f) in frames.iter().enumerate() {
        let g0 = gi;
        while gi < g.len() && g[gi].frame == f {
            gi += 1;
        }
        let p0 = pi;
        while pi < p.len() && p[pi].frame == f {
            pi += 1;
        }
        let (gs, ps) = (&g[g0..gi], &p[p0..pi]);
        let (ng, np) = (gs.len(), ps.len());
        let FrameBuffers {
            dist,
            gt_done,
            pred_done,
            rows,
            cols,
            cost,
            pairs,
        } = &mut buf;
        gt_done.clear();
        gt_done.resize(ng, false);
        pred_done.clear();
        pred_done.resize(np, false);
        dist.clear();
        for a in gs {
            for b in ps {
                let d = a.distance(b);
                if d <= MAX_DISTANCE {
                    *pair_frames.entry(pair_key(a.id, b.id)).or_insert(0) += 1;
                    dist.push(d);
                } else {
                    dist.push(f64::NAN);
                }
            }
        }
        // Records the match of gt `i` with prediction `j`.
        macro_rules! matched {
            ($i:expr, $j:expr, $switch:expr) => {{
                let (i, j): (usize, usize) = ($i, $j);
                gt_done[i] = true;
                pred_done[j] = true;
                let o = gs[i].id as usize;
                last_match[o] = ps[j].id;
                stats[o].tracked += 1;
                c.distance_sum += dist[i * np + j];
                if $switch {
                    c.num_switches += 1;
                } else {
                    c.num_matches += 1;
                }
            }};
        }
        if ng > 0 && np > 0 {
            // 1. Keep the previous pairs that are present and matchable.
            for (j, b) in ps.iter().enumerate() {
                pred_at[b.id as usize] = (k + 1, j);
            }
            for (i, a) in gs.iter().enumerate() {
                let h = last_match[a.id as usize];
                if h == NONE {
                    continue;
                }
                let (stamp, j) = pred_at[h as usize];
                if stamp == k + 1 && !pred_done[j] && dist[i * np + j].is_finite() {
                    matched!(i, j, false);
                }
            }
            // 2. The least-cost assignment of the rest.
            rows.clear();
            rows.extend((0..ng).filter(|&i| !gt_done[i]));
            cols.clear();
            cols.extend((0..np).filter(|&j| !pred_done[j]));
            cost.clear();
            let mut any = false;
            for &i in rows.iter() {
                for &j in cols.iter() {
                    let d = dist[i * np + j];
                    any |= d.is_finite();
                    // Not matchable: above the gate. A finite d <= 0.5 stays <= 0.5 in f32.
                    cost.push(if d.is_finite() { d as f32 } else { 1.0 });
                }
            }
            if any {
                assigner.solve(cost, rows.len(), cols.len(), MAX_DISTANCE as f32, pairs);
                for &(r, s) in pairs.iter() {
                    let (i, j) = (rows[r], cols[s]);
                    let prev = last_match[gs[i].id as usize];
                    matched!(i, j, prev != NONE && prev != ps[j].id);
                }
            }
        }
        // 3. Misses and false positives.
        for (i, a) in gs.iter().enumerate() {
            let s = &mut stats[a.id as usize];
            s.frames += 1;
            if gt_done[i] {
                if s.in_gap {
                    c.num_fragmentations += 1;
                    s.in_gap = false;
                }
                s.was_tracked = true;
            } else {
                c.num_misses += 1;
                s.in_gap |= s.was_tracked;
            }
        }
        c.num_false_positives += pred_done.iter().filter(|&&d| !d).count() as u64;
    }

    for s in &stats {
        let r = s.tracked as f64 / s.frames as f64;
        if r >= 0.8 {
            c.mostly_tracked += 1;
        } else if r >= 0.2 {
            c.partially_tracked += 1;
        } else {
            c.mostly_lost += 1;
        }
    }
    let edges: Vec<(u32, u32, u32)> = pair_frames
        .into_iter()
        .map(|(key, w)| ((key >> 32) as u32, key as u32, w))
        .collect();
    c.idtp = max_weight_matching(&edges, n_gt, n_pred);
    Ok(c)
}

fn pair_key(gt: u32, pred: u32) -> u64 {
    (u64::from(gt) << 32) | u64::from(pred)
}

/// The largest total weight of a one-to-one matching between ground-truth ids (`0..n_gt`) and
/// prediction ids (`0..n_pred`), over `edges` `(gt, pred, weight)` (distinct pairs, weight > 0).
/// Solved per connected component: an optimal matching never pairs ids of different components.
pub(super) fn max_weight_matching(edges: &[(u32, u32, u32)], n_gt: usize, n_pred: usize) -> u64 {
    // Union-find over gt ids then prediction ids.
    let mut parent: Vec<usize> = (0..n_gt + n_pred).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &(o, h, _) in edges {
        let (a, b) = (
            root(&mut parent, o as usize),
            root(&mut parent, n_gt + h as usize),
        );
        if a != b {
            parent[a] = b;
        }
    }
    let mut by_component: Vec<(usize, u32, u32, u32)> = edges
        .iter()
        .map(|&(o, h, w)| (root(&mut parent, o as usize), o, h, w))
        .collect();
    by_component.sort_unstable();

    // Local row / column numbers within a component; reused (stamped by component start).
    let mut local: Vec<(usize, usize)> = vec![(usize::MAX, 0); n_gt + n_pred];
    let mut cost: Vec<f32> = vec![];
    let mut pairs = vec![];
    let mut assigner = Assigner::default();
    let mut total = 0u64;
    let mut start = 0;
    while start < by_component.len() {
        let comp = by_component[start].0;
        let end = start
            + by_component[start..]
                .iter()
                .take_while(|e| e.0 == comp)
                .count();
        let part = &by_component[start..end];
        let (mut rows, mut cols) = (0, 0);
        let mut heaviest = 0;
        for &(_, o, h, w) in part {
            heaviest = heaviest.max(w);
            for (node, count) in [(o as usize, &mut rows), (n_gt + h as usize, &mut cols)] {
                if local[node].0 != start {
                    local[node] = (start, *count);
                    *count += 1;
                }
            }
        }
        if rows == 1 || cols == 1 {
            // A star: the heaviest edge.
            total += u64::from(heaviest);
        } else {
            // Every pair allowed (a full matching of min(rows, cols) pairs), cost = heaviest - w:
            // the least total cost is the largest total weight. Counts are exact in f32 (< 2^24).
            let m = heaviest as f32;
            cost.clear();
            cost.resize(rows * cols, m);
            for &(_, o, h, w) in part {
                let (r, s) = (local[o as usize].1, local[n_gt + h as usize].1);
                cost[r * cols + s] = m - w as f32;
            }
            assigner.solve(&cost, rows, cols, m, &mut pairs);
            total += pairs
                .iter()
                .map(|&(r, s)| (m - cost[r * cols + s]) as u64)
                .sum::<u64>();
        }
        start = end;
    }
    total
}

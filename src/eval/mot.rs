//! CLEAR-MOT and identity metrics of a MOTChallenge tracking result, by the rules of
//! py-motmetrics' `motmetrics/apps/eval_motchallenge.py` with its default options.
//!
//! Input: MOTChallenge text files, one box a line, `frame,id,x,y,w,h,conf,...` (x, y the top-left
//! corner; more columns are allowed and ignored). Ground-truth rows with `conf < 1` are dropped
//! (MOTChallenge marks boxes to ignore with 0), prediction rows with `conf < -1`.
//!
//! Per frame, in frame order (every frame that appears in either file), ground truth and
//! predictions are matched as `MOTAccumulator.update` does, with distance `1 - IoU` and pairs whose
//! distance exceeds [`MAX_DISTANCE`] (IoU below 0.5) not matchable:
//!
//! 1. a ground-truth object keeps the prediction id it was last matched with, when both are present
//!    and matchable;
//! 2. the rest are matched by a minimum-cost assignment (most matches first, then least total
//!    distance); a match is a *switch* when the object was last matched with another prediction
//!    id (at any earlier time);
//! 3. unmatched ground truth are misses (FN), unmatched predictions false positives (FP).
//!
//! The identity metrics (IDF1, IDP, IDR) come from one global assignment between ground-truth and
//! prediction ids that maximises IDTP, the number of frames in which paired ids were matchable.
//! It is solved per connected component of the ids' "matchable at least once" graph, so long
//! files with many ids stay fast.

use crate::track::assign::Assigner;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};

/// Distance `1 - IoU` above which a ground-truth box and a prediction may not be matched
/// (`distth=0.5` of `compare_to_groundtruth`).
pub const MAX_DISTANCE: f64 = 0.5;
/// Ground-truth rows with a lower confidence are ignored (`min_confidence=1` for ground truth).
pub const GT_MIN_CONFIDENCE: f64 = 1.0;
/// Prediction rows with a lower confidence are ignored (`loadtxt`'s default, -1).
pub const PRED_MIN_CONFIDENCE: f64 = -1.0;

/// The columns every line must have, in order.
const COLUMNS: [&str; 7] = ["frame", "id", "x", "y", "w", "h", "conf"];

/// What can go wrong reading or pairing MOTChallenge files. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
pub enum MotError {
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{flag} {}: no such file or folder", path.display())]
    NotFound { flag: &'static str, path: PathBuf },
    #[error(
        "--gt {} and --pred {} must be two files (one sequence) or two folders (PRED/<sequence>.txt with GT/<sequence>.txt or GT/<sequence>/gt/gt.txt)",
        gt.display(),
        pred.display()
    )]
    Mixed { gt: PathBuf, pred: PathBuf },
    #[error("{}: no prediction files (<sequence>.txt) in this folder", dir.display())]
    NoSequences { dir: PathBuf },
    #[error(
        "sequence {sequence}: prediction {} has no ground truth: neither {} nor {} exists",
        pred.display(),
        tried[0].display(),
        tried[1].display()
    )]
    NoGroundTruth {
        sequence: String,
        pred: PathBuf,
        tried: [PathBuf; 2],
    },
    #[error(
        "sequence {sequence}: both {} and {} exist; keep one ground truth per sequence",
        a.display(),
        b.display()
    )]
    AmbiguousGroundTruth {
        sequence: String,
        a: PathBuf,
        b: PathBuf,
    },
    #[error(
        "sequence {sequence}: ground truth {} has no prediction: expected {}",
        gt.display(),
        expected.display()
    )]
    NoPrediction {
        sequence: String,
        gt: PathBuf,
        expected: PathBuf,
    },
}

/// One line of a MOTChallenge file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotBox {
    pub frame: i64,
    pub id: i64,
    /// `x, y, w, h`: top-left corner and size, in pixels.
    pub rect: [f64; 4],
    pub conf: f64,
    /// 1-based line number in the file, for messages.
    pub line: usize,
}

/// A parsed MOTChallenge file.
#[derive(Debug, Clone)]
pub struct MotFile {
    pub path: PathBuf,
    pub boxes: Vec<MotBox>,
}

impl MotFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, MotError> {
        let text = std::fs::read_to_string(path).map_err(|error| MotError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of a file; `path` names it in errors. Blank lines are skipped, fields may
    /// have spaces around them, a line without commas may be separated by whitespace instead.
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> Result<Self, MotError> {
        let path = path.into();
        let mut boxes = vec![];
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(mut b) => {
                    b.line = i + 1;
                    boxes.push(b);
                }
                Err(message) => {
                    return Err(MotError::Line {
                        path,
                        line: i + 1,
                        message,
                    });
                }
            }
        }
        Ok(Self { path, boxes })
    }
}

/// One non-blank line, trimmed; the error says what is wrong with it.
fn parse_line(line: &str) -> Result<MotBox, String> {
    let comma = line.contains(',');
    let fields = line
        .split(move |c: char| if comma { c == ',' } else { c.is_whitespace() })
        .filter(|f| comma || !f.is_empty())
        .map(str::trim);
    let mut v = [0f64; 7];
    let mut n = 0;
    for (k, f) in fields.enumerate() {
        n = k + 1;
        if k >= COLUMNS.len() {
            continue;
        }
        if f.is_empty() {
            return Err(format!("field {} ({}) is empty", k + 1, COLUMNS[k]));
        }
        v[k] = match f.parse::<f64>() {
            Ok(x) if x.is_finite() => x,
            _ => {
                return Err(format!(
                    "field {} ({}) is `{f}`, not a finite number",
                    k + 1,
                    COLUMNS[k]
                ));
            }
        };
    }
    if n < COLUMNS.len() {
        return Err(format!(
            "expected at least 7 comma-separated numbers (frame,id,x,y,w,h,conf), found {n}"
        ));
    }
    let whole = |k: usize| -> Result<i64, String> {
        let x = v[k];
        if x.fract() == 0.0 && x.abs() < 9.0e15 {
            Ok(x as i64)
        } else {
            Err(format!(
                "field {} ({}) is {x}, not a whole number",
                k + 1,
                COLUMNS[k]
            ))
        }
    };
    Ok(MotBox {
        frame: whole(0)?,
        id: whole(1)?,
        rect: [v[2], v[3], v[4], v[5]],
        conf: v[6],
        line: 0,
    })
}

/// The event counts of one sequence (or, summed, of several), from which every metric follows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MotCounts {
    /// Frames that appear in either file, including frames whose rows were all dropped by the
    /// confidence rule: py-motmetrics iterates over the frame level of its (unfiltered) index.
    /// (Only where pandas takes a shortcut, predictions with exactly the ground truth's
    /// (frame, id) pairs, does it count the ground truth's frames alone.)
    pub num_frames: u64,
    /// Ground-truth boxes (after the confidence rule).
    pub num_objects: u64,
    /// Predicted boxes (after the confidence rule).
    pub num_predictions: u64,
    /// Distinct ground-truth ids.
    pub num_unique_objects: u64,
    /// Matches that are not switches.
    pub num_matches: u64,
    /// Identity switches (IDsw).
    pub num_switches: u64,
    /// Unmatched predictions (FP).
    pub num_false_positives: u64,
    /// Unmatched ground-truth boxes (FN).
    pub num_misses: u64,
    /// Times a ground-truth object went from matched to missed and was matched again later.
    pub num_fragmentations: u64,
    /// Ground-truth ids matched in at least 80 % of their frames.
    pub mostly_tracked: u64,
    /// Ground-truth ids matched in 20 % to 80 % of their frames.
    pub partially_tracked: u64,
    /// Ground-truth ids matched in less than 20 % of their frames.
    pub mostly_lost: u64,
    /// Identity true positives: frames matchable under the global one-to-one id assignment.
    pub idtp: u64,
    /// Sum of `1 - IoU` over matches and switches.
    pub distance_sum: f64,
}

fn ratio(a: f64, b: u64) -> Option<f64> {
    (b > 0).then(|| a / b as f64)
}

impl MotCounts {
    /// Matches plus switches.
    pub fn num_detections(&self) -> u64 {
        self.num_matches + self.num_switches
    }
    /// `1 - (FN + FP + IDsw) / num_objects`; None without ground truth.
    pub fn mota(&self) -> Option<f64> {
        let errors = self.num_misses + self.num_false_positives + self.num_switches;
        ratio(errors as f64, self.num_objects).map(|r| 1.0 - r)
    }
    /// Mean distance `1 - IoU` of matched pairs (switches included): **lower is better**, as
    /// py-motmetrics defines it (the MOTChallenge site prints `1 - this`). None without matches.
    pub fn motp(&self) -> Option<f64> {
        ratio(self.distance_sum, self.num_detections())
    }
    /// `2 IDTP / (num_objects + num_predictions)`.
    pub fn idf1(&self) -> Option<f64> {
        ratio(
            2.0 * self.idtp as f64,
            self.num_objects + self.num_predictions,
        )
    }
    /// Identity precision, `IDTP / num_predictions`.
    pub fn idp(&self) -> Option<f64> {
        ratio(self.idtp as f64, self.num_predictions)
    }
    /// Identity recall, `IDTP / num_objects`.
    pub fn idr(&self) -> Option<f64> {
        ratio(self.idtp as f64, self.num_objects)
    }
    /// Identity false positives, `num_predictions - IDTP`.
    pub fn idfp(&self) -> u64 {
        self.num_predictions - self.idtp
    }
    /// Identity false negatives, `num_objects - IDTP`.
    pub fn idfn(&self) -> u64 {
        self.num_objects - self.idtp
    }
    /// Detections over detections and false positives.
    pub fn precision(&self) -> Option<f64> {
        let d = self.num_detections();
        ratio(d as f64, d + self.num_false_positives)
    }
    /// Detections over ground-truth boxes.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.num_detections() as f64, self.num_objects)
    }

    /// Every metric by its py-motmetrics name; ratios as fractions, undefined ones (0 / 0) null.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mota": self.mota(),
            "motp": self.motp(),
            "idf1": self.idf1(),
            "idp": self.idp(),
            "idr": self.idr(),
            "precision": self.precision(),
            "recall": self.recall(),
            "idtp": self.idtp,
            "idfp": self.idfp(),
            "idfn": self.idfn(),
            "num_switches": self.num_switches,
            "num_false_positives": self.num_false_positives,
            "num_misses": self.num_misses,
            "num_matches": self.num_matches,
            "num_detections": self.num_detections(),
            "num_objects": self.num_objects,
            "num_predictions": self.num_predictions,
            "num_frames": self.num_frames,
            "num_unique_objects": self.num_unique_objects,
            "num_fragmentations": self.num_fragmentations,
            "mostly_tracked": self.mostly_tracked,
            "partially_tracked": self.partially_tracked,
            "mostly_lost": self.mostly_lost,
        })
    }
}

impl AddAssign for MotCounts {
    /// Sums counts, as py-motmetrics' OVERALL row does; ratios recomputed from the sums follow.
    fn add_assign(&mut self, o: Self) {
        self.num_frames += o.num_frames;
        self.num_objects += o.num_objects;
        self.num_predictions += o.num_predictions;
        self.num_unique_objects += o.num_unique_objects;
        self.num_matches += o.num_matches;
        self.num_switches += o.num_switches;
        self.num_false_positives += o.num_false_positives;
        self.num_misses += o.num_misses;
        self.num_fragmentations += o.num_fragmentations;
        self.mostly_tracked += o.mostly_tracked;
        self.partially_tracked += o.partially_tracked;
        self.mostly_lost += o.mostly_lost;
        self.idtp += o.idtp;
        self.distance_sum += o.distance_sum;
    }
}

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
fn max_weight_matching(edges: &[(u32, u32, u32)], n_gt: usize, n_pred: usize) -> u64 {
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

/// Where one sequence's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencePaths {
    pub name: String,
    pub gt: PathBuf,
    pub pred: PathBuf,
}

/// Pairs ground truth with predictions. Two files: one sequence, named after the prediction
/// file's stem. Two folders: one sequence per `PRED/<name>.txt`, with ground truth
/// `GT/<name>.txt` or `GT/<name>/gt/gt.txt` (MOTChallenge layout); a prediction without ground
/// truth and ground truth without prediction are errors. Sorted by name.
pub fn find_sequences(gt: &Path, pred: &Path) -> Result<Vec<SequencePaths>, MotError> {
    for (flag, p) in [("--gt", gt), ("--pred", pred)] {
        if !p.exists() {
            return Err(MotError::NotFound {
                flag,
                path: p.to_path_buf(),
            });
        }
    }
    match (gt.is_dir(), pred.is_dir()) {
        (false, false) => Ok(vec![SequencePaths {
            name: stem(pred),
            gt: gt.to_path_buf(),
            pred: pred.to_path_buf(),
        }]),
        (true, true) => pair_folders(gt, pred),
        _ => Err(MotError::Mixed {
            gt: gt.to_path_buf(),
            pred: pred.to_path_buf(),
        }),
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, MotError> {
    let read = |error| MotError::Read {
        path: dir.to_path_buf(),
        error,
    };
    let mut out = vec![];
    for e in std::fs::read_dir(dir).map_err(read)? {
        out.push(e.map_err(read)?.path());
    }
    out.sort();
    Ok(out)
}

fn is_txt(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e == "txt")
}

fn pair_folders(gt_dir: &Path, pred_dir: &Path) -> Result<Vec<SequencePaths>, MotError> {
    let mut out = vec![];
    for pred in list_dir(pred_dir)?.into_iter().filter(|p| is_txt(p)) {
        let name = stem(&pred);
        let flat = gt_dir.join(format!("{name}.txt"));
        let mot = gt_dir.join(&name).join("gt").join("gt.txt");
        let gt = match (flat.is_file(), mot.is_file()) {
            (true, false) => flat,
            (false, true) => mot,
            (true, true) => {
                return Err(MotError::AmbiguousGroundTruth {
                    sequence: name,
                    a: flat,
                    b: mot,
                });
            }
            (false, false) => {
                return Err(MotError::NoGroundTruth {
                    sequence: name,
                    pred,
                    tried: [flat, mot],
                });
            }
        };
        out.push(SequencePaths { name, gt, pred });
    }
    if out.is_empty() {
        return Err(MotError::NoSequences {
            dir: pred_dir.to_path_buf(),
        });
    }
    // Every ground-truth sequence needs a prediction.
    for p in list_dir(gt_dir)? {
        let (name, gt) = if is_txt(&p) {
            (stem(&p), p)
        } else if p.join("gt").join("gt.txt").is_file() {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                p.join("gt").join("gt.txt"),
            )
        } else {
            continue;
        };
        if !out.iter().any(|s| s.name == name) {
            return Err(MotError::NoPrediction {
                expected: pred_dir.join(format!("{name}.txt")),
                sequence: name,
                gt,
            });
        }
    }
    Ok(out)
}

/// One sequence's result.
#[derive(Debug, Clone)]
pub struct SequenceResult {
    pub paths: SequencePaths,
    pub counts: MotCounts,
}

/// Results per sequence and overall (counts summed, ratios recomputed from the sums).
#[derive(Debug, Clone)]
pub struct MotReport {
    pub sequences: Vec<SequenceResult>,
    pub overall: MotCounts,
}

/// Finds the sequences (see [`find_sequences`]), reads and evaluates each.
pub fn evaluate_paths(gt: &Path, pred: &Path) -> Result<MotReport, MotError> {
    let mut sequences = vec![];
    let mut overall = MotCounts::default();
    for paths in find_sequences(gt, pred)? {
        let counts = evaluate(&MotFile::read(&paths.gt)?, &MotFile::read(&paths.pred)?)?;
        overall += counts;
        sequences.push(SequenceResult { paths, counts });
    }
    Ok(MotReport { sequences, overall })
}

impl MotReport {
    /// `{"sequences": {name: metrics}, "overall": metrics}`, see [`MotCounts::to_json`].
    pub fn to_json(&self) -> serde_json::Value {
        let seqs: serde_json::Map<String, serde_json::Value> = self
            .sequences
            .iter()
            .map(|s| (s.paths.name.clone(), s.counts.to_json()))
            .collect();
        serde_json::json!({ "sequences": seqs, "overall": self.overall.to_json() })
    }

    /// A table like py-motmetrics prints: one row per sequence, then OVERALL.
    pub fn table(&self) -> String {
        let rows: Vec<(&str, &MotCounts)> = self
            .sequences
            .iter()
            .map(|s| (s.paths.name.as_str(), &s.counts))
            .chain([("OVERALL", &self.overall)])
            .collect();
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(8);
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>7} {:>7} {:>10} {:>7}",
            "sequence",
            "IDF1",
            "IDP",
            "IDR",
            "MOTA",
            "MOTP",
            "MT",
            "ML",
            "IDsw",
            "FP",
            "FN",
            "GT-objects",
            "frames"
        );
        for (name, c) in rows {
            let _ = writeln!(
                out,
                "{name:<w$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>7} {:>7} {:>10} {:>7}",
                pct(c.idf1()),
                pct(c.idp()),
                pct(c.idr()),
                pct(c.mota()),
                c.motp().map_or("-".into(), |v| format!("{v:.3}")),
                c.mostly_tracked,
                c.mostly_lost,
                c.num_switches,
                c.num_false_positives,
                c.num_misses,
                c.num_objects,
                c.num_frames
            );
        }
        out.push_str(
            "MOTP is the mean 1 - IoU of matched boxes: lower is better (as py-motmetrics)\n",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> MotFile {
        MotFile::parse(name, text).unwrap()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    /// Two objects over three frames. Frame 2: object 2's prediction changes id (a switch).
    /// Frame 3: object 2 is missed, a prediction far away is a false positive, and object 1's
    /// prediction is 1 px off (IoU 90 / 110).
    #[test]
    fn a_hand_computed_sequence_has_one_switch_one_fp_one_fn() {
        let gt = file(
            "gt.txt",
            "1,1,0,0,10,10,1,1,1\n1,2,100,0,10,10,1,1,1\n\
             2,1,0,0,10,10,1,1,1\n2,2,100,0,10,10,1,1,1\n\
             3,1,0,0,10,10,1,1,1\n3,2,100,0,10,10,1,1,1\n\
             3,3,200,0,10,10,0,1,1\n",
        );
        let pred = file(
            "pred.txt",
            "1,10,0,0,10,10,1,-1,-1,-1\n1,20,100,0,10,10,0.9,-1,-1,-1\n\
             2,10,0,0,10,10,1,-1,-1,-1\n2,30,100,0,10,10,1,-1,-1,-1\n\
             \n  3, 10, 1, 0, 10, 10, 1, -1, -1, -1  \n3,40,500,500,10,10,1,-1,-1,-1\n",
        );
        let c = evaluate(&gt, &pred).unwrap();
        assert_eq!(
            (c.num_frames, c.num_objects, c.num_predictions),
            (3, 6, 6),
            "the conf-0 row is dropped"
        );
        assert_eq!(c.num_unique_objects, 2);
        assert_eq!((c.num_matches, c.num_switches), (4, 1));
        assert_eq!((c.num_false_positives, c.num_misses), (1, 1));
        assert!(close(c.mota(), 1.0 - 3.0 / 6.0));
        assert!(close(c.motp(), (1.0 - 90.0 / 110.0) / 5.0));
        // IDTP: (1, 10) in 3 frames + (2, 20) or (2, 30) in 1.
        assert_eq!(c.idtp, 4);
        assert!(close(c.idf1(), 8.0 / 12.0));
        assert!(close(c.idp(), 4.0 / 6.0) && close(c.idr(), 4.0 / 6.0));
        assert_eq!(
            (c.mostly_tracked, c.partially_tracked, c.mostly_lost),
            (1, 1, 0)
        );
        assert_eq!(c.num_fragmentations, 0);
    }

    #[test]
    fn a_previous_pair_is_kept_over_a_closer_newcomer_and_a_return_is_a_switch() {
        // Frame 1: gt 1 matches pred 5. Frame 2: pred 6 fits better but 5 is still matchable,
        // so 1-5 stays. Frame 3: only 6: a switch. Frame 4: missed. Frame 5: back to 6 (no
        // switch: 6 was the last match) and one fragmentation.
        let gt = file(
            "gt.txt",
            "1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n3,1,0,0,10,10,1\n4,1,0,0,10,10,1\n5,1,0,0,10,10,1\n",
        );
        let pred = file(
            "pred.txt",
            "1,5,0,0,10,10,1\n2,5,2,0,10,10,1\n2,6,0,0,10,10,1\n3,6,0,0,10,10,1\n5,6,0,0,10,10,1\n",
        );
        let c = evaluate(&gt, &pred).unwrap();
        assert_eq!((c.num_matches, c.num_switches), (3, 1));
        assert_eq!((c.num_misses, c.num_false_positives), (1, 1));
        assert_eq!(c.num_fragmentations, 1);
        assert_eq!(c.idtp, 3, "gt 1 with pred 6: frames 2, 3, 5");
    }

    #[test]
    fn an_empty_prediction_file_misses_everything() {
        let gt = file(
            "gt.txt",
            "1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n4,2,0,0,10,10,0\n",
        );
        let pred = file("pred.txt", "");
        let c = evaluate(&gt, &pred).unwrap();
        assert_eq!((c.num_objects, c.num_predictions, c.num_misses), (2, 0, 2));
        assert_eq!(
            c.num_frames, 3,
            "frame 4 holds only a dropped row, and still counts"
        );
        assert!(close(c.mota(), 0.0));
        assert_eq!(c.motp(), None);
        assert!(close(c.idf1(), 0.0) && close(c.idr(), 0.0));
        assert_eq!(c.idp(), None);
        assert_eq!(c.mostly_lost, 1);
        let j = c.to_json();
        assert!(j["motp"].is_null() && j["mota"] == 0.0, "{j}");
    }

    fn parse_err(text: &str) -> String {
        MotFile::parse("GT.txt", text).unwrap_err().to_string()
    }

    #[test]
    fn parse_errors_name_the_file_line_and_problem() {
        let e = parse_err("1,1,0,0,10,10,1\n\n1,2,3,4\n");
        assert_eq!(
            e,
            "GT.txt line 3: expected at least 7 comma-separated numbers (frame,id,x,y,w,h,conf), found 4"
        );
        let e = parse_err("1,1,0,0,10,10,1\n2,1,abc,0,10,10,1\n");
        assert_eq!(
            e,
            "GT.txt line 2: field 3 (x) is `abc`, not a finite number"
        );
        assert!(
            parse_err("1.5,1,0,0,10,10,1")
                .contains("line 1: field 1 (frame) is 1.5, not a whole number")
        );
        assert!(parse_err("1,1,0,,10,10,1").contains("field 4 (y) is empty"));
        assert!(parse_err("1,1,0,0,nan,10,1").contains("field 5 (w) is `nan`"));
        // A byte-order mark, whitespace-separated lines, Windows line ends, whole-number floats and
        // extra columns are fine.
        let f = file(
            "GT.txt",
            "\u{feff}1 7 0 0 10 10 1\r\n2.0,7.0,0,0,10,10,1,extra,columns\r\n",
        );
        assert_eq!(f.boxes.len(), 2);
        assert_eq!(
            (f.boxes[1].frame, f.boxes[1].id, f.boxes[1].line),
            (2, 7, 2)
        );
    }

    #[test]
    fn an_id_twice_in_one_frame_is_an_error_with_both_lines() {
        let gt = file(
            "GT.txt",
            "1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n1,1,5,5,10,10,1\n",
        );
        let pred = file("pred.txt", "");
        let e = evaluate(&gt, &pred).unwrap_err().to_string();
        assert_eq!(
            e,
            "GT.txt line 3: id 1 appears twice in frame 1 (lines 1 and 3); each id may have one box per frame"
        );
    }

    /// The component-wise matching against every matching, on random small bipartite graphs.
    #[test]
    fn max_weight_matching_agrees_with_brute_force() {
        fn brute(w: &[Vec<u32>], row: usize, used: &mut Vec<bool>) -> u64 {
            if row == w.len() {
                return 0;
            }
            let mut best = brute(w, row + 1, used);
            for c in 0..used.len() {
                if !used[c] && w[row][c] > 0 {
                    used[c] = true;
                    best = best.max(u64::from(w[row][c]) + brute(w, row + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        let mut s = 12345u32;
        let mut rnd = |n: u32| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) % n
        };
        for _ in 0..300 {
            let (ng, np) = (1 + rnd(6) as usize, 1 + rnd(6) as usize);
            let mut w = vec![vec![0u32; np]; ng];
            let mut edges = vec![];
            for (o, row) in w.iter_mut().enumerate() {
                for (h, x) in row.iter_mut().enumerate() {
                    if rnd(3) == 0 {
                        *x = 1 + rnd(9);
                        edges.push((o as u32, h as u32, *x));
                    }
                }
            }
            let want = brute(&w, 0, &mut vec![false; np]);
            assert_eq!(max_weight_matching(&edges, ng, np), want, "{w:?}");
        }
    }

    #[test]
    fn overall_sums_counts_and_recomputes_ratios() {
        let a = MotCounts {
            num_objects: 10,
            num_predictions: 8,
            num_matches: 6,
            num_misses: 4,
            num_false_positives: 2,
            idtp: 5,
            distance_sum: 1.2,
            ..Default::default()
        };
        let b = MotCounts {
            num_objects: 0,
            num_predictions: 3,
            num_false_positives: 3,
            ..Default::default()
        };
        let mut o = a;
        o += b;
        assert_eq!(b.mota(), None);
        assert!(close(o.mota(), 1.0 - 9.0 / 10.0));
        assert!(close(o.motp(), 0.2));
        assert!(close(o.idf1(), 10.0 / 21.0));
        assert!(close(o.idp(), 5.0 / 11.0));
    }
}

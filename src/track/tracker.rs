//! One tracker: the tracks of one stream (or of one class in it), moved on by each frame's
//! detections. ByteTrack (the default) and SORT share the Kalman filter, the IoU association
//! and the track states; they differ in which detections meet which tracks, in what order.
//!
//! Every time rule is in seconds of the stream's clock (its PTS), never in frames: how long a
//! lost track is kept, how long a new one must be seen before it is confirmed.

use super::assign::Assigner;
use super::kalman::{KalmanState, to_xyah};
use crate::frame::Detection;

/// Times closer than this (seconds) are equal: a frame exactly `confirm_s` or `max_lost_s`
/// later counts as that late whatever the rounding of its timestamp.
const TIME_EPS: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Zhang et al. 2022: high-score detections first (tracked and lost tracks together), then
    /// the low-score ones against the tracks still unmatched, then new tracks.
    ByteTrack,
    /// Bewley et al. 2016: one association of every detection above `high_score`.
    Sort,
}

/// A tracker's thresholds; times in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerParams {
    pub algorithm: Algorithm,
    /// Detections at or above this score are matched first (SORT: the only ones used).
    pub high_score: f32,
    /// ByteTrack: detections from here up to `high_score` recover unmatched tracks.
    pub low_score: f32,
    /// ByteTrack: an unmatched high detection starts a track only from this score.
    pub new_track_score: f32,
    /// Least IoU of a match in the first (SORT: the only) association.
    pub match_iou: f32,
    /// ByteTrack: the first association and the tentative tracks' weigh IoU by the detection's
    /// score (`1 - IoU x score` against `1 - match_iou`), as the reference's `fuse_score`.
    pub fuse_score: bool,
    /// ByteTrack: a followed track and a lost one overlapping above this IoU at the end of an
    /// update are one object twice; the younger goes (the reference's duplicate removal).
    pub duplicate_iou: Option<f32>,
    /// ByteTrack: least IoU of a match between a low-score detection and a track.
    pub low_match_iou: f32,
    /// ByteTrack: least IoU of a match between a tentative track and a detection.
    pub tentative_match_iou: f32,
    /// A new track becomes confirmed (gets its id) once matched this long after its first
    /// detection (ByteTrack: 0, the next match; SORT: 0.1 s, its 3 hits at 30 fps).
    pub confirm_s: f64,
    /// A track not matched for longer than this is removed.
    pub max_lost_s: f64,
}

impl TrackerParams {
    /// ByteTrack's published defaults, with its 30-frame track buffer as 1 s.
    pub fn bytetrack() -> TrackerParams {
        TrackerParams {
            algorithm: Algorithm::ByteTrack,
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            match_iou: 0.2,
            fuse_score: true,
            duplicate_iou: Some(0.85),
            low_match_iou: 0.5,
            tentative_match_iou: 0.3,
            confirm_s: 0.0,
            max_lost_s: 1.0,
        }
    }

    /// SORT's defaults (IoU 0.3, 3 hits at 30 fps), keeping lost tracks 1 s like ByteTrack.
    pub fn sort() -> TrackerParams {
        TrackerParams {
            algorithm: Algorithm::Sort,
            high_score: 0.5,
            low_score: 0.5,
            new_track_score: 0.5,
            match_iou: 0.3,
            fuse_score: false,
            duplicate_iou: None,
            low_match_iou: 0.3,
            tentative_match_iou: 0.3,
            confirm_s: 0.1,
            max_lost_s: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Seen, not yet confirmed: no id, not reported.
    Tentative,
    /// Matched in the latest frame (or not yet missed since).
    Confirmed,
    /// Confirmed once, unmatched now; removed after `max_lost_s`.
    Lost,
}

#[derive(Debug, Clone)]
pub struct Track {
    /// Given at confirmation.
    pub id: Option<u64>,
    pub state: TrackState,
    pub class_id: u32,
    kf: KalmanState,
    first_seen: f64,
    last_seen: f64,
    /// SORT: when the current run of consecutive matches began.
    streak_start: Option<f64>,
    /// The detection (index into the frame's) matched in the latest update.
    matched: Option<usize>,
    /// Removed at the end of this update.
    dead: bool,
}

impl Track {
    /// The filter's box `[x1, y1, x2, y2]` (predicted to the latest frame's time).
    pub fn bbox(&self) -> [f32; 4] {
        self.kf.xyxy()
    }

    /// Whether the track was matched or started in the latest update (ByteTrack's "tracked").
    fn followed(&self, t: f64) -> bool {
        self.state != TrackState::Lost && self.last_seen >= t
    }
}

/// What one update changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// Tracks confirmed (ids given) in this update.
    pub started: u32,
}

/// Work buffers kept between frames.
#[derive(Debug, Clone, Default)]
struct Scratch {
    high: Vec<usize>,
    low: Vec<usize>,
    rows: Vec<usize>,
    pairs: Vec<(usize, usize)>,
    /// Per detection of the frame: matched already.
    taken: Vec<bool>,
    /// Tracks found duplicates at the end of an update.
    gone: Vec<usize>,
    assoc: Associator,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    params: TrackerParams,
    tracks: Vec<Track>,
    /// Time of the latest update, seconds.
    clock: Option<f64>,
    /// Ids given in the update under way.
    started_now: u32,
    scratch: Scratch,
}

impl Tracker {
    pub fn new(params: TrackerParams) -> Tracker {
        Tracker {
            params,
            tracks: vec![],
            clock: None,
            started_now: 0,
            scratch: Scratch::default(),
        }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Confirmed tracks matched in the latest frame.
    pub fn active(&self) -> usize {
        self.tracks
            .iter()
            .filter(|t| t.state == TrackState::Confirmed)
            .count()
    }

    /// Time of the latest update.
    pub fn clock(&self) -> Option<f64> {
        self.clock
    }

    /// Moves every track to time `t` (seconds) and matches the detections `dets[i]` for `i` in
    /// `subset`; a detection matched to a confirmed track gets its `track_id`. New ids come from
    /// `next_id` (then incremented). A frame without detections still ages every track.
    pub fn update(
        &mut self,
        t: f64,
        dets: &mut [Detection],
        subset: &[usize],
        next_id: &mut u64,
    ) -> UpdateStats {
        let dt = self.clock.map_or(0.0, |c| (t - c).max(0.0));
        let first_frame = self.clock.is_none();
        self.clock = Some(t);
        let bytetrack = self.params.algorithm == Algorithm::ByteTrack;
        for tr in &mut self.tracks {
            tr.matched = None;
            if bytetrack && tr.state == TrackState::Tentative {
                // As ByteTrack: a track seen once is matched where it was, with the covariance
                // it started with.
                continue;
            }
            if tr.state != TrackState::Confirmed {
                // As ByteTrack: a track not followed does not keep growing or shrinking.
                tr.kf.mean[7] = 0.0;
            }
            tr.kf.predict(dt);
        }
        self.started_now = 0;
        let mut s = std::mem::take(&mut self.scratch);
        s.taken.clear();
        s.taken.resize(dets.len(), false);
        match self.params.algorithm {
            Algorithm::ByteTrack => self.bytetrack(t, dets, subset, next_id, first_frame, &mut s),
            Algorithm::Sort => self.sort(t, dets, subset, next_id, &mut s),
        }
        self.scratch = s;
        for tr in &mut self.tracks {
            if tr.state == TrackState::Confirmed && tr.last_seen < t {
                tr.state = TrackState::Lost;
            }
            if tr.last_seen < t {
                tr.streak_start = None;
            }
            if t - tr.last_seen > self.params.max_lost_s + TIME_EPS {
                tr.dead = true;
            }
        }
        if let Some(min_iou) = self.params.duplicate_iou {
            self.remove_duplicates(t, min_iou, dets);
        }
        self.tracks.retain(|tr| !tr.dead);
        UpdateStats {
            started: self.started_now,
        }
    }

    fn bytetrack(
        &mut self,
        t: f64,
        dets: &mut [Detection],
        subset: &[usize],
        next_id: &mut u64,
        first_frame: bool,
        s: &mut Scratch,
    ) {
        let p = self.params;
        s.high.clear();
        s.low.clear();
        for &i in subset {
            let sc = dets[i].score;
            if sc >= p.high_score {
                s.high.push(i);
            } else if sc > p.low_score {
                s.low.push(i);
            }
        }
        // 1. High-score detections against every confirmed track, followed or lost.
        s.rows.clear();
        s.rows.extend(
            (0..self.tracks.len()).filter(|&k| self.tracks[k].state != TrackState::Tentative),
        );
        self.round(s, Band::High, p.match_iou, p.fuse_score, t, dets, next_id);
        // 2. Low-score detections against the followed tracks still unmatched.
        s.rows.retain(|&k| {
            self.tracks[k].state == TrackState::Confirmed && self.tracks[k].last_seen < t
        });
        self.round(s, Band::Low, p.low_match_iou, false, t, dets, next_id);
        // 3. Tentative tracks against the high-score detections left; unmatched, they go.
        s.rows.clear();
        s.rows.extend(
            (0..self.tracks.len()).filter(|&k| self.tracks[k].state == TrackState::Tentative),
        );
        self.round(
            s,
            Band::High,
            p.tentative_match_iou,
            p.fuse_score,
            t,
            dets,
            next_id,
        );
        for &k in &s.rows {
            if self.tracks[k].last_seen < t {
                self.tracks[k].dead = true;
            }
        }
        // 4. New tracks; on a stream's first frame they are confirmed at once (as ByteTrack).
        for &i in &s.high {
            if dets[i].score >= p.new_track_score {
                self.start(t, &mut dets[i], first_frame && p.confirm_s <= 0.0, next_id);
            }
        }
    }

    fn sort(
        &mut self,
        t: f64,
        dets: &mut [Detection],
        subset: &[usize],
        next_id: &mut u64,
        s: &mut Scratch,
    ) {
        let p = self.params;
        s.high.clear();
        s.high.extend(
            subset
                .iter()
                .copied()
                .filter(|&i| dets[i].score >= p.high_score),
        );
        s.rows.clear();
        s.rows.extend(0..self.tracks.len());
        self.round(s, Band::High, p.match_iou, false, t, dets, next_id);
        for &i in &s.high {
            self.start(t, &mut dets[i], false, next_id);
        }
    }

    /// One association: the tracks `s.rows` against the detections of `band` at IoU >=
    /// `min_iou` (with `fuse`, IoU x score). Matched tracks are updated; matched detections
    /// leave the band.
    #[allow(clippy::too_many_arguments)]
    fn round(
        &mut self,
        s: &mut Scratch,
        band: Band,
        min_iou: f32,
        fuse: bool,
        t: f64,
        dets: &mut [Detection],
        next_id: &mut u64,
    ) {
        let cands = match band {
            Band::High => &mut s.high,
            Band::Low => &mut s.low,
        };
        let rule = Rule {
            min_iou,
            fuse,
            objective: match self.params.algorithm {
                Algorithm::ByteTrack => Objective::Savings,
                Algorithm::Sort => Objective::MostPairs,
            },
        };
        s.assoc
            .run(&self.tracks, &s.rows, dets, cands, rule, &mut s.pairs);
        for &(k, i) in &s.pairs {
            self.hit(k, t, &mut dets[i], next_id);
            self.tracks[k].matched = Some(i);
            s.taken[i] = true;
        }
        cands.retain(|&i| !s.taken[i]);
    }

    /// Track `k` matched detection `d` at time `t`.
    fn hit(&mut self, k: usize, t: f64, d: &mut Detection, next_id: &mut u64) {
        let confirm_s = self.params.confirm_s;
        let tr = &mut self.tracks[k];
        tr.kf.update(to_xyah(d.bbox));
        tr.last_seen = t;
        tr.class_id = d.class_id;
        let streak = *tr.streak_start.get_or_insert(t);
        match tr.state {
            TrackState::Lost => tr.state = TrackState::Confirmed,
            TrackState::Tentative => {
                let since = match self.params.algorithm {
                    Algorithm::ByteTrack => tr.first_seen,
                    Algorithm::Sort => streak,
                };
                if t - since >= confirm_s - TIME_EPS && t > tr.first_seen {
                    tr.state = TrackState::Confirmed;
                    tr.id = Some(take_id(next_id));
                    self.started_now += 1;
                }
            }
            TrackState::Confirmed => {}
        }
        if tr.state == TrackState::Confirmed {
            d.track_id = tr.id;
            d.track_box = Some(tr.kf.xyxy());
        }
    }

    /// ByteTrack's duplicate removal: a followed track (matched or started now) and a lost one
    /// that overlap above `min_iou` are the same object; the one followed for less time goes
    /// (the followed one on a tie), and a detection it had matched loses its id.
    fn remove_duplicates(&mut self, t: f64, min_iou: f32, dets: &mut [Detection]) {
        // Every pair is judged on the tracks as they are, then the losers go (as the reference).
        let mut gone = std::mem::take(&mut self.scratch.gone);
        gone.clear();
        let age = |tr: &Track| tr.last_seen - tr.first_seen;
        for (a, ta) in self.tracks.iter().enumerate() {
            if ta.dead || !ta.followed(t) {
                continue;
            }
            for (b, tb) in self.tracks.iter().enumerate() {
                if !tb.dead && tb.state == TrackState::Lost && iou(ta.bbox(), tb.bbox()) > min_iou {
                    gone.push(if age(ta) > age(tb) { b } else { a });
                }
            }
        }
        for &k in &gone {
            let tr = &mut self.tracks[k];
            tr.dead = true;
            if let Some(i) = tr.matched {
                dets[i].track_id = None;
                dets[i].track_box = None;
            }
        }
        self.scratch.gone = gone;
    }

    /// A new track from detection `d`.
    fn start(&mut self, t: f64, d: &mut Detection, confirmed: bool, next_id: &mut u64) {
        let id = confirmed.then(|| take_id(next_id));
        if confirmed {
            self.started_now += 1;
            d.track_id = id;
            d.track_box = Some(d.bbox);
        }
        self.tracks.push(Track {
            id,
            state: if confirmed {
                TrackState::Confirmed
            } else {
                TrackState::Tentative
            },
            class_id: d.class_id,
            kf: KalmanState::initiate(to_xyah(d.bbox)),
            first_seen: t,
            last_seen: t,
            streak_start: Some(t),
            matched: None,
            dead: false,
        });
    }
}

fn take_id(next_id: &mut u64) -> u64 {
    let id = *next_id;
    *next_id += 1;
    id
}

/// Which of a frame's detections an association round takes.
#[derive(Clone, Copy)]
enum Band {
    High,
    Low,
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// How one association round scores and picks its pairs.
#[derive(Debug, Clone, Copy)]
struct Rule {
    /// Least IoU (with `fuse`: IoU x detection score) of a pair.
    min_iou: f32,
    fuse: bool,
    objective: Objective,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    /// ByteTrack's reference (`lapjv` with a cost limit): the most total `limit - cost`.
    Savings,
    /// The most pairs, then the least total cost.
    MostPairs,
}

/// IoU association of tracks and detections. The gated cost matrix is sparse (a box overlaps
/// few others), so it is split into connected groups and each group solved on its own: the
/// optimum is the same, and 500 objects cost 500 tiny problems instead of one 500 x 500 one.
#[derive(Debug, Clone, Default)]
struct Associator {
    boxes: Vec<[f32; 4]>,
    cost: Vec<f32>,
    /// Union-find parents over rows then columns.
    parent: Vec<usize>,
    /// Nodes ordered by group.
    order: Vec<(usize, usize)>,
    sub: Vec<f32>,
    sub_rows: Vec<usize>,
    sub_cols: Vec<usize>,
    sub_pairs: Vec<(usize, usize)>,
    assigner: Assigner,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

impl Associator {
    /// Matches `tracks[rows[..]]` with `dets[cols[..]]` on the cost `1 - IoU` (`1 - IoU x
    /// score` with `rule.fuse`) up to `1 - rule.min_iou`, by `rule.objective`. `out` gets
    /// `(track index, detection index)`.
    fn run(
        &mut self,
        tracks: &[Track],
        rows: &[usize],
        dets: &[Detection],
        cols: &[usize],
        rule: Rule,
        out: &mut Vec<(usize, usize)>,
    ) {
        out.clear();
        let (nr, nc) = (rows.len(), cols.len());
        if nr == 0 || nc == 0 {
            return;
        }
        let gate = 1.0 - rule.min_iou;
        self.boxes.clear();
        self.boxes.extend(rows.iter().map(|&k| tracks[k].bbox()));
        self.cost.clear();
        self.cost.resize(nr * nc, f32::INFINITY);
        self.parent.clear();
        self.parent.extend(0..nr + nc);
        for r in 0..nr {
            let a = self.boxes[r];
            for c in 0..nc {
                let b = dets[cols[c]].bbox;
                // Cheap reject before the division: no overlap, no pair.
                if a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1] {
                    continue;
                }
                let d = &dets[cols[c]];
                let v = 1.0
                    - if rule.fuse {
                        iou(a, b) * d.score
                    } else {
                        iou(a, b)
                    };
                if v <= gate {
                    self.cost[r * nc + c] = v;
                    let (x, y) = (find(&mut self.parent, r), find(&mut self.parent, nr + c));
                    if x != y {
                        self.parent[x] = y;
                    }
                }
            }
        }
        self.order.clear();
        for n in 0..nr + nc {
            let root = find(&mut self.parent, n);
            self.order.push((root, n));
        }
        self.order.sort_unstable();
        let mut g = 0;
        while g < self.order.len() {
            let root = self.order[g].0;
            let end = g + self.order[g..].iter().take_while(|x| x.0 == root).count();
            self.sub_rows.clear();
            self.sub_cols.clear();
            for &(_, n) in &self.order[g..end] {
                if n < nr {
                    self.sub_rows.push(n);
                } else {
                    self.sub_cols.push(n - nr);
                }
            }
            g = end;
            let (sr, sc) = (self.sub_rows.len(), self.sub_cols.len());
            if sr == 0 || sc == 0 {
                continue;
            }
            if sr == 1 && sc == 1 {
                out.push((rows[self.sub_rows[0]], cols[self.sub_cols[0]]));
                continue;
            }
            self.sub.clear();
            for &r in &self.sub_rows {
                for &c in &self.sub_cols {
                    self.sub.push(self.cost[r * nc + c]);
                }
            }
            match rule.objective {
                Objective::MostPairs => {
                    self.assigner
                        .solve(&self.sub, sr, sc, gate, &mut self.sub_pairs)
                }
                Objective::Savings => {
                    self.assigner
                        .solve_limited(&self.sub, sr, sc, gate, &mut self.sub_pairs)
                }
            }
            for &(a, b) in &self.sub_pairs {
                out.push((rows[self.sub_rows[a]], cols[self.sub_cols[b]]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            class_id: 0,
            label: "person".into(),
            score,
            bbox: [x, 100.0, x + 40.0, 200.0],
            track_id: None,
            track_box: None,
            mask: None,
        }
    }

    /// Runs `frames` (time, detections) through a tracker; the ids per frame.
    fn run(p: TrackerParams, frames: &[(f64, Vec<Detection>)]) -> Vec<Vec<Option<u64>>> {
        let mut tr = Tracker::new(p);
        let mut next = 1;
        frames
            .iter()
            .map(|(t, d)| {
                let mut d = d.clone();
                let all: Vec<usize> = (0..d.len()).collect();
                tr.update(*t, &mut d, &all, &mut next);
                d.iter().map(|d| d.track_id).collect()
            })
            .collect()
    }

    #[test]
    fn a_one_frame_dropout_keeps_the_id() {
        for p in [TrackerParams::bytetrack(), TrackerParams::sort()] {
            let frames: Vec<(f64, Vec<Detection>)> = (0..20)
                .map(|k| {
                    let t = k as f64 / 10.0;
                    let d = if k == 10 {
                        vec![]
                    } else {
                        vec![det(100.0 + 20.0 * t as f32, 0.9)]
                    };
                    (t, d)
                })
                .collect();
            let ids = run(p, &frames);
            let last = ids[19][0].expect("tracked at the end");
            assert_eq!(
                ids[9][0],
                Some(last),
                "{:?}: same id before the gap",
                p.algorithm
            );
            assert_eq!(
                ids[11][0],
                Some(last),
                "{:?}: same id after the gap",
                p.algorithm
            );
        }
    }

    #[test]
    fn frames_without_detections_still_age_tracks_by_time() {
        let p = TrackerParams::bytetrack();
        let mut tr = Tracker::new(p);
        let mut next = 1;
        for k in 0..5 {
            let mut d = vec![det(100.0, 0.9)];
            tr.update(k as f64 * 0.1, &mut d, &[0], &mut next);
        }
        assert_eq!(tr.active(), 1);
        // Empty frames: lost at once, still kept until 1 s has passed, then removed.
        tr.update(0.5, &mut [], &[], &mut next);
        assert_eq!((tr.active(), tr.tracks().len()), (0, 1));
        tr.update(1.39, &mut [], &[], &mut next);
        assert_eq!(tr.tracks().len(), 1, "kept for max_lost_s");
        tr.update(1.5, &mut [], &[], &mut next);
        assert!(tr.tracks().is_empty(), "removed after max_lost_s");
    }

    #[test]
    fn low_score_detections_keep_a_track_in_bytetrack_only() {
        // Confirmed at high score, then three frames at 0.3 (below high_score).
        let frames: Vec<(f64, Vec<Detection>)> = (0..8)
            .map(|k| {
                let s = if (3..6).contains(&k) { 0.3 } else { 0.9 };
                (k as f64 / 30.0, vec![det(100.0 + k as f32, s)])
            })
            .collect();
        let bt = run(TrackerParams::bytetrack(), &frames);
        assert!(
            bt[3..6].iter().all(|f| f[0] == bt[0][0] && f[0].is_some()),
            "{bt:?}"
        );
        let sort = run(TrackerParams::sort(), &frames);
        assert!(sort[3..6].iter().all(|f| f[0].is_none()), "{sort:?}");
        assert_eq!(sort[7][0], sort[2][0], "SORT picks the track up again");
    }

    #[test]
    fn confirmation_waits_for_confirm_s_whatever_the_frame_rate() {
        let p = TrackerParams {
            confirm_s: 0.2,
            ..TrackerParams::bytetrack()
        };
        for fps in [10.0, 30.0] {
            let frames: Vec<(f64, Vec<Detection>)> = (0..12)
                .map(|k| (1.0 + k as f64 / fps, vec![det(100.0, 0.9)]))
                .collect();
            let ids = run(p, &frames);
            let first = ids.iter().position(|f| f[0].is_some()).unwrap();
            let waited = first as f64 / fps;
            assert!(
                (waited - 0.2).abs() < 0.5 / fps,
                "{fps} fps: confirmed after {waited} s"
            );
        }
    }

    #[test]
    fn tentative_tracks_without_a_second_match_never_get_an_id() {
        let frames = vec![
            (0.0, vec![det(100.0, 0.9)]),
            // A lone false positive far away, once.
            (0.1, vec![det(100.0, 0.9), det(600.0, 0.9)]),
            (0.2, vec![det(100.0, 0.9)]),
            (0.3, vec![det(100.0, 0.9)]),
        ];
        let ids = run(TrackerParams::bytetrack(), &frames);
        assert_eq!(ids[1][1], None);
        assert!(ids.iter().all(|f| f[0] == Some(1)), "{ids:?}");
    }

    #[test]
    fn grouped_association_equals_one_big_assignment() {
        // Many boxes in clusters: the component split must give the global optimum.
        let mut rnd = super::super::assign::lcg(11);
        for _ in 0..30 {
            let tracks: Vec<Track> = (0..25)
                .map(|_| {
                    let (x, y) = (rnd() * 600.0, rnd() * 400.0);
                    let mut tr = Track {
                        id: None,
                        state: TrackState::Confirmed,
                        class_id: 0,
                        kf: KalmanState::initiate(to_xyah([x, y, x + 50.0, y + 80.0])),
                        first_seen: 0.0,
                        last_seen: 0.0,
                        streak_start: None,
                        matched: None,
                        dead: false,
                    };
                    tr.kf.predict(0.0);
                    tr
                })
                .collect();
            let dets: Vec<Detection> = (0..25)
                .map(|_| {
                    let (x, y) = (rnd() * 600.0, rnd() * 400.0);
                    Detection {
                        bbox: [x, y, x + 50.0, y + 80.0],
                        ..det(0.0, 0.9)
                    }
                })
                .collect();
            let rows: Vec<usize> = (0..25).collect();
            let mut got = vec![];
            let rule = Rule {
                min_iou: 0.2,
                fuse: false,
                objective: Objective::MostPairs,
            };
            Associator::default().run(&tracks, &rows, &dets, &rows, rule, &mut got);
            let cost: Vec<f32> = tracks
                .iter()
                .flat_map(|t| dets.iter().map(move |d| 1.0 - iou(t.bbox(), d.bbox)))
                .collect();
            let want = super::super::assign::assign(&cost, 25, 25, 0.8);
            let total =
                |p: &[(usize, usize)]| -> f32 { p.iter().map(|&(r, c)| cost[r * 25 + c]).sum() };
            assert_eq!(got.len(), want.len());
            assert!((total(&got) - total(&want)).abs() < 1e-4);
        }
    }
}

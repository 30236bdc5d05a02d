//! Trackers per stream, and per class when asked: each stream's own clock (its PTS), its own
//! ids (1, 2, ... in order of confirmation), and a clean start when the stream restarts.

use super::tracker::{Tracker, TrackerParams};
use crate::frame::Detection;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How detections are grouped and filtered before tracking.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackOptions {
    pub params: TrackerParams,
    /// One tracker per class (a car never takes over a person's id); else one per stream.
    pub per_class: bool,
    /// Track only these labels (`None`: all); the others keep `track_id: null`.
    pub classes: Option<Vec<String>>,
}

/// What one frame did to its stream's tracks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Confirmed tracks matched in this frame.
    pub active: usize,
    /// Ids given in this frame.
    pub started: u32,
    /// The stream restarted (its frame numbers or clock went back): its tracks were dropped.
    pub restarted: bool,
}

#[derive(Debug)]
struct StreamState {
    by_class: BTreeMap<Option<u32>, Tracker>,
    next_id: u64,
    last_seq: u64,
    last_t: f64,
}

pub struct StreamTrackers {
    opts: TrackOptions,
    streams: HashMap<Arc<str>, StreamState>,
    keys: Vec<Option<u32>>,
    subset: Vec<usize>,
}

impl StreamTrackers {
    pub fn new(opts: TrackOptions) -> StreamTrackers {
        StreamTrackers {
            opts,
            streams: HashMap::new(),
            keys: vec![],
            subset: vec![],
        }
    }

    pub fn options(&self) -> &TrackOptions {
        &self.opts
    }

    /// Tracks frame `seq` of `stream` at `t` seconds: sets `track_id` on the detections that
    /// belong to confirmed tracks (and clears it on the others).
    pub fn update(
        &mut self,
        stream: &Arc<str>,
        seq: u64,
        t: f64,
        dets: &mut [Detection],
    ) -> FrameStats {
        let mut stats = FrameStats::default();
        let st = self
            .streams
            .entry(stream.clone())
            .or_insert_with(|| StreamState {
                by_class: BTreeMap::new(),
                next_id: 1,
                last_seq: seq,
                last_t: t,
            });
        if seq < st.last_seq || t < st.last_t {
            // A restarted source or a new replay: old tracks must not leak into it. Ids keep
            // counting, so no id means two objects in one output.
            tracing::info!(
                stream = &**stream,
                seq,
                t,
                "stream restarted (frame number or clock went back): tracks reset"
            );
            st.by_class.clear();
            stats.restarted = true;
        }
        st.last_seq = seq;
        st.last_t = t;
        self.keys.clear();
        for d in dets.iter_mut() {
            d.track_id = None;
            if wanted(&self.opts.classes, d) {
                self.keys.push(self.opts.per_class.then_some(d.class_id));
            }
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        for k in &self.keys {
            st.by_class
                .entry(*k)
                .or_insert_with(|| Tracker::new(self.opts.params.clone()));
        }
        // Every tracker of the stream moves on, with or without detections of its class.
        for (key, tracker) in st.by_class.iter_mut() {
            self.subset.clear();
            self.subset.extend((0..dets.len()).filter(|&i| {
                wanted(&self.opts.classes, &dets[i]) && key.is_none_or(|c| dets[i].class_id == c)
            }));
            let u = tracker.update(t, dets, &self.subset, &mut st.next_id);
            stats.started += u.started;
            stats.active += tracker.active();
        }
        stats
    }

    /// Drops every stream's tracks (a new run).
    pub fn reset(&mut self) {
        self.streams.clear();
    }
}

fn wanted(classes: &Option<Vec<String>>, d: &Detection) -> bool {
    classes
        .as_ref()
        .is_none_or(|c| c.iter().any(|n| *n == *d.label))
}

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
                .or_insert_with(|| Tracker::new(self.opts.params));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, label: &str, x: f32) -> Detection {
        Detection {
            class_id,
            label: label.into(),
            score: 0.9,
            bbox: [x, 100.0, x + 40.0, 200.0],
            track_id: None,
            track_box: None,
            mask: None,
        }
    }

    fn opts(per_class: bool, classes: Option<Vec<String>>) -> TrackOptions {
        TrackOptions {
            params: TrackerParams::bytetrack(),
            per_class,
            classes,
        }
    }

    #[test]
    fn streams_are_apart_and_a_restart_starts_clean_with_fresh_ids() {
        let mut t = StreamTrackers::new(opts(false, None));
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        for k in 0..5 {
            let mut d = vec![det(0, "person", 100.0)];
            t.update(&a, k, k as f64 * 0.1, &mut d);
            assert_eq!(d[0].track_id, Some(1), "stream a, frame {k}");
            let mut d = vec![det(0, "person", 500.0)];
            t.update(&b, k, k as f64 * 0.1, &mut d);
            assert_eq!(d[0].track_id, Some(1), "ids are per stream");
        }
        // Stream a restarts (frame numbers and clock back to 0): the same box is a new object.
        let mut d = vec![det(0, "person", 100.0)];
        let s = t.update(&a, 0, 0.0, &mut d);
        assert!(s.restarted);
        assert_eq!(
            d[0].track_id,
            Some(2),
            "a new track, the id still unique in the output"
        );
        let s = t.update(&b, 5, 0.5, &mut [det(0, "person", 500.0)]);
        assert!(!s.restarted && s.active == 1, "stream b untouched: {s:?}");
    }

    #[test]
    fn class_filters_and_per_class_trackers() {
        // Only persons tracked: the car keeps null.
        let mut t = StreamTrackers::new(opts(false, Some(vec!["person".into()])));
        let s: Arc<str> = "s".into();
        let mut last = vec![];
        for k in 0..3 {
            last = vec![det(0, "person", 100.0), det(2, "car", 400.0)];
            t.update(&s, k, k as f64 * 0.1, &mut last);
        }
        assert_eq!((last[0].track_id, last[1].track_id), (Some(1), None));
        // Per class: a car on top of a person's box does not take over the person's track.
        let mut t = StreamTrackers::new(opts(true, None));
        let mut ids = vec![];
        for k in 0..6 {
            let mut d = if k < 3 {
                vec![det(0, "person", 100.0)]
            } else {
                vec![det(2, "car", 100.0)]
            };
            t.update(&s, k, k as f64 * 0.1, &mut d);
            ids.push(d[0].track_id);
        }
        assert_eq!(ids[2], Some(1));
        assert!(ids[5].is_some() && ids[5] != Some(1), "{ids:?}");
    }
}

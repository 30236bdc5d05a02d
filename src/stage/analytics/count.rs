//! The counting state of one zone or one line on one stream, track after track, frame after
//! frame: pure state machines the stage feeds with each tracked object's anchor point.
//!
//! - A zone's entry needs the anchor inside for `min_on_s`; its exit needs it outside (or the
//!   track unseen) for `min_off_s`. The entry time is the first frame inside, the dwell runs to
//!   the last frame inside.
//! - A line counts a track once: when its anchor, last seen more than `margin` pixels on one
//!   side, is next seen more than `margin` on the other and the step between those two points
//!   crosses the line (not around its end). A box jittering on the line stays in the band and
//!   counts nothing.

use super::shape::{self, Point};
use crate::frame::analytics::{ClassCounts, Direction, Occupant};
use std::sync::Arc;

/// A track unseen this long is forgotten (its line count stays done: ids are never reused
/// within a run, and ByteTrack gives a lost track up long before this).
const FORGET_S: f64 = 30.0;

struct InZone {
    id: u64,
    class: Arc<str>,
    /// First time of the current stretch inside.
    since: Option<f64>,
    /// Set once the entry is confirmed: the stretch's start.
    entered: Option<f64>,
    last_inside: f64,
    last_seen: f64,
    bbox: [f32; 4],
    seen_now: bool,
}

/// A tracked object on a frame: its track, class, anchor point and box.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub id: u64,
    pub class: &'a Arc<str>,
    pub at: Point,
    pub bbox: [f32; 4],
}

/// An entry (`dwell` `None`) or an exit.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneChange {
    pub track_id: u64,
    pub class: Arc<str>,
    pub entered: f64,
    pub dwell_s: Option<f64>,
    pub bbox: [f32; 4],
}

pub struct ZoneCount {
    pub polygon: Vec<Point>,
    min_on_s: f64,
    min_off_s: f64,
    tracks: Vec<InZone>,
    pub entries: u64,
}

impl ZoneCount {
    pub fn new(polygon: Vec<Point>, min_on_s: f64, min_off_s: f64) -> ZoneCount {
        ZoneCount {
            polygon,
            min_on_s,
            min_off_s,
            tracks: vec![],
            entries: 0,
        }
    }

    /// One tracked object of a counted class on the frame at `t`.
    pub fn see(&mut self, t: f64, seen: Seen, out: &mut Vec<ZoneChange>) {
        let Seen {
            id,
            class,
            at: p,
            bbox,
        } = seen;
        let i = match self.tracks.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                self.tracks.push(InZone {
                    id,
                    class: class.clone(),
                    since: None,
                    entered: None,
                    last_inside: f64::NEG_INFINITY,
                    last_seen: t,
                    bbox,
                    seen_now: false,
                });
                self.tracks.len() - 1
            }
        };
        let s = &mut self.tracks[i];
        s.last_seen = t;
        s.bbox = bbox;
        s.seen_now = true;
        if !shape::inside(&self.polygon, p) {
            s.since = None;
            return;
        }
        s.last_inside = t;
        let since = *s.since.get_or_insert(t);
        if s.entered.is_none() && t - since >= self.min_on_s - 1e-9 {
            s.entered = Some(since);
            s.class = class.clone();
            self.entries += 1;
            out.push(ZoneChange {
                track_id: id,
                class: s.class.clone(),
                entered: since,
                dwell_s: None,
                bbox,
            });
        }
    }

    /// After every object of the frame at `t` was seen: exits of those outside (or gone) for
    /// `min_off_s`, and the occupants now.
    pub fn end_frame(
        &mut self,
        t: f64,
        out: &mut Vec<ZoneChange>,
        occupants: &mut Vec<Occupant>,
        by_class: &mut ClassCounts,
    ) {
        for s in &mut self.tracks {
            let inside_now = s.seen_now && s.last_inside == t;
            if !s.seen_now {
                s.since = None;
            }
            s.seen_now = false;
            if let Some(entered) = s.entered {
                if !inside_now && t - s.last_inside >= self.min_off_s - 1e-9 {
                    out.push(ZoneChange {
                        track_id: s.id,
                        class: s.class.clone(),
                        entered,
                        dwell_s: Some(s.last_inside - entered),
                        bbox: s.bbox,
                    });
                    s.entered = None;
                } else {
                    occupants.push(Occupant {
                        track_id: s.id,
                        class: s.class.clone(),
                        entered_pts_s: entered,
                        bbox: s.bbox,
                    });
                    *by_class.entry(&s.class) += 1;
                }
            }
        }
        self.tracks
            .retain(|s| s.entered.is_some() || t - s.last_seen < FORGET_S);
    }
}

struct OnLine {
    id: u64,
    /// The last point seen beyond the margin, and whether it was on side B.
    side: Option<(bool, Point)>,
    counted: bool,
    last_seen: f64,
}

pub struct LineCount {
    pub points: Vec<Point>,
    pub margin: f32,
    tracks: Vec<OnLine>,
}

impl LineCount {
    pub fn new(points: Vec<Point>, margin: f32) -> LineCount {
        LineCount {
            points,
            margin,
            tracks: vec![],
        }
    }

    /// One tracked object's anchor on the frame at `t`: the crossing it completes, if any.
    pub fn see(&mut self, t: f64, id: u64, p: Point) -> Option<Direction> {
        let i = match self.tracks.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                self.tracks.push(OnLine {
                    id,
                    side: None,
                    counted: false,
                    last_seen: t,
                });
                self.tracks.len() - 1
            }
        };
        let s = &mut self.tracks[i];
        s.last_seen = t;
        let d = shape::side(&self.points, p);
        if d.abs() <= self.margin {
            return None;
        }
        let on_b = d > 0.0;
        let mut crossed = None;
        if let Some((was_b, from)) = s.side
            && was_b != on_b
            && !s.counted
            && shape::crosses(&self.points, from, p)
        {
            s.counted = true;
            crossed = Some(if on_b {
                Direction::AToB
            } else {
                Direction::BToA
            });
        }
        s.side = Some((on_b, p));
        crossed
    }

    /// Forgets tracks long gone.
    pub fn end_frame(&mut self, t: f64) {
        self.tracks.retain(|s| t - s.last_seen < FORGET_S);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car() -> Arc<str> {
        "car".into()
    }

    #[test]
    fn a_box_jittering_on_the_line_counts_once_and_only_when_it_crosses_fully() {
        let mut line = LineCount::new(vec![[0.0, 100.0], [200.0, 100.0]], 4.0);
        let mut counted = vec![];
        // Approaches from above, jitters across the line inside the band, then goes on down.
        let ys = [
            80.0, 90.0, 97.0, 102.0, 98.0, 103.0, 99.0, 101.0, 106.0, 99.0, 108.0, 120.0,
        ];
        for (k, y) in ys.iter().enumerate() {
            if let Some(d) = line.see(k as f64 / 30.0, 7, [50.0, *y]) {
                counted.push((k, d));
            }
        }
        // 106 is the first point beyond the band below; 99 (in the band) and back below
        // count nothing more.
        assert_eq!(counted, vec![(8, Direction::AToB)]);
        // A second track that only reaches the band, then goes back, counts nothing.
        for (k, y) in [80.0, 96.0, 103.0, 90.0].iter().enumerate() {
            assert_eq!(line.see(1.0 + k as f64 / 30.0, 8, [50.0, *y]), None);
        }
        // One going up counts B -> A.
        let up: Vec<_> = [130.0, 110.0, 95.0]
            .iter()
            .enumerate()
            .filter_map(|(k, y)| line.see(2.0 + k as f64 / 30.0, 9, [150.0, *y]))
            .collect();
        assert_eq!(up, vec![Direction::BToA]);
    }

    #[test]
    fn passing_around_the_end_of_a_line_is_no_crossing() {
        let mut line = LineCount::new(vec![[0.0, 100.0], [200.0, 100.0]], 2.0);
        for (k, p) in [[250.0, 80.0], [260.0, 100.0], [250.0, 120.0]]
            .iter()
            .enumerate()
        {
            assert_eq!(line.see(k as f64, 1, *p), None);
        }
    }

    #[test]
    fn a_zone_entry_waits_for_min_on_and_the_exit_for_min_off_with_the_dwell_between() {
        let sq = vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]];
        let mut z = ZoneCount::new(sq, 0.2, 0.5);
        let mut ev = vec![];
        let mut occ = vec![];
        let c = car();
        let mut frame = |z: &mut ZoneCount, t: f64, p: Option<Point>, ev: &mut Vec<ZoneChange>| {
            if let Some(p) = p {
                let seen = Seen {
                    id: 3,
                    class: &c,
                    at: p,
                    bbox: [0.0; 4],
                };
                z.see(t, seen, ev);
            }
            occ.clear();
            let mut by = ClassCounts::default();
            z.end_frame(t, ev, &mut occ, &mut by);
            by.get("car")
        };
        // Outside, then a flicker inside for one frame (0.1 s < min_on): no entry.
        assert_eq!(frame(&mut z, 0.0, Some([150.0, 50.0]), &mut ev), 0);
        assert_eq!(frame(&mut z, 0.1, Some([50.0, 50.0]), &mut ev), 0);
        assert_eq!(frame(&mut z, 0.2, Some([150.0, 50.0]), &mut ev), 0);
        assert!(ev.is_empty());
        // Inside from 1.0 on: the entry is decided at 1.2 and dated 1.0.
        for k in 0..=10 {
            frame(&mut z, 1.0 + k as f64 * 0.1, Some([50.0, 50.0]), &mut ev);
        }
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].entered, 1.0);
        assert_eq!(ev[0].dwell_s, None);
        assert_eq!(frame(&mut z, 2.1, None, &mut ev), 1, "unseen, not yet gone");
        // Unseen from 2.1: gone at 2.5 (0.5 after the last inside at 2.0); dwell 1.0 s.
        for k in 2..=5 {
            frame(&mut z, 2.0 + k as f64 * 0.1, None, &mut ev);
        }
        assert_eq!(ev.len(), 2);
        assert!((ev[1].dwell_s.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(z.entries, 1);
    }
}

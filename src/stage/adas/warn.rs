//! A warning that neither flickers nor lingers: it starts once its condition has held for
//! `on_s` seconds and ends once the condition has been off for `off_s` seconds (times on the
//! stream's clock). While active it keeps its peak value (the smallest TTC, the largest offset)
//! and the track it concerns; its start and end are events.

/// What one warning reports when it starts or ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Edge {
    /// Started at `t` (the first instant the condition held).
    Start { t: f64 },
    /// Ended at `t` (the last instant the condition held), with its peak and track.
    End {
        start: f64,
        t: f64,
        peak: f64,
        track: Option<u64>,
    },
}

/// Whether larger or smaller values are worse (the peak kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    Higher,
    Lower,
}

/// One warning's state on one stream.
#[derive(Debug, Clone)]
pub struct Debounce {
    on_s: f64,
    off_s: f64,
    worse: Worse,
    /// The condition has held since (and its worst value meanwhile).
    held_since: Option<(f64, f64, Option<u64>)>,
    /// The last instant it held.
    last_true: f64,
    active: Option<Active>,
}

/// A warning in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Active {
    pub start: f64,
    pub peak: f64,
    pub track: Option<u64>,
}

impl Debounce {
    pub fn new(on_s: f64, off_s: f64, worse: Worse) -> Debounce {
        Debounce {
            on_s,
            off_s,
            worse,
            held_since: None,
            last_true: f64::NEG_INFINITY,
            active: None,
        }
    }

    pub fn active(&self) -> Option<&Active> {
        self.active.as_ref()
    }

    fn worst(&self, a: f64, b: f64) -> f64 {
        match self.worse {
            Worse::Higher => a.max(b),
            Worse::Lower => a.min(b),
        }
    }

    /// The condition at `t`: `Some((value, track))` when it holds. Returns the edge it causes.
    pub fn update(&mut self, t: f64, cond: Option<(f64, Option<u64>)>) -> Option<Edge> {
        if t < self.last_true {
            // Time went backwards (a restarted stream): start over, closing what was open.
            let end = self.finish();
            *self = Debounce::new(self.on_s, self.off_s, self.worse);
            return end;
        }
        match cond {
            Some((value, track)) => {
                self.last_true = t;
                if let Some(a) = &mut self.active {
                    let peak = match self.worse {
                        Worse::Higher => a.peak.max(value),
                        Worse::Lower => a.peak.min(value),
                    };
                    a.peak = peak;
                    if a.track.is_none() {
                        a.track = track;
                    }
                    return None;
                }
                let (since, worst, tr) = match self.held_since {
                    Some((s, w, tr)) => (s, self.worst(w, value), tr.or(track)),
                    None => (t, value, track),
                };
                self.held_since = Some((since, worst, tr));
                if t - since >= self.on_s {
                    self.active = Some(Active {
                        start: since,
                        peak: worst,
                        track: tr,
                    });
                    self.held_since = None;
                    return Some(Edge::Start { t: since });
                }
                None
            }
            None => {
                self.held_since = None;
                if self.active.is_some() && t - self.last_true >= self.off_s {
                    return self.finish();
                }
                None
            }
        }
    }

    /// Ends an active warning (the stream ended).
    pub fn finish(&mut self) -> Option<Edge> {
        let a = self.active.take()?;
        Some(Edge::End {
            start: a.start,
            t: self.last_true,
            peak: a.peak,
            track: a.track,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `values` (None: condition off) at 25 frames a second; returns the edges.
    fn run(d: &mut Debounce, values: &[Option<f64>]) -> Vec<(usize, Edge)> {
        let mut out = vec![];
        for (k, v) in values.iter().enumerate() {
            if let Some(e) = d.update(k as f64 / 25.0, v.map(|v| (v, Some(7)))) {
                out.push((k, e));
            }
        }
        out
    }

    #[test]
    fn a_blip_is_no_warning_and_a_held_condition_starts_one_at_its_onset() {
        let mut d = Debounce::new(0.19, 0.49, Worse::Lower);
        // Two frames on (0.04 s): too short.
        let mut v = vec![None; 5];
        v.extend([Some(1.9), Some(1.8)]);
        v.extend(vec![None; 10]);
        assert!(run(&mut d, &v).is_empty());
        // Held from frame 3 on: starts at frame 3's time once 0.19 s have passed (frame 8).
        let mut d = Debounce::new(0.19, 0.49, Worse::Lower);
        let mut v = vec![None; 3];
        v.extend((0..20).map(|k| Some(2.5 - k as f64 * 0.05)));
        // A one-frame dropout does not end it; 0.49 s off does, at the last instant it held.
        v.push(None);
        v.extend((0..5).map(|_| Some(1.6)));
        v.extend(vec![None; 20]);
        let e = run(&mut d, &v);
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0], (8, Edge::Start { t: 3.0 / 25.0 }));
        let (
            k,
            Edge::End {
                start,
                t,
                peak,
                track,
            },
        ) = e[1]
        else {
            panic!("{e:?}")
        };
        assert_eq!((start, track), (3.0 / 25.0, Some(7)));
        assert!((t - 28.0 / 25.0).abs() < 1e-9, "{t}");
        assert!((peak - 1.55).abs() < 1e-9, "{peak}");
        assert_eq!(
            k,
            28 + 13,
            "ends on the first frame 0.49 s after it last held"
        );
    }

    #[test]
    fn the_end_of_a_stream_or_a_restart_closes_an_open_warning() {
        let mut d = Debounce::new(0.0, 1.0, Worse::Higher);
        assert_eq!(
            d.update(5.0, Some((0.3, None))),
            Some(Edge::Start { t: 5.0 })
        );
        assert_eq!(d.update(5.1, Some((0.6, None))), None);
        assert_eq!(d.active().map(|a| a.peak), Some(0.6));
        let end = d.update(0.0, None);
        assert!(
            matches!(end, Some(Edge::End { peak, .. }) if peak == 0.6),
            "{end:?}"
        );
        assert!(d.active().is_none());
        assert_eq!(
            d.update(1.0, Some((0.2, None))),
            Some(Edge::Start { t: 1.0 })
        );
        assert!(matches!(d.finish(), Some(Edge::End { t, .. }) if t == 1.0));
        assert_eq!(d.finish(), None);
    }
}

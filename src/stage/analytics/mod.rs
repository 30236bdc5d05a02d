//! `type: analytics`: zones and counting lines over tracked objects (issue 20), per stream.
//! Per frame: the objects inside each zone (by class), entries and exits with the dwell time,
//! and each line's crossings in both directions, every track counted once; the events go to
//! the `events` sink, the counts to the JSONL record, Prometheus and the annotated video.
//!
//! - `mod.rs`: the config as written, its check, the running stage (metrics);
//! - `shape.rs`: point in polygon, side of a polyline, crossing of a step;
//! - `count.rs`: one zone's or line's state machine over the tracks.
//!
//! An object's position is its anchor on the track's filtered box: the bottom centre (where it
//! stands on the ground) by default, or the box centre.

pub mod count;
pub mod shape;

use super::{BuildCx, Built, CompileCx, Kind, Stage, StageError, StageKind};
use crate::frame::Frame;
use crate::frame::analytics::{
    AnalyticsEvent, AnalyticsState, ClassCounts, Direction, EventKind, LineState, ZoneState,
};
use crate::telemetry::Metrics;
use count::{LineCount, Seen, ZoneChange, ZoneCount};
use serde::Deserialize;
use shape::Point;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// 0 to 1 of the frame's width and height.
    #[default]
    Normalized,
    /// Source-frame pixels.
    Pixels,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The box's bottom centre: where the object stands.
    #[default]
    BottomCentre,
    Centre,
}

/// A zone or a line as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeConfig {
    pub name: String,
    /// `[[x, y], ...]`: a zone's corners (3 or more), a line's points (2 or more).
    pub points: Vec<[f64; 2]>,
    #[serde(default)]
    pub units: Units,
    /// The detector labels it counts (default: every label).
    pub classes: Option<Vec<String>>,
    /// The streams it applies to (default: every stream).
    pub streams: Option<Vec<String>>,
}

/// The stage as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub zones: Vec<ShapeConfig>,
    #[serde(default)]
    pub lines: Vec<ShapeConfig>,
    #[serde(default)]
    pub anchor: Anchor,
    /// Inside this long before an entry counts (default 0.2 s), outside or unseen this long
    /// before the exit (default 0.5 s).
    pub min_on_s: Option<f64>,
    pub min_off_s: Option<f64>,
    /// How far past a line (a fraction of the frame's height, default 0.01) the anchor must be
    /// on both sides for a crossing: a box jittering on the line counts nothing.
    pub line_margin: Option<f64>,
}

/// A checked zone or line.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeSpec {
    pub name: Arc<str>,
    /// The key in the pipeline file, for messages (`stages[3].zones[0]`).
    pub key: String,
    pub points: Vec<[f64; 2]>,
    pub units: Units,
    /// Empty: every label.
    pub classes: Vec<Arc<str>>,
    /// Empty: every stream.
    pub streams: Vec<String>,
}

impl ShapeSpec {
    fn applies_to(&self, stream: &str) -> bool {
        self.streams.is_empty() || self.streams.iter().any(|s| s == stream)
    }

    fn counts(&self, label: &str) -> bool {
        self.classes.is_empty() || self.classes.iter().any(|c| **c == *label)
    }

    /// The points in pixels of a `width` x `height` frame; an error names the first point off it.
    fn pixels(&self, width: u32, height: u32) -> Result<Vec<Point>, String> {
        let (w, h) = (width as f64, height as f64);
        let mut out = Vec::with_capacity(self.points.len());
        for (i, p) in self.points.iter().enumerate() {
            let q = match self.units {
                Units::Normalized => [p[0] * w, p[1] * h],
                Units::Pixels => *p,
            };
            if q[0] > w || q[1] > h {
                return Err(format!(
                    "{}.points[{i}]: ({}, {}) is off the {width}x{height} frame; give pixels inside it or `units: normalized` (0 to 1)",
                    self.key, p[0], p[1]
                ));
            }
            out.push([q[0] as f32, q[1] as f32]);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub zones: Vec<ShapeSpec>,
    pub lines: Vec<ShapeSpec>,
    pub anchor: Anchor,
    pub min_on_s: f64,
    pub min_off_s: f64,
    pub line_margin: f64,
}

impl Kind for Spec {
    const TYPE: &'static str = "analytics";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let mut ok = true;
        if !cx.upstream.has(super::track::Spec::TYPE) {
            cx.diag.error(
                key.to_string(),
                "zones and lines count tracked objects: put a `type: track` stage before it",
            );
            ok = false;
        }
        if cfg.zones.is_empty() && cfg.lines.is_empty() {
            cx.diag.error(
                key.to_string(),
                "has no `zones` and no `lines`; add one, e.g. `lines: [{name: road, points: [[0, 0.8], [1, 0.8]]}]`",
            );
            ok = false;
        }
        let labels = super::detect::labels_before(cx);
        let mut names: Vec<String> = vec![];
        let mut shapes = |list: &[ShapeConfig], section: &str, min: usize, ok: &mut bool| {
            let mut out = vec![];
            for (i, s) in list.iter().enumerate() {
                let k = format!("{key}.{section}[{i}]");
                match check_shape(s, &k, min, section == "zones", &labels, &mut names, cx) {
                    Some(s) => out.push(s),
                    None => *ok = false,
                }
            }
            out
        };
        let zones = shapes(&cfg.zones, "zones", 3, &mut ok);
        let lines = shapes(&cfg.lines, "lines", 2, &mut ok);
        let mut num = |name: &str, v: Option<f64>, default: f64, hi: f64, what: &str| {
            let v = v.unwrap_or(default);
            ok &= cx.diag.in_range(format!("{key}.{name}"), v, 0.0, hi, what);
            v
        };
        let min_on_s = num("min_on_s", cfg.min_on_s, 0.2, 10.0, "seconds");
        let min_off_s = num("min_off_s", cfg.min_off_s, 0.5, 30.0, "seconds");
        let line_margin = num(
            "line_margin",
            cfg.line_margin,
            0.01,
            0.2,
            "a fraction of the frame's height",
        );
        ok.then_some(Spec {
            zones,
            lines,
            anchor: cfg.anchor,
            min_on_s,
            min_off_s,
            line_margin,
        })
    }
}

fn check_shape(
    s: &ShapeConfig,
    key: &str,
    min: usize,
    zone: bool,
    labels: &Option<Vec<String>>,
    names: &mut Vec<String>,
    cx: &mut CompileCx,
) -> Option<ShapeSpec> {
    let mut ok = true;
    let what = if zone { "zone" } else { "line" };
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        cx.diag.error(
            format!("{key}.name"),
            format!(
                "`{}` is not a name; use letters, digits, `_` and `-` (it labels metrics and events)",
                s.name
            ),
        );
        ok = false;
    } else if names.contains(&s.name) {
        cx.diag.error(
            format!("{key}.name"),
            format!(
                "`{}` names another zone or line too; give each its own name",
                s.name
            ),
        );
        ok = false;
    }
    names.push(s.name.clone());
    if s.points.len() < min {
        cx.diag.error(
            format!("{key}.points"),
            format!(
                "a {what} needs at least {min} points, it has {}",
                s.points.len()
            ),
        );
        ok = false;
    }
    for (i, p) in s.points.iter().enumerate() {
        let bad = match s.units {
            _ if !(p[0].is_finite() && p[1].is_finite()) => true,
            Units::Normalized => !(0.0..=1.0).contains(&p[0]) || !(0.0..=1.0).contains(&p[1]),
            Units::Pixels => p[0] < 0.0 || p[1] < 0.0,
        };
        if bad {
            let fix = match s.units {
                Units::Normalized => {
                    "normalized coordinates run from 0 to 1 (for pixels add `units: pixels`)"
                }
                Units::Pixels => "pixels run from 0 to the frame's width and height",
            };
            cx.diag.error(
                format!("{key}.points[{i}]"),
                format!("({}, {}) is off the frame; {fix}", p[0], p[1]),
            );
            ok = false;
        }
    }
    if ok && zone {
        let poly: Vec<Point> = s
            .points
            .iter()
            .map(|p| [p[0] as f32, p[1] as f32])
            .collect();
        if shape::area2(&poly).abs() < 1e-9 {
            cx.diag.error(
                format!("{key}.points"),
                "the zone's points are on one line: it has no inside",
            );
            ok = false;
        }
    }
    if ok && !zone && s.points.windows(2).all(|w| w[0] == w[1]) {
        cx.diag.error(
            format!("{key}.points"),
            "the line's points are all the same point",
        );
        ok = false;
    }
    if let Some(classes) = &s.classes {
        if classes.is_empty() {
            cx.diag.error(
                format!("{key}.classes"),
                "is empty; list detector labels, or remove it to count every label",
            );
            ok = false;
        }
        if let Some(known) = labels {
            for (i, c) in classes.iter().enumerate() {
                if !known.contains(c) {
                    cx.diag.error(
                        format!("{key}.classes[{i}]"),
                        format!(
                            "no detector before it has the label `{c}`; its labels are: {}",
                            known.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    if let (Some(streams), Some(known)) = (&s.streams, cx.streams) {
        for (i, st) in streams.iter().enumerate() {
            if !known.contains(st) {
                cx.diag.error(
                    format!("{key}.streams[{i}]"),
                    format!("no source `{st}`; the sources are: {}", known.join(", ")),
                );
                ok = false;
            }
        }
    }
    ok.then(|| ShapeSpec {
        name: s.name.as_str().into(),
        key: key.to_string(),
        points: s.points.clone(),
        units: s.units,
        classes: s
            .classes
            .iter()
            .flatten()
            .map(|c| c.as_str().into())
            .collect(),
        streams: s.streams.clone().unwrap_or_default(),
    })
}

impl StageKind for Spec {
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn stage_names(&self) -> Vec<String> {
        vec![Self::TYPE.into()]
    }
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError> {
        Ok(Built {
            stages: vec![Box::new(Analytics {
                spec: self.clone(),
                streams: vec![],
                metrics: cx.metrics.clone(),
                pipeline: cx.pipeline.to_string(),
            })],
            provider: None,
        })
    }
}

struct Zone {
    spec: usize,
    count: ZoneCount,
    polygon_px: Arc<[[f32; 2]]>,
    /// Gauges per class, made when a class is first counted; reset to 0 once empty.
    gauges: Vec<(Arc<str>, prometheus::Gauge)>,
}

struct Line {
    spec: usize,
    count: LineCount,
    points_px: Arc<[[f32; 2]]>,
    a_to_b: ClassCounts,
    b_to_a: ClassCounts,
}

/// One stream's zones and lines, made on its first frame (its size fixes the pixels).
struct StreamAnalytics {
    stream: Arc<str>,
    zones: Vec<Zone>,
    lines: Vec<Line>,
}

/// The running stage.
pub struct Analytics {
    spec: Spec,
    streams: Vec<StreamAnalytics>,
    metrics: Arc<Metrics>,
    pipeline: String,
}

impl Analytics {
    fn stream(&mut self, f: &Frame) -> Result<usize, StageError> {
        if let Some(i) = self.streams.iter().position(|s| s.stream == f.stream) {
            return Ok(i);
        }
        let (w, h) = (f.width, f.height);
        let margin = (self.spec.line_margin * h as f64) as f32;
        let mut zones = vec![];
        for (i, z) in self.spec.zones.iter().enumerate() {
            if z.applies_to(&f.stream) {
                let px = z.pixels(w, h).map_err(StageError::Other)?;
                zones.push(Zone {
                    spec: i,
                    polygon_px: px.clone().into(),
                    count: ZoneCount::new(px, self.spec.min_on_s, self.spec.min_off_s),
                    gauges: vec![],
                });
            }
        }
        let mut lines = vec![];
        for (i, l) in self.spec.lines.iter().enumerate() {
            if l.applies_to(&f.stream) {
                let px = l.pixels(w, h).map_err(StageError::Other)?;
                lines.push(Line {
                    spec: i,
                    points_px: px.clone().into(),
                    count: LineCount::new(px, margin),
                    a_to_b: ClassCounts::new(&l.classes),
                    b_to_a: ClassCounts::new(&l.classes),
                });
            }
        }
        self.streams.push(StreamAnalytics {
            stream: f.stream.clone(),
            zones,
            lines,
        });
        Ok(self.streams.len() - 1)
    }
}

fn anchor(a: Anchor, b: [f32; 4]) -> Point {
    match a {
        Anchor::BottomCentre => [(b[0] + b[2]) / 2.0, b[3]],
        Anchor::Centre => [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0],
    }
}

impl Stage for Analytics {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let t = frame.time_s();
        let i = self.stream(&frame)?;
        let spec = &self.spec;
        let st = &mut self.streams[i];
        let mut out = AnalyticsState::default();
        let mut changes: Vec<ZoneChange> = vec![];
        for z in &mut st.zones {
            let zs = &spec.zones[z.spec];
            changes.clear();
            for d in &frame.detections {
                let Some(id) = d.track_id else { continue };
                if zs.counts(&d.label) {
                    let b = d.shown_box();
                    let seen = Seen {
                        id,
                        class: &d.label,
                        at: anchor(spec.anchor, b),
                        bbox: b,
                    };
                    z.count.see(t, seen, &mut changes);
                }
            }
            let mut inside = vec![];
            let mut by_class = ClassCounts::new(&zs.classes);
            z.count
                .end_frame(t, &mut changes, &mut inside, &mut by_class);
            for c in changes.drain(..) {
                out.events.push(AnalyticsEvent {
                    kind: if c.dwell_s.is_some() {
                        EventKind::ZoneExit
                    } else {
                        EventKind::ZoneEnter
                    },
                    stream: frame.stream.clone(),
                    at_pts_s: t,
                    name: zs.name.clone(),
                    track_id: c.track_id,
                    class: c.class,
                    entered_pts_s: Some(c.entered),
                    dwell_s: c.dwell_s,
                    direction: None,
                    bbox: c.bbox,
                });
            }
            // A gauge per class ever counted, so that an emptied class reads 0, not its last count.
            for c in &by_class.classes {
                if !z.gauges.iter().any(|(g, _)| g == c) {
                    let g = self.metrics.zone_objects.with_label_values(&[
                        self.pipeline.as_str(),
                        &frame.stream,
                        &zs.name,
                        c,
                    ]);
                    z.gauges.push((c.clone(), g));
                }
            }
            for (c, g) in &z.gauges {
                g.set(by_class.get(c) as f64);
            }
            out.zones.push(ZoneState {
                name: zs.name.clone(),
                objects: by_class.total(),
                by_class,
                entries: z.count.entries,
                inside,
                polygon_px: z.polygon_px.clone(),
            });
        }
        for l in &mut st.lines {
            let ls = &spec.lines[l.spec];
            for d in &frame.detections {
                let Some(id) = d.track_id else { continue };
                if !ls.counts(&d.label) {
                    continue;
                }
                let b = d.shown_box();
                let Some(dir) = l.count.see(t, id, anchor(spec.anchor, b)) else {
                    continue;
                };
                match dir {
                    Direction::AToB => *l.a_to_b.entry(&d.label) += 1,
                    Direction::BToA => *l.b_to_a.entry(&d.label) += 1,
                }
                self.metrics
                    .line_crossings
                    .with_label_values(&[
                        self.pipeline.as_str(),
                        &frame.stream,
                        &ls.name,
                        dir.name(),
                        &d.label,
                    ])
                    .inc();
                out.events.push(AnalyticsEvent {
                    kind: EventKind::LineCross,
                    stream: frame.stream.clone(),
                    at_pts_s: t,
                    name: ls.name.clone(),
                    track_id: id,
                    class: d.label.clone(),
                    entered_pts_s: None,
                    dwell_s: None,
                    direction: Some(dir),
                    bbox: b,
                });
            }
            l.count.end_frame(t);
            out.lines.push(LineState {
                name: ls.name.clone(),
                a_to_b: l.a_to_b.clone(),
                b_to_a: l.b_to_a.clone(),
                points_px: l.points_px.clone(),
            });
        }
        frame.analytics = Some(Box::new(out));
        Ok(Some(frame))
    }
}

//! `type: track`: multi-object tracking of the detections (ByteTrack or SORT, per stream),
//! after the model stages; sets each tracked detection's `track_id`.

use super::{BuildCx, Built, CompileCx, Kind, Stage, StageError, StageKind};
use crate::config::diag::Diagnostics;
use crate::frame::Frame;
use crate::telemetry::{Metrics, PerStream};
use crate::track::{StreamTrackers, TrackOptions, TrackerParams};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackerKind {
    Bytetrack,
    Sort,
}

/// Times in seconds of the stream's clock; unset thresholds take the tracker's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `bytetrack` (default) or `sort`.
    pub tracker: Option<TrackerKind>,
    /// One set of tracks per class (default false: a class change keeps the id).
    pub per_class: Option<bool>,
    /// Track only these labels (default: all).
    pub classes: Option<Vec<String>>,
    pub high_score: Option<f32>,
    pub low_score: Option<f32>,
    pub new_track_score: Option<f32>,
    pub match_iou: Option<f32>,
    pub low_match_iou: Option<f32>,
    pub tentative_match_iou: Option<f32>,
    /// ByteTrack: weigh IoU by the detection score in the first and tentative rounds.
    pub fuse_score: Option<bool>,
    /// ByteTrack: above this IoU a followed and a lost track are one object (0 = never).
    pub duplicate_iou: Option<f32>,
    pub confirm_s: Option<f64>,
    pub max_lost_s: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub options: TrackOptions,
}

impl Kind for Spec {
    const TYPE: &'static str = "track";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let detects = cx.models.is_none_or(|m| {
            cx.upstream.stages.iter().any(|(k, model)| {
                *k == super::detect::Spec::TYPE
                    || model.as_ref().is_some_and(|n| m.get(n).is_none())
            })
        });
        let mut ok = true;
        if !detects {
            cx.diag.error(
                key.to_string(),
                "tracking needs detections: put a `type: detect` stage before it",
            );
            ok = false;
        }
        let options = track_options(&cfg, key, cx.diag);
        (ok && options.is_some()).then(|| Spec {
            options: options.expect("checked"),
        })
    }
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
            stages: vec![Box::new(Track::new(
                self.options.clone(),
                cx.metrics.clone(),
                cx.pipeline,
            ))],
            provider: None,
        })
    }
}

/// The stage's settings over its tracker's defaults, each checked.
fn track_options(t: &Config, key: &str, diag: &mut Diagnostics) -> Option<TrackOptions> {
    let mut p = match t.tracker.unwrap_or(TrackerKind::Bytetrack) {
        TrackerKind::Bytetrack => TrackerParams::bytetrack(),
        TrackerKind::Sort => TrackerParams::sort(),
    };
    let mut ok = true;
    let mut unit = |name: &str, v: Option<f32>, slot: &mut f32, zero_ok: bool| {
        if let Some(v) = v {
            if !(v <= 1.0 && (v > 0.0 || (zero_ok && v == 0.0))) {
                diag.error(
                    format!("{key}.{name}"),
                    format!(
                        "{v} is out of range; {} takes {} to 1",
                        if name.ends_with("iou") {
                            "an IoU"
                        } else {
                            "a score"
                        },
                        if zero_ok { "0" } else { "a value above 0 up" }
                    ),
                );
                ok = false;
            }
            *slot = v;
        }
    };
    unit("high_score", t.high_score, &mut p.high_score, true);
    unit("low_score", t.low_score, &mut p.low_score, true);
    unit(
        "new_track_score",
        t.new_track_score,
        &mut p.new_track_score,
        true,
    );
    unit("match_iou", t.match_iou, &mut p.match_iou, false);
    unit(
        "low_match_iou",
        t.low_match_iou,
        &mut p.low_match_iou,
        false,
    );
    unit(
        "tentative_match_iou",
        t.tentative_match_iou,
        &mut p.tentative_match_iou,
        false,
    );
    if let Some(f) = t.fuse_score {
        p.fuse_score = f;
    }
    if let Some(v) = t.duplicate_iou {
        let mut slot = 0.0;
        unit("duplicate_iou", Some(v), &mut slot, true);
        p.duplicate_iou = (slot > 0.0).then_some(slot);
    }
    if t.tracker == Some(TrackerKind::Sort) {
        for (name, set) in [
            ("fuse_score", t.fuse_score.is_some()),
            ("duplicate_iou", t.duplicate_iou.is_some()),
            ("low_score", t.low_score.is_some()),
            ("new_track_score", t.new_track_score.is_some()),
            ("low_match_iou", t.low_match_iou.is_some()),
            ("tentative_match_iou", t.tentative_match_iou.is_some()),
        ] {
            if set {
                diag.error(
                    format!("{key}.{name}"),
                    "SORT has no such threshold (it is ByteTrack's); remove it or set `tracker: bytetrack`",
                );
                ok = false;
            }
        }
    }
    if ok && p.low_score > p.high_score {
        diag.error(
            format!("{key}.low_score"),
            format!(
                "{} is above high_score {}; low-score detections are those between the two",
                p.low_score, p.high_score
            ),
        );
        ok = false;
    }
    if let Some(c) = t.confirm_s {
        if !(c.is_finite() && c >= 0.0) {
            diag.error(
                format!("{key}.confirm_s"),
                format!(
                    "{c} is not a time; give seconds, 0 or more (0: confirmed at the second match)"
                ),
            );
            ok = false;
        }
        p.confirm_s = c;
    }
    if let Some(m) = t.max_lost_s {
        if !(m.is_finite() && m > 0.0) {
            diag.error(
                format!("{key}.max_lost_s"),
                format!("{m} is not a time; give seconds above 0 (how long a lost track is kept)"),
            );
            ok = false;
        }
        p.max_lost_s = m;
    }
    if let Some(c) = &t.classes
        && c.is_empty()
    {
        diag.error(
            format!("{key}.classes"),
            "is empty; list the labels to track, or remove it to track every class",
        );
        ok = false;
    }
    ok.then(|| TrackOptions {
        params: p,
        per_class: t.per_class.unwrap_or(false),
        classes: t.classes.clone(),
    })
}

/// Tracks the frame's detections, setting their `track_id`.
pub struct Track {
    trackers: StreamTrackers,
    /// Per stream: its active-tracks gauge and started-tracks counter.
    series: PerStream<(prometheus::IntGauge, prometheus::IntCounter)>,
}

impl Track {
    pub fn new(opts: TrackOptions, metrics: Arc<Metrics>, pipeline: &str) -> Track {
        let pipeline = pipeline.to_string();
        Track {
            trackers: StreamTrackers::new(opts),
            series: PerStream::new(move |stream| {
                let l = [pipeline.as_str(), stream];
                (
                    metrics.tracks_active.with_label_values(&l),
                    metrics.tracks_started.with_label_values(&l),
                )
            }),
        }
    }
}

impl Stage for Track {
    fn name(&self) -> &str {
        "track"
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let t = frame.time_s();
        let s = self
            .trackers
            .update(&frame.stream, frame.seq, t, &mut frame.detections);
        let (active, started) = self.series.get(&frame.stream);
        active.set(s.active as i64);
        started.inc_by(s.started as u64);
        Ok(Some(frame))
    }
}

//! `type: adas`: driver-assistance analytics after `segment` and `track` (issue 17). Per frame,
//! per stream: the ego lane with its confidence, the lateral offset and its rate, the lead
//! vehicle's distance, closing speed and time to collision, the vulnerable road users in the
//! path, and forward-collision, lane-departure, pedestrian-in-path and headway warnings as
//! events, all on the stream's clock. What lives here:
//!
//! - `mod.rs`: the stage's config as written, its check, and the running stage (metrics);
//! - `camera.rs`: the `camera:` block, checked, and the ground-plane projection it gives;
//! - `lane.rs`: the ego lane's boundaries fitted on the ground from a segmentation head's
//!   lane-marking pixels;
//! - `lead.rs`: a vehicle's distance from its box, and its closing speed and time to collision
//!   (from distance and from scale rate) over a PTS window;
//! - `warn.rs`: a warning's hysteresis (minimum time on, minimum time off, peak value);
//! - `speed.rs`: the ego speed for headway (constant or a sidecar file);
//! - `analyse.rs`: one stream's state, frame after frame, putting the parts together.

pub mod analyse;
pub mod camera;
pub mod lane;
pub mod lead;
pub mod speed;
pub mod warn;

use super::{BuildCx, Built, CompileCx, Kind, Stage, StageError, StageKind};
use crate::config::diag::resolve;
use crate::frame::Frame;
use crate::frame::adas::WarningKind;
use crate::telemetry::{Metrics, PerStream};
use analyse::{Inputs, Params, StreamAdas};
use camera::{CameraConfig, CameraSpec};
use serde::Deserialize;
use speed::EgoSpeed;
use std::path::PathBuf;
use std::sync::Arc;

/// Labels taken as vehicles and as vulnerable road users when the config does not say.
pub const DEFAULT_VEHICLES: [&str; 4] = ["car", "truck", "bus", "motorcycle"];
pub const DEFAULT_VULNERABLE: [&str; 2] = ["person", "bicycle"];

/// The stage as written. Times in seconds, distances in metres.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The camera over the road (defaults, with a warning each, for what is left out).
    #[serde(default)]
    pub camera: CameraConfig,
    /// The segmentation head whose lane-marking class is used (default: the first head that
    /// has `lane_class`).
    pub lane_head: Option<String>,
    /// The lane-marking class (default `lane`).
    pub lane_class: Option<String>,
    /// Detector labels taken as vehicles (default car, truck, bus, motorcycle).
    pub vehicles: Option<Vec<String>>,
    /// Detector labels taken as vulnerable road users (default person, bicycle).
    pub vulnerable: Option<Vec<String>>,
    /// Forward collision below this time to collision (default 2.5), critical below
    /// `fcw_critical_ttc_s` (default 1.5).
    pub fcw_ttc_s: Option<f64>,
    pub fcw_critical_ttc_s: Option<f64>,
    /// Lane departure: the vehicle centre this far from the lane centre (default 0.8)...
    pub ldw_offset_m: Option<f64>,
    /// ... moving outward at least this fast, m/s (default 0.1)...
    pub ldw_min_rate_mps: Option<f64>,
    /// ... with the lane fit at least this sure, 0 to 1 (default 0.4).
    pub min_lane_confidence: Option<f64>,
    /// Pedestrian in path nearer than this (default 25).
    pub pedestrian_distance_m: Option<f64>,
    /// Headway below this (default 0.8), when the ego speed is known.
    pub headway_s: Option<f64>,
    /// The ego speed, m/s, constant (exclusive with `ego_speed_file`).
    pub ego_speed_mps: Option<f64>,
    /// A sidecar of `t_s,speed_mps` lines; `{stream}` is replaced by the stream id.
    pub ego_speed_file: Option<String>,
    /// A condition must hold this long before its warning starts (default 0.2) and be off this
    /// long before it ends (default 0.5).
    pub min_on_s: Option<f64>,
    pub min_off_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub params: Params,
    pub lane_head: Option<String>,
    pub lane_class: String,
    pub ego_speed: Option<EgoSpeedSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EgoSpeedSpec {
    Constant(f64),
    /// Per stream (`{stream}` in the path).
    File(PathBuf),
}

impl Kind for Spec {
    const TYPE: &'static str = "adas";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let mut ok = true;
        if !cx.upstream.has(super::track::Spec::TYPE) {
            cx.diag.error(
                key.to_string(),
                "driver assistance follows vehicles over time: put a `type: track` stage before it",
            );
            ok = false;
        }
        let lane_class = cfg.lane_class.clone().unwrap_or_else(|| "lane".into());
        ok &= check_lane_head(&cfg, &lane_class, key, cx);
        ok &= check_labels(&cfg, key, cx);
        let camera = CameraSpec::check(&cfg.camera, &format!("{key}.camera"), cx.diag);
        ok &= camera.is_some();
        let mut num = |name: &str, v: Option<f64>, default: f64, lo: f64, hi: f64, what: &str| {
            let v = v.unwrap_or(default);
            ok &= cx.diag.in_range(format!("{key}.{name}"), v, lo, hi, what);
            v
        };
        let fcw_ttc_s = num("fcw_ttc_s", cfg.fcw_ttc_s, 2.5, 0.3, 10.0, "seconds");
        let fcw_critical_ttc_s = num(
            "fcw_critical_ttc_s",
            cfg.fcw_critical_ttc_s,
            1.5,
            0.1,
            10.0,
            "seconds",
        );
        let ldw_offset_m = num("ldw_offset_m", cfg.ldw_offset_m, 0.8, 0.1, 3.0, "metres");
        let ldw_min_rate_mps = num(
            "ldw_min_rate_mps",
            cfg.ldw_min_rate_mps,
            0.1,
            0.0,
            3.0,
            "metres a second",
        );
        let min_lane_confidence = num(
            "min_lane_confidence",
            cfg.min_lane_confidence,
            0.4,
            0.0,
            1.0,
            "a confidence",
        );
        let pedestrian_distance_m = num(
            "pedestrian_distance_m",
            cfg.pedestrian_distance_m,
            25.0,
            1.0,
            150.0,
            "metres",
        );
        let headway_s = num("headway_s", cfg.headway_s, 0.8, 0.1, 5.0, "seconds");
        let min_on_s = num("min_on_s", cfg.min_on_s, 0.2, 0.0, 5.0, "seconds");
        let min_off_s = num("min_off_s", cfg.min_off_s, 0.5, 0.0, 10.0, "seconds");
        if let Some(v) = cfg.ego_speed_mps
            && !(v.is_finite() && (0.0..=90.0).contains(&v))
        {
            cx.diag.error(
                format!("{key}.ego_speed_mps"),
                format!("{v} is not a speed; give metres a second, 0 to 90"),
            );
            ok = false;
        }
        if cfg.ego_speed_mps.is_some() && cfg.ego_speed_file.is_some() {
            cx.diag.error(
                format!("{key}.ego_speed_file"),
                "both ego_speed_mps and ego_speed_file are given; keep one",
            );
            ok = false;
        }
        if ok && fcw_critical_ttc_s > fcw_ttc_s {
            cx.diag.error(
                format!("{key}.fcw_critical_ttc_s"),
                format!("{fcw_critical_ttc_s} is above fcw_ttc_s {fcw_ttc_s}; a critical warning is the nearer one"),
            );
            ok = false;
        }
        let ego_speed = match (&cfg.ego_speed_mps, &cfg.ego_speed_file) {
            (Some(v), _) => Some(EgoSpeedSpec::Constant(*v)),
            (None, Some(f)) => {
                let path = resolve(cx.base, f);
                if !f.contains("{stream}") && !path.is_file() {
                    cx.diag.error(
                        format!("{key}.ego_speed_file"),
                        format!(
                            "{} does not exist; give a file of `t_s,speed_mps` lines",
                            path.display()
                        ),
                    );
                    ok = false;
                }
                Some(EgoSpeedSpec::File(path))
            }
            (None, None) => None,
        };
        let list = |v: &Option<Vec<String>>, d: &[&str]| {
            v.clone()
                .unwrap_or_else(|| d.iter().map(|s| s.to_string()).collect())
        };
        ok.then(|| Spec {
            params: Params {
                camera: camera.expect("checked"),
                vehicles: list(&cfg.vehicles, &DEFAULT_VEHICLES),
                vulnerable: list(&cfg.vulnerable, &DEFAULT_VULNERABLE),
                fcw_ttc_s,
                fcw_critical_ttc_s,
                ldw_offset_m,
                ldw_min_rate_mps,
                min_lane_confidence,
                pedestrian_distance_m,
                headway_s,
                min_on_s,
                min_off_s,
            },
            lane_head: cfg.lane_head,
            lane_class,
            ego_speed,
        })
    }
}

/// The lane head and class exist among the heads of the segment stages before, where those
/// are known from the file (a model whose heads are left out names them only when it loads).
fn check_lane_head(cfg: &Config, class: &str, key: &str, cx: &mut CompileCx) -> bool {
    let seg_models: Vec<&str> = cx.upstream.models_of(super::segment::Spec::TYPE).collect();
    if seg_models.is_empty() {
        cx.diag.warning(
            key.to_string(),
            "no `type: segment` stage before it: the ego lane stays unknown and lane departure never fires",
        );
        return true;
    }
    let Some(models) = cx.models else {
        return true;
    };
    let mut heads: Vec<(String, Option<Vec<String>>)> = vec![];
    for m in &seg_models {
        match models.get(*m).and_then(|s| s.heads.as_ref()) {
            Some(hs) => heads.extend(hs.iter().map(|h| (h.output.clone(), h.classes.clone()))),
            None => return true,
        }
    }
    let names = || {
        heads
            .iter()
            .map(|(h, c)| match c {
                Some(c) => format!("{h} [{}]", c.join(", ")),
                None => h.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let candidates: Vec<&(String, Option<Vec<String>>)> = match &cfg.lane_head {
        Some(h) => {
            let found: Vec<_> = heads.iter().filter(|(o, _)| o == h).collect();
            if found.is_empty() {
                cx.diag.error(
                    format!("{key}.lane_head"),
                    format!("no segmentation head `{h}`; the heads are: {}", names()),
                );
                return false;
            }
            found
        }
        None => heads.iter().collect(),
    };
    let has = candidates
        .iter()
        .any(|(_, c)| c.as_ref().is_none_or(|c| c.iter().any(|n| n == class)));
    if !has {
        cx.diag.error(
            format!("{key}.lane_class"),
            format!(
                "no segmentation head has a class `{class}`; set lane_class (and lane_head) to the lane-marking class of one of: {}",
                names()
            ),
        );
    }
    has
}

/// Vehicle and vulnerable labels are labels of a detector before, where its classes are known.
fn check_labels(cfg: &Config, key: &str, cx: &mut CompileCx) -> bool {
    let Some(known) = super::detect::labels_before(cx) else {
        return true;
    };
    let mut ok = true;
    for (name, list) in [("vehicles", &cfg.vehicles), ("vulnerable", &cfg.vulnerable)] {
        let Some(list) = list else { continue };
        if list.is_empty() {
            cx.diag.error(
                format!("{key}.{name}"),
                "is empty; list detector labels, or remove it for the defaults",
            );
            ok = false;
        }
        for (i, l) in list.iter().enumerate() {
            if !known.contains(l) {
                cx.diag.error(
                    format!("{key}.{name}[{i}]"),
                    format!(
                        "no detector before it has the label `{l}`; its labels are: {}",
                        known.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    ok
}

impl StageKind for Spec {
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn stage_names(&self) -> Vec<String> {
        vec![Self::TYPE.into()]
    }
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError> {
        let mut speeds = Vec::new();
        for s in cx.streams {
            let speed = match &self.ego_speed {
                None => None,
                Some(EgoSpeedSpec::Constant(v)) => Some(EgoSpeed::Constant(*v)),
                Some(EgoSpeedSpec::File(p)) => Some(
                    EgoSpeed::load(&super::path_for(p, s))
                        .map_err(|e| StageError::Other(format!("adas ego_speed_file: {e}")))?,
                ),
            };
            speeds.push((s.clone(), speed));
        }
        Ok(Built {
            stages: vec![Box::new(Adas::new(
                self.clone(),
                speeds,
                cx.metrics.clone(),
                cx.pipeline,
            ))],
            provider: None,
        })
    }
}

struct Series {
    warnings: [prometheus::IntCounter; 4],
    ttc: prometheus::Histogram,
    lane_confidence: prometheus::Gauge,
}

/// The running stage: one [`StreamAdas`] per stream.
pub struct Adas {
    spec: Spec,
    streams: Vec<(Arc<str>, StreamAdas, Option<EgoSpeed>)>,
    series: PerStream<Series>,
    /// Warned once: no head has the lane class.
    warned_no_lane: bool,
}

impl Adas {
    pub fn new(
        spec: Spec,
        speeds: Vec<(Arc<str>, Option<EgoSpeed>)>,
        metrics: Arc<Metrics>,
        pipeline: &str,
    ) -> Adas {
        let pipeline = pipeline.to_string();
        let streams = speeds
            .into_iter()
            .map(|(s, v)| (s, StreamAdas::new(&spec.params), v))
            .collect();
        Adas {
            spec,
            streams,
            series: PerStream::new(move |stream| {
                let l = [pipeline.as_str(), stream];
                Series {
                    warnings: WarningKind::ALL.map(|k| {
                        metrics.adas_warnings.with_label_values(&[
                            pipeline.as_str(),
                            stream,
                            k.name(),
                        ])
                    }),
                    ttc: metrics.adas_ttc.with_label_values(&l),
                    lane_confidence: metrics.adas_lane_confidence.with_label_values(&l),
                }
            }),
            warned_no_lane: false,
        }
    }

    /// The lane head's map and the lane class's index in it.
    fn lane_map<'a>(&mut self, frame: &'a Frame) -> Option<(&'a [u8], u8)> {
        let found = frame.segmentation.iter().find_map(|m| {
            if self
                .spec
                .lane_head
                .as_ref()
                .is_some_and(|h| **h != *m.style.name)
            {
                return None;
            }
            let class = m
                .style
                .classes
                .iter()
                .position(|c| **c == *self.spec.lane_class)?;
            let len = frame.width as usize * frame.height as usize;
            (m.map.len() == len).then(|| (&m.map[..], class as u8))
        });
        if found.is_none() && !frame.segmentation.is_empty() && !self.warned_no_lane {
            self.warned_no_lane = true;
            tracing::warn!(
                "adas: no segmentation head{} has a class `{}` (heads: {}); the lane stays unknown — set lane_class / lane_head",
                self.spec
                    .lane_head
                    .as_ref()
                    .map(|h| format!(" `{h}`"))
                    .unwrap_or_default(),
                self.spec.lane_class,
                frame
                    .segmentation
                    .iter()
                    .map(|m| format!(
                        "{} [{}]",
                        m.style.name,
                        m.style
                            .classes
                            .iter()
                            .map(|c| &**c)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        found
    }
}

impl Stage for Adas {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let t = frame.time_s();
        let i = match self.streams.iter().position(|s| s.0 == frame.stream) {
            Some(i) => i,
            None => {
                self.streams.push((
                    frame.stream.clone(),
                    StreamAdas::new(&self.spec.params),
                    None,
                ));
                self.streams.len() - 1
            }
        };
        let lane_map = self.lane_map(&frame);
        let (stream, state, speed) = &mut self.streams[i];
        let inputs = Inputs {
            t,
            width: frame.width,
            height: frame.height,
            lane_map,
            detections: &frame.detections,
            ego_speed: speed.as_ref().and_then(|s| s.at(t)),
        };
        let out = state.update(&self.spec.params, stream, &inputs);
        let series = self.series.get(&frame.stream);
        for e in out.events.iter().filter(|e| e.edge == "start") {
            let k = WarningKind::ALL
                .iter()
                .position(|k| *k == e.kind)
                .expect("every kind listed");
            series.warnings[k].inc();
        }
        if let Some(ttc) = out.lead.as_ref().and_then(|l| l.ttc_s) {
            series.ttc.observe(ttc);
        }
        series
            .lane_confidence
            .set(out.lane.map_or(0.0, |l| l.confidence));
        frame.adas = Some(Box::new(out));
        Ok(Some(frame))
    }
}

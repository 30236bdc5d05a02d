//! What every stage and sink kind implements, and the kinds that are stages.
//!
//! A kind is one module: its config struct as written in the pipeline file (serde,
//! `deny_unknown_fields`), its checked spec (`compile` turns the first into the second and
//! reports every problem with its key), and `build`, which makes the running [`Stage`]s (one
//! thread each). The one list of kinds is [`crate::kinds`]; config compilation and graph
//! wiring take every kind from there.
//!
//! - Model stages (`detect`, `segment`) run as parallel branches, each a preprocessing stage and
//!   an inference stage; a join puts their results back on the frame.
//! - Serial stages (`track`, `adas`, `analytics`) run after the join, in the file's order.
//! - Sinks (in [`crate::sink`]) run last, in a fixed order ([`SinkKind::rank`]).

pub mod adas;
pub mod analytics;
pub mod detect;
pub mod preprocess;
pub mod segment;
pub mod track;

use crate::config::diag::Diagnostics;
use crate::config::spec::{ModelSpec, OrtLibrary, SupportPriority};
use crate::model::ModelError;
use crate::model::preprocess::PreprocessError;
use crate::sink::SinkError;
use crate::telemetry::Metrics;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Other(String),
}

/// A running stage: owns its state, works on one frame at a time on its own thread.
pub trait Stage: Send {
    fn name(&self) -> &str;
    /// Inference keeps normal priority; every other stage yields to it.
    fn is_inference(&self) -> bool {
        false
    }
    /// Works on one frame; returns it for the next stage, or `None` when the stage consumed it.
    fn process(
        &mut self,
        frame: crate::frame::Frame,
    ) -> Result<Option<crate::frame::Frame>, StageError>;
    /// Frames this stage takes per call and how long the first of them waits for the others;
    /// `None` (the default): one at a time.
    fn batching(&self) -> Option<(usize, Duration)> {
        None
    }
    /// Works on the frames of one batch, in order, moving them to `out` (only called when
    /// `batching` says so).
    fn process_batch(
        &mut self,
        frames: &mut Vec<crate::frame::Frame>,
        out: &mut Vec<crate::frame::Frame>,
    ) -> Result<(), StageError> {
        for f in frames.drain(..) {
            if let Some(f) = self.process(f)? {
                out.push(f);
            }
        }
        Ok(())
    }
    /// After the last frame: flush and finalise.
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}

/// A kind as the pipeline file names it: its `type:`, its config as written, and the check
/// that turns the config into the kind's spec.
pub trait Kind: Sized {
    /// The `type:` key.
    const TYPE: &'static str;
    /// The mapping as written (without `type:`), with `#[serde(deny_unknown_fields)]`.
    type Config: DeserializeOwned;
    /// Checks the config; every problem goes to `cx.diag` under `key` (`stages[2]`), and
    /// `None` means there was at least one.
    fn compile(cfg: Self::Config, key: &str, cx: &mut CompileCx) -> Option<Self>;
}

/// What a kind's check may look at besides its own config.
pub struct CompileCx<'a> {
    pub diag: &'a mut Diagnostics,
    /// The pipeline file's folder: relative paths resolve against it.
    pub base: &'a Path,
    /// The checked models (`None`: the `models` section had errors, so references to models
    /// cannot be checked).
    pub models: Option<&'a BTreeMap<String, ModelSpec>>,
    /// The stages before this one.
    pub upstream: &'a Upstream,
    /// The stream ids (`None`: the `sources` section had errors).
    pub streams: Option<&'a [String]>,
}

/// What the stages before a kind provide, for the checks that need an upstream stage.
#[derive(Debug, Clone, Default)]
pub struct Upstream {
    /// Per stage so far: its `type:` and its model, if it runs one.
    pub stages: Vec<(&'static str, Option<String>)>,
}

impl Upstream {
    pub fn has(&self, kind: &str) -> bool {
        self.stages.iter().any(|(k, _)| *k == kind)
    }

    /// The models run by stages of `kind` so far.
    pub fn models_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> {
        self.stages
            .iter()
            .filter(move |(k, _)| *k == kind)
            .filter_map(|(_, m)| m.as_deref())
    }
}

/// What building a kind's running stages may use.
pub struct BuildCx<'a> {
    pub pipeline: &'a str,
    /// The stream ids, in the file's order.
    pub streams: &'a [Arc<str>],
    pub metrics: &'a Arc<Metrics>,
    pub priority: SupportPriority,
    pub models: &'a BTreeMap<String, ModelSpec>,
    pub ort_library: &'a OrtLibrary,
    pub cuda_libraries: &'a [PathBuf],
}

impl BuildCx<'_> {
    /// Each stream's file for a per-stream `path` (`{stream}` replaced by the stream id).
    pub fn per_stream(&self, path: &Path) -> Vec<(Arc<str>, PathBuf)> {
        self.streams
            .iter()
            .map(|s| (s.clone(), path_for(path, s)))
            .collect()
    }
}

/// `path` with `{stream}` replaced by the stream id.
pub fn path_for(path: &Path, stream: &str) -> PathBuf {
    PathBuf::from(path.to_string_lossy().replace("{stream}", stream))
}

/// The running stages of one stage kind, and the execution provider of its model if it runs one.
pub struct Built {
    pub stages: Vec<Box<dyn Stage>>,
    pub provider: Option<(String, &'static str)>,
}

/// A checked stage, whatever its kind.
pub trait StageKind: std::fmt::Debug + Send + Sync {
    /// The `type:` key.
    fn kind(&self) -> &'static str;
    /// The model a model stage runs (it then runs as a parallel branch before the join);
    /// `None` for a serial stage.
    fn model(&self) -> Option<&str> {
        None
    }
    /// The names of the running stages it makes, as in metric labels and `edges.into`.
    fn stage_names(&self) -> Vec<String>;
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError>;
}

/// A checked sink, whatever its kind.
pub trait SinkKind: std::fmt::Debug + Send + Sync {
    /// The `type:` key, also its stage name.
    fn kind(&self) -> &'static str;
    /// Where it writes (for messages, and so that no two sinks share a file).
    fn path(&self) -> &Path;
    /// Frames visit the sinks in rank order; a sink that consumes the frame ranks last.
    fn rank(&self) -> u8;
    /// It writes one file per stream (and needs `{stream}` in its path with several).
    fn per_stream(&self) -> bool {
        false
    }
    /// It writes a file (not a folder, not a network service).
    fn writes_file(&self) -> bool {
        true
    }
    /// It sends its results to a network service (a broker), not to a file.
    fn publishes(&self) -> bool {
        false
    }
    /// It serves a live network stream: replays leave it out.
    fn live_only(&self) -> bool {
        false
    }
    /// Replay: moves its outputs into a drive's folder.
    fn relocate(&mut self, into: &dyn Fn(&Path) -> PathBuf);
    /// Whether a run in which `frames` frames reached it left an output behind.
    fn wrote_output(&self, _frames: u64) -> bool {
        true
    }
    /// `perceptd check --deep`: what it needs at run time is there.
    fn deep_check(&self) -> Result<(), String> {
        Ok(())
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError>;
}

/// The output of a per-stream stage for a frame's stream.
pub fn of_stream<'a, T>(
    outs: &'a mut [(Arc<str>, T)],
    stream: &Arc<str>,
) -> Result<&'a mut T, StageError> {
    outs.iter_mut()
        .find(|(s, _)| s == stream)
        .map(|(_, t)| t)
        .ok_or_else(|| StageError::Other(format!("no output for stream {stream}")))
}

/// Checks a `trail_s`: seconds, 0 or more.
pub fn trail_ok(trail_s: Option<f64>, key: &str, diag: &mut Diagnostics) -> bool {
    match trail_s {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            diag.error(
                format!("{key}.trail_s"),
                format!("{t} is not a time; give seconds, 0 or more (0: no trails)"),
            );
            false
        }
        _ => true,
    }
}

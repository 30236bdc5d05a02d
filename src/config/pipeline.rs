//! The checked pipeline as a whole: its sources, models, stages and sinks.

use super::spec::{EdgesSpec, ModelSpec, OrtLibrary, SourceSpec, SupportPriority};
use crate::kinds::{SinkSpec, StageSpec};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub name: String,
    pub ort_library: OrtLibrary,
    pub metrics_addr: Option<SocketAddr>,
    /// Scheduling of the threads that are not inference.
    pub support_priority: SupportPriority,
    /// Folders of CUDA / cuDNN / TensorRT libraries to load before sessions are made.
    pub cuda_libraries: Vec<PathBuf>,
    /// One or more streams; frames of all of them share the stages.
    pub sources: Vec<SourceSpec>,
    pub models: BTreeMap<String, ModelSpec>,
    /// Model stages (parallel branches) first, then serial stages in the file's order.
    pub stages: Vec<StageSpec>,
    pub sinks: Vec<SinkSpec>,
    pub edges: EdgesSpec,
}

impl PipelineSpec {
    /// The model stages: each runs as a branch of its own before the join.
    pub fn model_stages(&self) -> impl Iterator<Item = &StageSpec> {
        self.stages.iter().filter(|s| s.get().model().is_some())
    }

    /// The serial stages after the join, in the file's order.
    pub fn serial_stages(&self) -> impl Iterator<Item = &StageSpec> {
        self.stages.iter().filter(|s| s.get().model().is_none())
    }

    /// Whether a stage of `kind` (its `type:`) runs.
    pub fn has_stage(&self, kind: &str) -> bool {
        self.stages.iter().any(|s| s.get().kind() == kind)
    }

    /// The stage names after the source, in order (as in metric labels and edge names).
    pub fn stage_names(&self) -> Vec<String> {
        let mut names = vec![];
        for s in self.model_stages() {
            names.extend(s.get().stage_names());
        }
        // Several models run as parallel branches, joined before the sinks.
        if self.model_stages().count() > 1 {
            names.push("join".into());
        }
        for s in self.serial_stages() {
            names.extend(s.get().stage_names());
        }
        names.extend(self.sinks_in_order().map(|s| s.get().kind().to_string()));
        names
    }

    /// The sinks in the order frames visit them: the video sink, which consumes the frame,
    /// last.
    pub fn sinks_in_order(&self) -> impl Iterator<Item = &SinkSpec> {
        let mut sinks: Vec<&SinkSpec> = self.sinks.iter().collect();
        sinks.sort_by_key(|s| s.get().rank());
        sinks.into_iter()
    }
}

//! `type: detect`: a detector model on every frame, as a branch of two stages: preprocessing,
//! then inference and decoding (boxes in source pixels on the frame).

use super::preprocess::{Preprocess, check_model, init_runtime, take_input};
use super::{BuildCx, Built, CompileCx, Kind, Stage, StageError, StageKind};
use crate::frame::{Frame, ModelInput};
use crate::model::Detector;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The model's key under `models`.
    pub model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub model: String,
}

impl Kind for Spec {
    const TYPE: &'static str = "detect";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        check_model(&cfg.model, false, key, cx).then_some(Spec { model: cfg.model })
    }
}

impl StageKind for Spec {
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }
    fn stage_names(&self) -> Vec<String> {
        vec![
            format!("preprocess:{}", self.model),
            format!("detect:{}", self.model),
        ]
    }
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError> {
        init_runtime(cx)?;
        let mspec = &cx.models[&self.model];
        let det = Detector::load(mspec, Some(cx.metrics))?;
        let provider = crate::model::session::provider_name(det.provider);
        Ok(Built {
            stages: vec![
                Box::new(Preprocess::new(&self.model, det.input.clone())),
                Box::new(Detect::new(&self.model, det, mspec.max_batch_wait)),
            ],
            provider: Some((self.model.clone(), provider)),
        })
    }
}

pub struct Detect {
    name: String,
    det: Detector,
    max_wait: Duration,
    /// The inputs of the batch being run (reused).
    inputs: Vec<ModelInput>,
}

impl Detect {
    pub fn new(model: &str, det: Detector, max_wait: Duration) -> Detect {
        Detect {
            name: format!("detect:{model}"),
            inputs: Vec::with_capacity(det.max_batch),
            det,
            max_wait,
        }
    }
}

impl Stage for Detect {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_inference(&self) -> bool {
        true
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let input = take_input(&mut frame, "detection")?;
        self.det
            .infer(&input.tensor, &input.geometry, &mut frame.detections)?;
        Ok(Some(frame))
    }
    fn batching(&self) -> Option<(usize, Duration)> {
        (self.det.max_batch > 1).then_some((self.det.max_batch, self.max_wait))
    }
    fn process_batch(
        &mut self,
        frames: &mut Vec<Frame>,
        out: &mut Vec<Frame>,
    ) -> Result<(), StageError> {
        self.inputs.clear();
        for f in frames.iter_mut() {
            self.inputs.push(take_input(f, "detection")?);
        }
        let r = self
            .det
            .infer_batch(&self.inputs, |i, d| frames[i].detections.push(d));
        // The tensors go back to the preprocessing pool.
        self.inputs.clear();
        r?;
        out.append(frames);
        Ok(())
    }
}

/// The labels of the detectors before a kind, when every one of them names its classes in the
/// file (`None`: unknown until the models load, or no detector).
pub fn labels_before(cx: &CompileCx) -> Option<Vec<String>> {
    let models = cx.models?;
    let mut known = vec![];
    for m in cx.upstream.models_of(Spec::TYPE) {
        known.extend(models.get(m)?.classes.clone()?);
    }
    (!known.is_empty()).then_some(known)
}

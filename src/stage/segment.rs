//! `type: segment`: a dense segmentation model on every frame, as a branch of two stages:
//! preprocessing, then inference; each head's class map (at the frame's resolution, in a
//! pooled buffer) and class fractions join the frame.

use super::preprocess::{Preprocess, check_model, init_runtime, take_input};
use super::{BuildCx, Built, CompileCx, Kind, Stage, StageError, StageKind};
use crate::frame::{Frame, HeadStyle, SegMap};
use crate::pool::{Pool, Pooled};
use crate::segment::{Segmenter, fractions};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The model's key under `models` (of `format: segmentation`).
    pub model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub model: String,
}

impl Kind for Spec {
    const TYPE: &'static str = "segment";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        check_model(&cfg.model, true, key, cx).then_some(Spec { model: cfg.model })
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
            format!("segment:{}", self.model),
        ]
    }
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError> {
        init_runtime(cx)?;
        let seg = Segmenter::load(&cx.models[&self.model], Some(cx.metrics))?;
        let provider = crate::model::session::provider_name(seg.provider);
        Ok(Built {
            stages: vec![
                Box::new(Preprocess::new(&self.model, seg.input.clone())),
                Box::new(Segment::new(&self.model, seg)),
            ],
            provider: Some((self.model.clone(), provider)),
        })
    }
}

pub struct Segment {
    name: String,
    seg: Segmenter,
    styles: Vec<Arc<HeadStyle>>,
    maps: Pool<Vec<u8>>,
    /// The maps of the frame being worked on (reused).
    scratch: Vec<Pooled<Vec<u8>>>,
}

impl Segment {
    pub fn new(model: &str, seg: Segmenter) -> Segment {
        Segment {
            name: format!("segment:{model}"),
            styles: seg.styles(),
            seg,
            maps: Pool::default(),
            scratch: vec![],
        }
    }
}

impl Stage for Segment {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_inference(&self) -> bool {
        true
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let input = take_input(&mut frame, "segmentation")?;
        self.scratch.clear();
        for _ in 0..self.styles.len() {
            self.scratch.push(self.maps.take(Vec::new));
        }
        self.seg
            .infer(&input.tensor, &input.geometry, &mut self.scratch)?;
        for (style, map) in self.styles.iter().zip(self.scratch.drain(..)) {
            let mut f = Vec::with_capacity(style.classes.len());
            fractions(&map, style.classes.len(), &mut f);
            frame.segmentation.push(SegMap {
                style: style.clone(),
                map,
                fractions: f,
            });
        }
        Ok(Some(frame))
    }
}

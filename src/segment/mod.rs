//! Dense segmentation: a fully convolutional model's per-pixel outputs ("heads"), each brought
//! back to the source frame's resolution as a class per pixel, counted, and drawn.

pub mod upsample;

pub use crate::frame::segmap::{HeadStyle, SegMap};
pub use upsample::{Upsample, Upsampler, fractions};

use crate::config::{HeadSpec, ModelSpec, Provider};
use crate::model::ModelError;
use crate::model::detector::{
    ModelInputInfo, OpenModel, describe_outlets, input_shape, open_model, run_error, run_session,
};
use crate::model::preprocess::{Geometry, InputSpec};
use crate::telemetry::Metrics;
use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use std::sync::Arc;

/// What a head's output holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum HeadKind {
    /// `[1, C, h, w]` f32 scores per class.
    Logits { classes: usize },
    /// `[1, h, w]` or `[1, 1, h, w]` class indices (argmax in the graph), f32 or integer.
    ClassMap { int64: bool },
}

struct Head {
    style: Arc<HeadStyle>,
    output: usize,
    kind: HeadKind,
    ups: Upsampler,
}

/// Palette for classes without a configured colour (RGB); class 0 is left unpainted.
const PALETTE: [[u8; 3]; 8] = [
    [0, 200, 0],
    [255, 60, 60],
    [60, 120, 255],
    [255, 200, 0],
    [200, 0, 255],
    [0, 220, 220],
    [255, 128, 0],
    [160, 160, 160],
];

pub struct Segmenter {
    pub name: String,
    session: Session,
    input_name: String,
    batch_axis: bool,
    pub input: InputSpec,
    heads: Vec<Head>,
    pub upsample: Upsample,
    pub provider: Provider,
}

impl Segmenter {
    pub fn load(spec: &ModelSpec, metrics: Option<&Metrics>) -> Result<Segmenter, ModelError> {
        let OpenModel {
            session,
            provider,
            input:
                ModelInputInfo {
                    name: input_name,
                    batch_dim,
                    spec: input,
                },
            ..
        } = open_model(spec, metrics)?;
        let outlets = describe_outlets(session.outputs());
        let layout_err = |reason: String| ModelError::Layout {
            model: spec.name.clone(),
            format: "segmentation",
            reason,
            outputs: outlets.clone(),
            path: spec.path.display().to_string(),
        };
        // Every output is a head unless the config lists them.
        let outputs: Vec<(String, TensorElementType, Vec<i64>)> = session
            .outputs()
            .iter()
            .filter_map(|o| match o.dtype() {
                ValueType::Tensor { ty, shape, .. } => {
                    Some((o.name().to_string(), *ty, shape.to_vec()))
                }
                _ => None,
            })
            .collect();
        let wanted: Vec<HeadSpec> = match &spec.heads {
            Some(h) => h.clone(),
            None => outputs
                .iter()
                .map(|(n, ..)| HeadSpec {
                    output: n.clone(),
                    classes: None,
                    colors: None,
                    alpha: None,
                })
                .collect(),
        };
        let mut heads = vec![];
        for h in &wanted {
            let Some(index) = outputs.iter().position(|(n, ..)| *n == h.output) else {
                return Err(layout_err(format!(
                    "heads: no output named `{}`; the model's outputs are {}",
                    h.output,
                    outputs
                        .iter()
                        .map(|(n, ..)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let (_, ty, shape) = &outputs[index];
            let kind = match (ty, &shape[..]) {
                (TensorElementType::Float32, [_, c, _, _]) if *c > 1 => HeadKind::Logits {
                    classes: *c as usize,
                },
                (TensorElementType::Float32, [_, 1, _, _] | [_, _, _]) => {
                    HeadKind::ClassMap { int64: false }
                }
                (TensorElementType::Int64, [_, 1, _, _] | [_, _, _]) => {
                    HeadKind::ClassMap { int64: true }
                }
                _ => {
                    return Err(layout_err(format!(
                        "output `{}` is {ty:?} {shape:?}; a segmentation head is f32 logits [1, C, h, w] or a class map [1, h, w] / [1, 1, h, w] (f32 or int64)",
                        h.output
                    )));
                }
            };
            let n = match kind {
                HeadKind::Logits { classes } => classes,
                HeadKind::ClassMap { .. } => h.classes.as_ref().map_or(2, Vec::len),
            };
            if n > 255 {
                return Err(layout_err(format!(
                    "output `{}` has {n} classes; perceptd keeps class maps as bytes (at most 255 classes)",
                    h.output
                )));
            }
            let classes: Vec<Arc<str>> = match &h.classes {
                Some(c) if c.len() != n => {
                    return Err(ModelError::Classes {
                        model: spec.name.clone(),
                        reason: format!(
                            "head `{}` has {n} classes but {} names are given; give {n}",
                            h.output,
                            c.len()
                        ),
                    });
                }
                Some(c) => c.iter().map(|s| Arc::from(s.as_str())).collect(),
                None => (0..n).map(|i| Arc::from(format!("class{i}"))).collect(),
            };
            let colors = match &h.colors {
                Some(c) => c.clone(),
                None => (0..n)
                    .map(|i| (i > 0).then(|| PALETTE[(heads.len() + i - 1) % PALETTE.len()]))
                    .collect(),
            };
            heads.push(Head {
                style: Arc::new(HeadStyle {
                    name: Arc::from(h.output.as_str()),
                    classes,
                    colors,
                    alpha: h.alpha.unwrap_or(0.45),
                }),
                output: index,
                kind,
                ups: Upsampler::default(),
            });
        }
        if heads.is_empty() {
            return Err(layout_err("the model has no output to read".into()));
        }
        if batch_dim.is_some_and(|b| b > 1) {
            return Err(ModelError::Input {
                model: spec.name.clone(),
                reason: format!(
                    "fixed batch of {}; export with batch 1",
                    batch_dim.unwrap_or(0)
                ),
            });
        }
        let mut s = Segmenter {
            name: spec.name.clone(),
            session,
            input_name,
            batch_axis: batch_dim.is_some(),
            input,
            heads,
            upsample: spec.upsample,
            provider,
        };
        s.warm_up()?;
        Ok(s)
    }

    pub fn styles(&self) -> Vec<Arc<HeadStyle>> {
        self.heads.iter().map(|h| h.style.clone()).collect()
    }

    fn warm_up(&mut self) -> Result<(), ModelError> {
        let g = self.input.probe_geometry();
        let zeros = vec![0f32; 3 * (g.dst_w * g.dst_h) as usize];
        let mut maps: Vec<Vec<u8>> = vec![vec![]; self.heads.len()];
        self.infer(&zeros, &g, &mut maps)
    }

    /// Runs the session only, at the input size (for `bench`'s raw throughput).
    pub fn run_raw(&mut self, tensor: &[f32]) -> Result<(), ModelError> {
        let g = self.input.probe_geometry();
        let shape = input_shape(self.batch_axis, 1, g.dst_w, g.dst_h);
        run_session(
            &mut self.session,
            &self.input_name,
            shape,
            tensor,
            &self.name,
        )?;
        Ok(())
    }

    /// Runs the model on one image; `maps[i]` receives head `i`'s class per source pixel
    /// (`g.src_w * g.src_h`, row-major), resized in place.
    pub fn infer<M: AsMut<Vec<u8>>>(
        &mut self,
        tensor: &[f32],
        g: &Geometry,
        maps: &mut [M],
    ) -> Result<(), ModelError> {
        assert_eq!(maps.len(), self.heads.len(), "one map per head");
        let shape = input_shape(self.batch_axis, 1, g.dst_w, g.dst_h);
        let outputs = run_session(
            &mut self.session,
            &self.input_name,
            shape,
            tensor,
            &self.name,
        )?;
        for (head, map) in self.heads.iter_mut().zip(maps.iter_mut()) {
            let map = map.as_mut();
            let value = &outputs[head.output];
            match head.kind {
                HeadKind::Logits { classes } => {
                    let (s, d) = value
                        .try_extract_tensor::<f32>()
                        .map_err(|e| run_error(&self.name, e))?;
                    let (oh, ow) = (s[s.len() - 2] as usize, s[s.len() - 1] as usize);
                    head.ups.logits(d, [classes, oh, ow], g, self.upsample, map);
                }
                HeadKind::ClassMap { int64 } => {
                    if int64 {
                        let (s, d) = value
                            .try_extract_tensor::<i64>()
                            .map_err(|e| run_error(&self.name, e))?;
                        let (oh, ow) = (s[s.len() - 2] as u32, s[s.len() - 1] as u32);
                        head.ups.classes(d, ow, oh, g, map);
                    } else {
                        let (s, d) = value
                            .try_extract_tensor::<f32>()
                            .map_err(|e| run_error(&self.name, e))?;
                        let (oh, ow) = (s[s.len() - 2] as u32, s[s.len() - 1] as u32);
                        head.ups.classes(d, ow, oh, g, map);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Paints every coloured class of `map` onto a packed BGR `image` of the same size, with the
/// head's opacity: `out = img * (1 - alpha) + colour * alpha`, in 8-bit fixed point.
pub fn blend(image: &mut [u8], map: &[u8], style: &HeadStyle) {
    debug_assert_eq!(image.len(), map.len() * 3);
    let a = (style.alpha.clamp(0.0, 1.0) * 256.0).round() as u32;
    // Per class: what is kept of the pixel and the colour's share (BGR), both out of 256; an
    // unpainted class keeps all of it and is skipped.
    let mut keep = [256u32; 256];
    let mut add = [[128u32; 3]; 256];
    for (i, c) in style.colors.iter().enumerate().take(256) {
        if let Some([r, g, b]) = *c {
            keep[i] = 256 - a;
            add[i] = [b as u32 * a + 128, g as u32 * a + 128, r as u32 * a + 128];
        }
    }
    for (px, &c) in image.chunks_exact_mut(3).zip(map) {
        let (k, col) = (keep[c as usize], add[c as usize]);
        if k == 256 {
            continue;
        }
        px[0] = ((px[0] as u32 * k + col[0]) >> 8) as u8;
        px[1] = ((px[1] as u32 * k + col[1]) >> 8) as u8;
        px[2] = ((px[2] as u32 * k + col[2]) >> 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_paints_coloured_classes_only() {
        let style = HeadStyle {
            name: "h".into(),
            classes: vec!["bg".into(), "road".into()],
            colors: vec![None, Some([0, 200, 100])],
            alpha: 0.5,
        };
        // Two BGR pixels of (10, 20, 30): class 0 stays, class 1 goes halfway to the colour.
        let mut img = vec![10u8, 20, 30, 10, 20, 30];
        blend(&mut img, &[0, 1], &style);
        assert_eq!(&img[..3], &[10, 20, 30]);
        assert_eq!(
            &img[3..],
            &[55, 110, 15],
            "BGR of halfway to RGB (0, 200, 100)"
        );
    }
}

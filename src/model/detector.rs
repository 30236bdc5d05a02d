//! A detector: one ONNX Runtime session, its input spec, its output layout, its class names.
//! Owned by one inference stage thread (`Session::run` takes `&mut self`).

use super::layout::{Layout, LayoutMismatch};
use super::metadata::ModelMeta;
use super::nms::{Candidate, nms};
use super::preprocess::{Geometry, InputSpec};
use super::session::{self, RuntimeError, SessionOptions};
use crate::config::{ColorOrder, DetectFormat, ModelSpec, Provider, ResizeMode};
use crate::frame::Detection;
use crate::telemetry::Metrics;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(
        "model {model}: output does not fit `format: {format}`: {reason}.\n  outputs found: {outputs}\n  fix: set `format` to the layout the model was exported with (perceptd models inspect {path} suggests one), or set `classes` to the model's class names"
    )]
    Layout {
        model: String,
        format: &'static str,
        reason: String,
        outputs: String,
        path: String,
    },
    #[error("model {model}: input: {reason}")]
    Input { model: String, reason: String },
    #[error("model {model}: classes: {reason}")]
    Classes { model: String, reason: String },
    #[error("model {model}: keep_classes: {reason}")]
    KeepClasses { model: String, reason: String },
    #[error("model {model}: inference failed: {reason}")]
    Run { model: String, reason: String },
}

impl ModelError {
    /// The pipeline-file key the error is about, under `models.<name>`.
    pub fn key_suffix(&self) -> &'static str {
        match self {
            ModelError::Runtime(RuntimeError::Library { .. }) => "",
            ModelError::Runtime(RuntimeError::NoProvider { .. }) => "providers",
            ModelError::Runtime(_) => "path",
            ModelError::Layout { .. } => "format",
            ModelError::Input { .. } => "input",
            ModelError::Classes { .. } => "classes",
            ModelError::KeepClasses { .. } => "keep_classes",
            ModelError::Run { .. } => "path",
        }
    }
}

pub fn format_name(f: DetectFormat) -> &'static str {
    match f {
        DetectFormat::Yolov8 => "yolov8",
        DetectFormat::Fastestdet => "fastestdet",
        DetectFormat::Yolov5 => "yolov5",
        DetectFormat::YoloEnd2end => "yolo_end2end",
    }
}

/// Shapes of a session's outputs, for messages.
pub fn describe_outlets(outlets: &[ort::value::Outlet]) -> String {
    outlets
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                format!("{} {:?} {:?}", o.name(), ty, &shape[..])
            }
            other => format!("{} {other:?}", o.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn read_meta(session: &Session) -> ModelMeta {
    let mut raw = std::collections::HashMap::new();
    if let Ok(md) = session.metadata()
        && let Ok(keys) = md.custom_keys()
    {
        for k in keys {
            if let Some(v) = md.custom(&k) {
                raw.insert(k, v);
            }
        }
    }
    ModelMeta::from_map(raw)
}

pub struct Detector {
    pub name: String,
    session: Session,
    input_name: String,
    pub input: InputSpec,
    pub labels: Vec<Arc<str>>,
    /// Everything after `Session::run`: layout, thresholds, NMS.
    pub post: Postprocess,
    pub provider: Provider,
    cands: Vec<Candidate>,
}

impl Detector {
    /// Loads the session, checks input and output against the declared format, warms up.
    pub fn load(spec: &ModelSpec, metrics: Option<&Metrics>) -> Result<Detector, ModelError> {
        let opts = SessionOptions {
            model: spec.name.clone(),
            providers: spec.providers.clone(),
            device_id: spec.device_id,
            threads: spec.threads,
        };
        let (session, provider) = session::build(&spec.path, &opts, metrics)?;
        let meta = read_meta(&session);
        let model = spec.name.clone();

        // Input: one f32 image tensor [1, 3, H, W].
        let inp = session.inputs().first().ok_or_else(|| ModelError::Input {
            model: model.clone(),
            reason: "the model has no input".into(),
        })?;
        let input_name = inp.name().to_string();
        let (ty, shape) = match inp.dtype() {
            ValueType::Tensor { ty, shape, .. } => (*ty, shape.to_vec()),
            other => {
                return Err(ModelError::Input {
                    model,
                    reason: format!("input {input_name} is {other:?}, not a tensor"),
                });
            }
        };
        if ty != TensorElementType::Float32
            || shape.len() != 4
            || !(shape[1] == 3 || shape[1] == -1)
        {
            return Err(ModelError::Input {
                model,
                reason: format!(
                    "input {input_name} is {ty:?} {shape:?}; perceptd feeds f32 [1, 3, H, W] images"
                ),
            });
        }
        let fixed = |d: i64| (d > 0).then_some(d as u32);
        let (mh, mw) = (fixed(shape[2]), fixed(shape[3]));
        let pick = |cfg: Option<u32>,
                    model_dim: Option<u32>,
                    meta_dim: Option<u32>,
                    axis: &str|
         -> Result<u32, ModelError> {
            match (cfg, model_dim) {
                (Some(c), Some(m)) if c != m => Err(ModelError::Input {
                    model: spec.name.clone(),
                    reason: format!("input.{axis} is {c} but the model's input is fixed at {m}; remove input.{axis} or set it to {m}"),
                }),
                (Some(c), _) => Ok(c),
                (None, Some(m)) => Ok(m),
                (None, None) => meta_dim.ok_or_else(|| ModelError::Input {
                    model: spec.name.clone(),
                    reason: format!("the model's input {axis} is dynamic and its metadata has no imgsz; set input.{axis}"),
                }),
            }
        };
        let height = pick(spec.input.height, mh, meta.imgsz.map(|s| s[0]), "height")?;
        let width = pick(spec.input.width, mw, meta.imgsz.map(|s| s[1]), "width")?;
        // A dynamic input must be a multiple of the model's stride (Ultralytics writes it).
        if let Some(stride) = meta.stride.filter(|s| *s > 0)
            && (mh.is_none() || mw.is_none())
            && (width % stride != 0 || height % stride != 0)
        {
            return Err(ModelError::Input {
                model,
                reason: format!(
                    "{width}x{height} is not a multiple of the model's stride {stride} (from its metadata); set input.width and input.height to multiples of {stride}"
                ),
            });
        }
        let (resize, color) = match spec.format {
            DetectFormat::Yolov8 | DetectFormat::Yolov5 | DetectFormat::YoloEnd2end => {
                (ResizeMode::Letterbox, ColorOrder::Rgb)
            }
            DetectFormat::Fastestdet => (ResizeMode::Stretch, ColorOrder::Bgr),
        };
        let input = InputSpec {
            width,
            height,
            resize: spec.input.resize.unwrap_or(resize),
            pad_value: spec.input.pad_value.unwrap_or(114),
            color: spec.input.color.unwrap_or(color),
            scale: spec.input.scale.unwrap_or(1.0 / 255.0),
            mean: spec.input.mean.unwrap_or([0.0; 3]),
            std: spec.input.std.unwrap_or([1.0; 3]),
        };

        // Output layout.
        let names = spec.classes.clone().or(meta.names.clone());
        let layout_err = |reason: String| ModelError::Layout {
            model: spec.name.clone(),
            format: format_name(spec.format),
            reason,
            outputs: describe_outlets(session.outputs()),
            path: spec.path.display().to_string(),
        };
        let out0 = session
            .outputs()
            .first()
            .ok_or_else(|| layout_err("the model has no output".into()))?;
        let out_shape = match out0.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } => shape.to_vec(),
            other => {
                return Err(layout_err(format!(
                    "output {} is {other:?}, not an f32 tensor",
                    out0.name()
                )));
            }
        };
        let layout = Layout::resolve(spec.format, 0, &out_shape, names.as_ref().map(Vec::len))
            .map_err(|LayoutMismatch(m)| layout_err(m))?;
        let labels: Vec<Arc<str>> = (0..layout.num_classes)
            .map(|i| {
                names
                    .as_ref()
                    .and_then(|n| n.get(i))
                    .map_or_else(|| format!("class{i}"), Clone::clone)
                    .into()
            })
            .collect();
        let keep = match &spec.keep_classes {
            None => None,
            Some(wanted) => {
                let unknown: Vec<_> = wanted
                    .iter()
                    .filter(|w| !labels.iter().any(|l| &**l == w.as_str()))
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    return Err(ModelError::KeepClasses {
                        model: spec.name.clone(),
                        reason: format!(
                            "keep_classes names {unknown:?}, which the model does not have; its classes are {}",
                            labels.iter().map(|l| &**l).collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                Some(
                    labels
                        .iter()
                        .map(|l| wanted.iter().any(|w| w.as_str() == &**l))
                        .collect(),
                )
            }
        };
        let score_threshold = spec.score_threshold.unwrap_or(match spec.format {
            DetectFormat::Yolov8 | DetectFormat::Yolov5 | DetectFormat::YoloEnd2end => 0.25,
            DetectFormat::Fastestdet => 0.65,
        });
        let mut det = Detector {
            name: spec.name.clone(),
            session,
            input_name,
            post: Postprocess {
                layout,
                input_w: input.width as f32,
                input_h: input.height as f32,
                score_threshold,
                keep,
                nms_iou: spec.nms_iou,
                max_detections: spec.max_detections,
            },
            input,
            labels,
            provider,
            cands: Vec::with_capacity(1024),
        };
        det.warm_up()?;
        Ok(det)
    }

    /// One inference on zeros, so the first frame does not pay for lazy initialisation; also
    /// checks that the real output fits the layout.
    pub fn warm_up(&mut self) -> Result<(), ModelError> {
        let zeros = vec![0f32; self.input.tensor_len()];
        let mut out = vec![];
        let g = Geometry::new(
            self.input.resize,
            self.input.width,
            self.input.height,
            self.input.width,
            self.input.height,
        );
        self.infer(&zeros, &g, &mut out)
    }

    fn shape(&self) -> [usize; 4] {
        [1, 3, self.input.height as usize, self.input.width as usize]
    }

    /// Runs the session only (for `bench`'s raw throughput).
    pub fn run_raw(&mut self, tensor: &[f32]) -> Result<(), ModelError> {
        let shape = self.shape();
        run_session(
            &mut self.session,
            &self.input_name,
            shape,
            tensor,
            &self.name,
        )?;
        Ok(())
    }

    /// Runs the session and returns the first output, copied (for conformance tests).
    pub fn raw_output(&mut self, tensor: &[f32]) -> Result<(Vec<i64>, Vec<f32>), ModelError> {
        let shape = self.shape();
        let outputs = run_session(
            &mut self.session,
            &self.input_name,
            shape,
            tensor,
            &self.name,
        )?;
        let (shape, data) = f32_output(&outputs, self.post.layout.output, &self.name)?;
        Ok((shape.to_vec(), data.to_vec()))
    }

    /// Inference and decoding: detections in source-frame pixels appended to `out`.
    pub fn infer(
        &mut self,
        tensor: &[f32],
        geometry: &Geometry,
        out: &mut Vec<Detection>,
    ) -> Result<(), ModelError> {
        let shape = self.shape();
        let outputs = run_session(
            &mut self.session,
            &self.input_name,
            shape,
            tensor,
            &self.name,
        )?;
        let (shape, data) = f32_output(&outputs, self.post.layout.output, &self.name)?;
        let mut cands = std::mem::take(&mut self.cands);
        let r = self.post.candidates(shape, data, &mut cands);
        drop(outputs);
        let res = match r {
            Ok(()) => {
                out.extend(to_detections(&cands, &self.labels, geometry));
                Ok(())
            }
            Err(LayoutMismatch(m)) => Err(ModelError::Run {
                model: self.name.clone(),
                reason: m,
            }),
        };
        self.cands = cands;
        res
    }

    /// Decodes an output computed elsewhere (tests compare against Python's).
    pub fn decode(
        &mut self,
        shape: &[i64],
        data: &[f32],
        geometry: &Geometry,
    ) -> Result<Vec<Detection>, LayoutMismatch> {
        let mut cands = vec![];
        self.post.candidates(shape, data, &mut cands)?;
        Ok(to_detections(&cands, &self.labels, geometry).collect())
    }
}

/// Kept candidates -> detections in source pixels, clamped to the frame; a box that lay wholly
/// in the letterbox padding has no area left and is dropped.
fn to_detections<'a>(
    cands: &'a [Candidate],
    labels: &'a [Arc<str>],
    geometry: &'a Geometry,
) -> impl Iterator<Item = Detection> + 'a {
    cands.iter().filter_map(|c| {
        let bbox = geometry.box_to_source(c.bbox);
        (bbox[2] > bbox[0] && bbox[3] > bbox[1]).then(|| Detection {
            class_id: c.class_id,
            label: labels
                .get(c.class_id as usize)
                .cloned()
                .unwrap_or_else(|| format!("class{}", c.class_id).into()),
            score: c.score,
            bbox,
        })
    })
}

fn run_error(model: &str, e: ort::Error) -> ModelError {
    ModelError::Run {
        model: model.to_string(),
        reason: e.to_string(),
    }
}

/// One `Session::run` on an NCHW f32 tensor that is borrowed, not copied.
fn run_session<'s>(
    session: &'s mut Session,
    input_name: &str,
    shape: [usize; 4],
    tensor: &[f32],
    model: &str,
) -> Result<ort::session::SessionOutputs<'s>, ModelError> {
    let t = TensorRef::from_array_view((shape, tensor)).map_err(|e| run_error(model, e))?;
    session
        .run(ort::inputs![input_name => t])
        .map_err(|e| run_error(model, e))
}

fn f32_output<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    index: usize,
    model: &str,
) -> Result<(&'a [i64], &'a [f32]), ModelError> {
    let (shape, data) = outputs[index]
        .try_extract_tensor::<f32>()
        .map_err(|e| run_error(model, e))?;
    Ok((&shape[..], data))
}

/// Output decoding as data: the layout, the input size boxes are in, thresholds and NMS.
#[derive(Debug, Clone)]
pub struct Postprocess {
    pub layout: Layout,
    pub input_w: f32,
    pub input_h: f32,
    pub score_threshold: f32,
    /// Per class: kept by `keep_classes` (None keeps every class).
    pub keep: Option<Vec<bool>>,
    pub nms_iou: f32,
    pub max_detections: usize,
}

impl Postprocess {
    /// Candidates above the threshold after NMS, boxes in model-input pixels, into `cands`.
    pub fn candidates(
        &self,
        shape: &[i64],
        data: &[f32],
        cands: &mut Vec<Candidate>,
    ) -> Result<(), LayoutMismatch> {
        cands.clear();
        let l = self.layout.for_shape(shape)?;
        if data.len() < l.candidates * l.channels {
            return Err(LayoutMismatch(format!(
                "output of {} values is too short for shape {shape:?}",
                data.len()
            )));
        }
        l.decode(
            data,
            self.input_w,
            self.input_h,
            self.score_threshold,
            self.keep.as_deref(),
            cands,
        );
        if l.nms {
            nms(cands, self.nms_iou, self.max_detections);
        } else {
            // NMS is in the graph: keep its boxes, best first.
            cands.sort_by(|a, b| b.score.total_cmp(&a.score));
            cands.truncate(self.max_detections);
        }
        Ok(())
    }
}

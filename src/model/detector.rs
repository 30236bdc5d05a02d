//! A detector: one ONNX Runtime session, its input spec, its output layout, its class names.
//! Owned by one inference stage thread (`Session::run` takes `&mut self`).

use super::layout::{
    BoxEncoding, ElemType, Hints, Layout, LayoutMismatch, MAX_TENSORS, OutputInfo,
};
use super::masks::{MaskDecoder, Protos};
use super::metadata::ModelMeta;
use super::nms::{Candidate, nms, nms_agnostic};
use super::preprocess::{Geometry, InputSpec};
use super::session::{self, RuntimeError, SessionOptions};
use crate::config::{ColorOrder, DetectFormat, Interpolation, ModelSpec, Provider, ResizeMode};
use crate::frame::{Detection, InstanceMask, ModelInput};
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
        DetectFormat::Yolox => "yolox",
        DetectFormat::FasterRcnn => "faster_rcnn",
        DetectFormat::Segmentation => "segmentation",
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

/// One output as computed: shape, and values as f32 (integers converted).
pub type RawOutput = (Vec<i64>, Vec<f32>);

pub struct Detector {
    pub name: String,
    session: Session,
    input_name: String,
    /// `[3, H, W]` inputs (torchvision) take no batch axis.
    batch_axis: bool,
    pub input: InputSpec,
    pub labels: Vec<Arc<str>>,
    /// Everything after `Session::run`: layout, thresholds, NMS.
    pub post: Postprocess,
    pub provider: Provider,
    /// Most frames one call takes (1 unless the model has a dynamic batch axis and the
    /// config asks for more).
    pub max_batch: usize,
    cands: Vec<Candidate>,
    /// Reused batch tensor (`[n, 3, H, W]`).
    batch: Vec<f32>,
    /// Integer outputs converted to f32, per view.
    ints: [Vec<f32>; MAX_TENSORS],
    /// The mask head's decoder and coefficient buffer (models with prototypes).
    masks: Option<(MaskDecoder, Vec<f32>)>,
}

fn elem_type(ty: TensorElementType) -> ElemType {
    match ty {
        TensorElementType::Float32 => ElemType::F32,
        TensorElementType::Int64 => ElemType::I64,
        _ => ElemType::Other,
    }
}

/// What the session says about its outputs.
pub fn output_infos(session: &Session) -> Vec<OutputInfo> {
    session
        .outputs()
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor { ty, shape, .. } => OutputInfo {
                name: o.name().to_string(),
                ty: elem_type(*ty),
                shape: shape.to_vec(),
            },
            _ => OutputInfo {
                name: o.name().to_string(),
                ty: ElemType::Other,
                shape: vec![],
            },
        })
        .collect()
}

impl Detector {
    /// Loads the session, checks input and output against the declared format, warms up.
    pub fn load(spec: &ModelSpec, metrics: Option<&Metrics>) -> Result<Detector, ModelError> {
        let OpenModel {
            session,
            provider,
            meta,
            input:
                ModelInputInfo {
                    name: input_name,
                    batch_dim,
                    spec: input,
                },
        } = open_model(spec, metrics)?;
        let (width, height) = (input.width, input.height);
        let d = Defaults::of(spec.format);

        // Output layout.
        let names = spec.classes.clone().or(meta.names.clone());
        let outputs = output_infos(&session);
        let outlets = describe_outlets(session.outputs());
        let layout_err = |reason: String| ModelError::Layout {
            model: spec.name.clone(),
            format: format_name(spec.format),
            reason,
            outputs: outlets.clone(),
            path: spec.path.display().to_string(),
        };
        let mut hints = Hints {
            nc: names.as_ref().map(Vec::len),
            input_w: width,
            input_h: height,
            yolox_decoded: spec.decoded_in_graph.unwrap_or(false),
        };
        let layout = Layout::resolve(spec.format, &outputs, &hints)
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
        let keep = keep_mask(spec, &labels)?;
        let batchable = batch_dim == Some(-1) && layout.batchable();
        let max_batch = if spec.batch_size > 1 && !batchable {
            tracing::warn!(
                model = %spec.name,
                batch_size = spec.batch_size,
                "the model takes one image per call (fixed batch of 1, or no batch axis); running batch 1. Export it with a dynamic batch axis to batch"
            );
            1
        } else {
            spec.batch_size
        };
        let mut det = Detector {
            name: spec.name.clone(),
            session,
            input_name,
            batch_axis: batch_dim.is_some(),
            post: Postprocess {
                layout,
                score_threshold: spec.score_threshold.unwrap_or(d.score_threshold),
                keep,
                nms_iou: spec.nms_iou,
                agnostic_nms: spec.agnostic_nms,
                max_detections: spec.max_detections,
            },
            input,
            labels,
            provider,
            max_batch,
            cands: Vec::with_capacity(1024),
            batch: vec![],
            ints: Default::default(),
            masks: layout
                .mask
                .map(|_| (MaskDecoder::new(spec.mask_threshold), Vec::new())),
        };
        if let Some(m) = layout.mask {
            tracing::info!(model = %spec.name, coefficients = m.coefs, prototypes = %outputs[m.protos].name, "mask head found: detections carry instance masks");
        }
        // YOLOX exports differ only in whether the graph decodes the boxes: decoded centres
        // span the input, raw offsets stay near the cell.
        if spec.format == DetectFormat::Yolox && spec.decoded_in_graph.is_none() {
            let span = det.probe_first_channel()?;
            if span > width as f32 / 2.0 {
                tracing::info!(model = %spec.name, max_cx = span, "YOLOX boxes are decoded in the graph (set decoded_in_graph to skip this check)");
                hints.yolox_decoded = true;
                det.post.layout = Layout::resolve(spec.format, &outputs, &hints)
                    .map_err(|LayoutMismatch(m)| layout_err(m))?;
            } else {
                tracing::info!(model = %spec.name, max_cx = span, "YOLOX boxes are grid offsets; decoding with strides 8, 16, 32");
            }
        }
        det.warm_up()?;
        Ok(det)
    }

    /// Whether the layout decodes YOLOX boxes from the grid (false: decoded in the graph).
    pub fn decodes_grid(&self) -> bool {
        matches!(self.post.layout.boxes, BoxEncoding::GridExp { .. })
    }

    /// The largest value of output 0's first channel on a mid-grey image.
    fn probe_first_channel(&mut self) -> Result<f32, ModelError> {
        let g = self.input.probe_geometry();
        let grey = vec![128.0 * self.input.scale; 3 * (g.dst_w * g.dst_h) as usize];
        let outs = self.raw_outputs_at(&grey, g.dst_w, g.dst_h)?;
        let (_, data) = &outs[self.post.layout.views[0].output];
        let v = self.post.layout.views[0];
        let n = data.len() / v.channels.max(1);
        Ok((0..n)
            .map(|i| data[i * v.cand_stride])
            .fold(f32::NEG_INFINITY, f32::max))
    }

    /// Inference on zeros, so the first frame does not pay for lazy initialisation (at the
    /// largest batch too); also checks that the real output fits the layout.
    pub fn warm_up(&mut self) -> Result<(), ModelError> {
        let g = self.input.probe_geometry();
        let len = 3 * (g.dst_w * g.dst_h) as usize;
        let zeros = vec![0f32; len];
        for n in [1, self.max_batch] {
            let inputs = vec![(&zeros[..], g); n];
            self.infer_batch(&inputs, |_, _| {})?;
            if self.max_batch == 1 {
                break;
            }
        }
        Ok(())
    }

    /// Runs the session only (for `bench`'s raw throughput): one image, or a batch of copies.
    pub fn run_raw(&mut self, tensor: &[f32], n: usize) -> Result<(), ModelError> {
        let g = self.input.probe_geometry();
        let shape = input_shape(self.batch_axis, n, g.dst_w, g.dst_h);
        let data = if n == 1 {
            tensor
        } else {
            self.batch.clear();
            for _ in 0..n {
                self.batch.extend_from_slice(tensor);
            }
            &self.batch[..]
        };
        run_session(&mut self.session, &self.input_name, shape, data, &self.name)?;
        Ok(())
    }

    /// Runs the session on one image of `w x h` and returns every output in session order,
    /// converted to f32 (for conformance tests).
    pub fn raw_outputs_at(
        &mut self,
        tensor: &[f32],
        w: u32,
        h: u32,
    ) -> Result<Vec<RawOutput>, ModelError> {
        let shape = input_shape(self.batch_axis, 1, w, h);
        let outputs = run_session(
            &mut self.session,
            &self.input_name,
            shape,
            tensor,
            &self.name,
        )?;
        let mut all = vec![];
        for i in 0..outputs.len() {
            let v = &outputs[i];
            if let Ok((s, d)) = v.try_extract_tensor::<f32>() {
                all.push((s.to_vec(), d.to_vec()));
            } else {
                let (s, d) = v
                    .try_extract_tensor::<i64>()
                    .map_err(|e| run_error(&self.name, e))?;
                all.push((s.to_vec(), d.iter().map(|&x| x as f32).collect()));
            }
        }
        Ok(all)
    }

    /// Runs the session on one image at the model's input size (for conformance tests).
    pub fn raw_outputs(&mut self, tensor: &[f32]) -> Result<Vec<RawOutput>, ModelError> {
        let g = self.input.probe_geometry();
        self.raw_outputs_at(tensor, g.dst_w, g.dst_h)
    }

    /// Inference and decoding of one image: detections in source-frame pixels appended to `out`.
    pub fn infer(
        &mut self,
        tensor: &[f32],
        geometry: &Geometry,
        out: &mut Vec<Detection>,
    ) -> Result<(), ModelError> {
        self.infer_batch(&[(tensor, *geometry)], |_, d| out.push(d))
    }

    /// Inference and decoding of several images (all of one size), `max_batch` per call;
    /// `emit(i, d)` receives the detections of image `i`, in source-frame pixels.
    pub fn infer_batch<T: ImageInput>(
        &mut self,
        inputs: &[T],
        mut emit: impl FnMut(usize, Detection),
    ) -> Result<(), ModelError> {
        let mut first = 0;
        while first < inputs.len() {
            let n = (inputs.len() - first).min(self.max_batch);
            self.infer_chunk(&inputs[first..first + n], first, &mut emit)?;
            first += n;
        }
        Ok(())
    }

    fn infer_chunk<T: ImageInput>(
        &mut self,
        inputs: &[T],
        offset: usize,
        emit: &mut impl FnMut(usize, Detection),
    ) -> Result<(), ModelError> {
        let n = inputs.len();
        let g0 = inputs[0].geometry();
        let (w, h) = (g0.dst_w, g0.dst_h);
        let len = 3 * (w * h) as usize;
        if inputs.iter().any(|i| {
            let g = i.geometry();
            (g.dst_w, g.dst_h) != (w, h) || i.tensor().len() != len
        }) {
            return Err(ModelError::Run {
                model: self.name.clone(),
                reason: "images of one batch differ in size".into(),
            });
        }
        let shape = input_shape(self.batch_axis, n, w, h);
        let data: &[f32] = if n == 1 {
            inputs[0].tensor()
        } else {
            self.batch.clear();
            for i in inputs {
                self.batch.extend_from_slice(i.tensor());
            }
            &self.batch
        };
        let outputs = run_session(&mut self.session, &self.input_name, shape, data, &self.name)?;
        let layout = self.post.layout;
        let views = layout.views();
        let mut shapes: [&[i64]; MAX_TENSORS] = [&[]; MAX_TENSORS];
        let mut datas: [&[f32]; MAX_TENSORS] = [&[]; MAX_TENSORS];
        for (k, v) in views.iter().enumerate() {
            let value = &outputs[v.output];
            if v.int64 {
                let (s, d) = value
                    .try_extract_tensor::<i64>()
                    .map_err(|e| run_error(&self.name, e))?;
                shapes[k] = &s[..];
                self.ints[k].clear();
                self.ints[k].extend(d.iter().map(|&x| x as f32));
            } else {
                let (s, d) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| run_error(&self.name, e))?;
                shapes[k] = &s[..];
                datas[k] = d;
            }
        }
        for (k, v) in views.iter().enumerate() {
            if v.int64 {
                datas[k] = &self.ints[k];
            }
        }
        let protos = match layout.mask {
            Some(m) => {
                let (s, d) = outputs[m.protos]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| run_error(&self.name, e))?;
                Some((&s[..], d))
            }
            None => None,
        };
        let mut cands = std::mem::take(&mut self.cands);
        let mut result = Ok(());
        for (b, input) in inputs.iter().enumerate() {
            let g = input.geometry();
            let mut per: [&[f32]; MAX_TENSORS] = [&[]; MAX_TENSORS];
            for (k, v) in views.iter().enumerate() {
                let d = datas[k];
                per[k] = if v.batched && n > 1 {
                    let each = d.len() / n;
                    &d[b * each..(b + 1) * each]
                } else {
                    d
                };
            }
            let input = (g.dst_w as f32, g.dst_h as f32);
            let fitted = self
                .post
                .candidates(
                    &shapes[..views.len()],
                    &per[..views.len()],
                    input,
                    &mut cands,
                )
                .and_then(|l| {
                    let p = protos
                        .map(|(s, d)| image_protos(s, d, b, n, l.mask.map_or(0, |m| m.coefs)))
                        .transpose()?;
                    Ok((l, p))
                });
            let (fitted, p) = match fitted {
                Ok(f) => f,
                Err(LayoutMismatch(m)) => {
                    result = Err(ModelError::Run {
                        model: self.name.clone(),
                        reason: m,
                    });
                    break;
                }
            };
            let masks = p.zip(self.masks.as_mut());
            emit_detections(&cands, &self.labels, g, &fitted, per[0], masks, |d| {
                emit(offset + b, d)
            });
        }
        drop(outputs);
        self.cands = cands;
        result
    }

    /// Decodes outputs computed elsewhere (tests compare against Python's): every output in
    /// session order, as f32.
    pub fn decode(
        &mut self,
        outputs: &[(&[i64], &[f32])],
        geometry: &Geometry,
    ) -> Result<Vec<Detection>, LayoutMismatch> {
        let views = self.post.layout.views();
        let shapes: Vec<&[i64]> = views.iter().map(|v| outputs[v.output].0).collect();
        let datas: Vec<&[f32]> = views.iter().map(|v| outputs[v.output].1).collect();
        let mut cands = vec![];
        let input = (geometry.dst_w as f32, geometry.dst_h as f32);
        let fitted = self.post.candidates(&shapes, &datas, input, &mut cands)?;
        let protos = fitted
            .mask
            .map(|m| image_protos(outputs[m.protos].0, outputs[m.protos].1, 0, 1, m.coefs))
            .transpose()?;
        let mut out = vec![];
        let masks = protos.zip(self.masks.as_mut());
        emit_detections(
            &cands,
            &self.labels,
            geometry,
            &fitted,
            datas[0],
            masks,
            |d| out.push(d),
        );
        Ok(out)
    }
}

/// A model's session on the first provider that works, its metadata and its checked input.
pub struct OpenModel {
    pub session: Session,
    pub provider: Provider,
    pub meta: ModelMeta,
    pub input: ModelInputInfo,
}

pub fn open_model(spec: &ModelSpec, metrics: Option<&Metrics>) -> Result<OpenModel, ModelError> {
    let opts = SessionOptions::for_model(spec);
    let (session, provider) = session::build(&spec.path, &opts, metrics)?;
    let meta = read_meta(&session);
    let input = read_input(&session, spec, &meta)?;
    Ok(OpenModel {
        session,
        provider,
        meta,
        input,
    })
}

/// The image input of a model: its name, its batch axis (`None`: no batch axis; `Some(-1)`:
/// dynamic) and how to fill it.
pub struct ModelInputInfo {
    pub name: String,
    pub batch_dim: Option<i64>,
    pub spec: InputSpec,
}

/// Reads and checks a model's image input against the pipeline file's `input` settings, with
/// the format's defaults.
pub fn read_input(
    session: &Session,
    spec: &ModelSpec,
    meta: &ModelMeta,
) -> Result<ModelInputInfo, ModelError> {
    let input_err = |reason: String| ModelError::Input {
        model: spec.name.clone(),
        reason,
    };

    // Input: one f32 image tensor [B, 3, H, W] or [3, H, W].
    let inp = session
        .inputs()
        .first()
        .ok_or_else(|| input_err("the model has no input".into()))?;
    let input_name = inp.name().to_string();
    let (ty, shape) = match inp.dtype() {
        ValueType::Tensor { ty, shape, .. } => (*ty, shape.to_vec()),
        other => {
            return Err(input_err(format!(
                "input {input_name} is {other:?}, not a tensor"
            )));
        }
    };
    let (batch_dim, chw) = match shape[..] {
        [b, c, h, w] => (Some(b), [c, h, w]),
        [c, h, w] => (None, [c, h, w]),
        _ => (None, [0, 0, 0]),
    };
    if ty != TensorElementType::Float32 || !(chw[0] == 3 || chw[0] == -1) {
        return Err(input_err(format!(
            "input {input_name} is {ty:?} {shape:?}; perceptd feeds f32 [1, 3, H, W] (or [3, H, W]) images"
        )));
    }
    if let Some(b) = batch_dim
        && b > 1
    {
        return Err(input_err(format!(
            "input {input_name} has a fixed batch of {b}; export the model with batch 1 or a dynamic batch axis"
        )));
    }
    let fixed = |d: i64| (d > 0).then_some(d as u32);
    let (mh, mw) = (fixed(chw[1]), fixed(chw[2]));
    // torchvision detection models take any size and resize inside the graph: without a
    // configured size they get each frame as it is.
    let native = spec.format == DetectFormat::FasterRcnn
        && mh.is_none()
        && mw.is_none()
        && spec.input.width.is_none()
        && spec.input.height.is_none();
    let pick = |cfg: Option<u32>,
                model_dim: Option<u32>,
                meta_dim: Option<u32>,
                axis: &str|
     -> Result<u32, ModelError> {
        match (cfg, model_dim) {
                (Some(c), Some(m)) if c != m => Err(input_err(format!("input.{axis} is {c} but the model's input is fixed at {m}; remove input.{axis} or set it to {m}"))),
                (Some(c), _) => Ok(c),
                (None, Some(m)) => Ok(m),
                (None, None) if native => Ok(0),
                (None, None) => meta_dim.ok_or_else(|| input_err(format!("the model's input {axis} is dynamic and its metadata has no imgsz; set input.{axis}"))),
            }
    };
    let height = pick(spec.input.height, mh, meta.imgsz.map(|s| s[0]), "height")?;
    let width = pick(spec.input.width, mw, meta.imgsz.map(|s| s[1]), "width")?;
    // A dynamic input must be a multiple of the model's stride (Ultralytics writes it).
    if let Some(stride) = meta.stride.filter(|s| *s > 0)
        && (mh.is_none() || mw.is_none())
        && (width % stride != 0 || height % stride != 0)
    {
        return Err(input_err(format!(
            "{width}x{height} is not a multiple of the model's stride {stride} (from its metadata); set input.width and input.height to multiples of {stride}"
        )));
    }
    let d = Defaults::of(spec.format);
    let input = InputSpec {
        width,
        height,
        native,
        resize: spec.input.resize.unwrap_or(d.resize),
        interpolation: spec.input.interpolation.unwrap_or(d.interpolation),
        pad_value: spec.input.pad_value.unwrap_or(114),
        color: spec.input.color.unwrap_or(d.color),
        scale: spec.input.scale.unwrap_or(d.scale),
        mean: spec.input.mean.unwrap_or([0.0; 3]),
        std: spec.input.std.unwrap_or([1.0; 3]),
    };

    Ok(ModelInputInfo {
        name: input_name,
        batch_dim,
        spec: input,
    })
}

/// One image ready for a model: its tensor and where it sits in the source frame.
pub trait ImageInput {
    fn tensor(&self) -> &[f32];
    fn geometry(&self) -> &Geometry;
}

impl ImageInput for ModelInput {
    fn tensor(&self) -> &[f32] {
        &self.tensor
    }
    fn geometry(&self) -> &Geometry {
        &self.geometry
    }
}

impl ImageInput for (&[f32], Geometry) {
    fn tensor(&self) -> &[f32] {
        self.0
    }
    fn geometry(&self) -> &Geometry {
        &self.1
    }
}

/// Per-format preprocessing defaults (what the exporters' own demos do).
struct Defaults {
    resize: ResizeMode,
    interpolation: Interpolation,
    color: ColorOrder,
    scale: f32,
    score_threshold: f32,
}

impl Defaults {
    fn of(f: DetectFormat) -> Defaults {
        let d = Defaults {
            resize: ResizeMode::Letterbox,
            interpolation: Interpolation::Linear,
            color: ColorOrder::Rgb,
            scale: 1.0 / 255.0,
            score_threshold: 0.25,
        };
        match f {
            DetectFormat::Yolov8 | DetectFormat::Yolov5 | DetectFormat::YoloEnd2end => d,
            // FastestDet's reference (its ONNX Runtime demo): `cv2.resize(..., INTER_AREA)`.
            DetectFormat::Fastestdet => Defaults {
                resize: ResizeMode::Stretch,
                interpolation: Interpolation::Area,
                color: ColorOrder::Bgr,
                score_threshold: 0.65,
                ..d
            },
            // YOLOX since 0.2: BGR, 0..255, top-left letterbox padded with 114.
            DetectFormat::Yolox => Defaults {
                resize: ResizeMode::LetterboxTopLeft,
                color: ColorOrder::Bgr,
                scale: 1.0,
                ..d
            },
            // TwinLiteNet's preprocessing; torchvision's segmentation models also want
            // `input.mean` / `input.std` (ImageNet), which they do not apply in the graph.
            DetectFormat::Segmentation => Defaults {
                resize: ResizeMode::Stretch,
                ..d
            },
            // torchvision normalises inside the graph: RGB in 0..1.
            DetectFormat::FasterRcnn => Defaults {
                resize: ResizeMode::Stretch,
                score_threshold: 0.5,
                ..d
            },
        }
    }
}

fn keep_mask(spec: &ModelSpec, labels: &[Arc<str>]) -> Result<Option<Vec<bool>>, ModelError> {
    let Some(wanted) = &spec.keep_classes else {
        return Ok(None);
    };
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
    Ok(Some(
        labels
            .iter()
            .map(|l| wanted.iter().any(|w| w.as_str() == &**l))
            .collect(),
    ))
}

/// One image's prototypes out of the prototype output `[B, k, h, w]` of `n` images.
fn image_protos<'a>(
    shape: &[i64],
    data: &'a [f32],
    b: usize,
    n: usize,
    coefs: usize,
) -> Result<Protos<'a>, LayoutMismatch> {
    let [batch, k, h, w] = *shape else {
        return Err(LayoutMismatch(format!(
            "mask prototypes have shape {shape:?}, expected [batch, {coefs}, h, w]"
        )));
    };
    if k as usize != coefs || h <= 0 || w <= 0 || (batch as usize != n && batch != 1) {
        return Err(LayoutMismatch(format!(
            "mask prototypes have shape {shape:?}, expected [{n}, {coefs}, h, w] for {coefs} coefficients"
        )));
    }
    let each = (k * h * w) as usize;
    let at = if batch == 1 { 0 } else { b * each };
    Ok(Protos {
        data: data.get(at..at + each).ok_or_else(|| {
            LayoutMismatch(format!(
                "mask prototypes of {} values are too short for shape {shape:?}",
                data.len()
            ))
        })?,
        k: k as usize,
        h: h as usize,
        w: w as usize,
    })
}

/// Kept candidates -> detections in source pixels, clamped to the frame, with their masks when
/// the layout has a mask head (`view0`: the image's candidate values; `masks`: its prototypes
/// and the decoder). A box that lay wholly in the letterbox padding has no area left and is
/// dropped.
fn emit_detections(
    cands: &[Candidate],
    labels: &[Arc<str>],
    geometry: &Geometry,
    layout: &Layout,
    view0: &[f32],
    mut masks: Option<(Protos, &mut (MaskDecoder, Vec<f32>))>,
    mut emit: impl FnMut(Detection),
) {
    for c in cands {
        let bbox = geometry.box_to_source(c.bbox);
        if !(bbox[2] > bbox[0] && bbox[3] > bbox[1]) {
            continue;
        }
        let mask = masks.as_mut().and_then(|(protos, (decoder, coefs))| {
            layout.coefficients(view0, c.index as usize, coefs);
            decoder
                .mask(coefs, protos, c.bbox, geometry)
                .map(Arc::<InstanceMask>::new)
        });
        emit(Detection {
            class_id: c.class_id,
            label: labels
                .get(c.class_id as usize)
                .cloned()
                .unwrap_or_else(|| format!("class{}", c.class_id).into()),
            score: c.score,
            bbox,
            track_id: None,
            track_box: None,
            mask,
        });
    }
}

/// The shape of `n` images of `w x h` for an input with or without a batch axis.
pub(crate) fn input_shape(batch_axis: bool, n: usize, w: u32, h: u32) -> Vec<usize> {
    if batch_axis {
        vec![n, 3, h as usize, w as usize]
    } else {
        vec![3, h as usize, w as usize]
    }
}

pub(crate) fn run_error(model: &str, e: ort::Error) -> ModelError {
    ModelError::Run {
        model: model.to_string(),
        reason: e.to_string(),
    }
}

/// One `Session::run` on an f32 tensor that is borrowed, not copied.
pub(crate) fn run_session<'s>(
    session: &'s mut Session,
    input_name: &str,
    shape: Vec<usize>,
    tensor: &[f32],
    model: &str,
) -> Result<ort::session::SessionOutputs<'s>, ModelError> {
    let t = TensorRef::from_array_view((shape, tensor)).map_err(|e| run_error(model, e))?;
    session
        .run(ort::inputs![input_name => t])
        .map_err(|e| run_error(model, e))
}

/// Output decoding as data: the layout, the input size boxes are in, thresholds and NMS.
#[derive(Debug, Clone)]
pub struct Postprocess {
    pub layout: Layout,
    pub score_threshold: f32,
    /// Per class: kept by `keep_classes` (None keeps every class).
    pub keep: Option<Vec<bool>>,
    pub nms_iou: f32,
    /// Suppress across classes.
    pub agnostic_nms: bool,
    pub max_detections: usize,
}

impl Postprocess {
    /// Candidates above the threshold after NMS, boxes in model-input pixels, into `cands`.
    /// `shapes[k]` and `data[k]` are view `k`'s output shape (batch included) and one image's
    /// values; `input` is the size boxes are in.
    /// Returns the layout fitted to these shapes (where a mask head's coefficients are read).
    pub fn candidates(
        &self,
        shapes: &[&[i64]],
        data: &[&[f32]],
        input: (f32, f32),
        cands: &mut Vec<Candidate>,
    ) -> Result<Layout, LayoutMismatch> {
        cands.clear();
        let l = self.layout.for_shapes(shapes)?;
        for (v, d) in l.views().iter().zip(data) {
            if d.len() < l.candidates * v.channels {
                return Err(LayoutMismatch(format!(
                    "output of {} values is too short for shapes {shapes:?}",
                    d.len()
                )));
            }
        }
        l.decode(
            data,
            input.0,
            input.1,
            self.score_threshold,
            self.keep.as_deref(),
            cands,
        );
        if l.nms {
            if self.agnostic_nms {
                nms_agnostic(cands, self.nms_iou, self.max_detections);
            } else {
                nms(cands, self.nms_iou, self.max_detections);
            }
        } else {
            // NMS is in the graph: keep its boxes, best first.
            cands.sort_by(|a, b| b.score.total_cmp(&a.score));
            cands.truncate(self.max_detections);
        }
        Ok(l)
    }
}

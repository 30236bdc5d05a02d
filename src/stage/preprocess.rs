//! The preprocessing stage every model stage starts with: the frame resized into its model's
//! input tensor (a pooled buffer), with the geometry to undo it.

use super::{Stage, StageError};
use crate::frame::{Frame, ModelInput};
use crate::model::preprocess::{InputSpec, Preprocessor};
use crate::pool::Pool;

pub struct Preprocess {
    name: String,
    pre: Preprocessor,
    tensors: Pool<Vec<f32>>,
}

impl Preprocess {
    pub fn new(model: &str, spec: InputSpec) -> Preprocess {
        Preprocess {
            name: format!("preprocess:{model}"),
            pre: Preprocessor::new(spec),
            tensors: Pool::default(),
        }
    }
}

impl Stage for Preprocess {
    fn name(&self) -> &str {
        &self.name
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let len = self.pre.spec().tensor_len(frame.width, frame.height);
        let mut tensor = self.tensors.take(|| vec![0f32; len]);
        tensor.resize(len, 0.0);
        let geometry = self
            .pre
            .run(&frame.image, frame.width, frame.height, &mut tensor)?;
        frame.input = Some(ModelInput { tensor, geometry });
        Ok(Some(frame))
    }
}

/// The input a model stage takes off the frame, or the error of a frame that has none.
pub fn take_input(frame: &mut Frame, stage: &str) -> Result<ModelInput, StageError> {
    frame.input.take().ok_or_else(|| {
        StageError::Other(format!(
            "frame reached {stage} without a preprocessed input"
        ))
    })
}

/// Checks the model a model stage names: defined, of the right kind (`segmentation` or not),
/// not run by another stage. Returns whether it is fine.
pub fn check_model(model: &str, segment: bool, key: &str, cx: &mut super::CompileCx) -> bool {
    let Some(models) = cx.models else {
        return true;
    };
    let mut ok = true;
    match models.get(model) {
        None => {
            let known: Vec<_> = models.keys().cloned().collect();
            cx.diag.error(
                format!("{key}.model"),
                format!(
                    "no model named `{model}`; define it under `models` (known: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            );
            ok = false;
        }
        Some(m) => {
            let is_seg = m.format == crate::config::spec::DetectFormat::Segmentation;
            if is_seg != segment {
                cx.diag.error(
                    format!("{key}.type"),
                    if segment {
                        format!("model `{model}` is a detector; run it with `type: detect`, or give a model of `format: segmentation`")
                    } else {
                        format!("model `{model}` is a segmentation model; run it with `type: segment`")
                    },
                );
                ok = false;
            }
        }
    }
    if cx
        .upstream
        .stages
        .iter()
        .any(|(_, m)| m.as_deref() == Some(model))
    {
        cx.diag.error(
            format!("{key}.model"),
            format!("model `{model}` is already run by an earlier stage; run each model once"),
        );
        ok = false;
    }
    ok
}

/// Loads ONNX Runtime (once per process) and the CUDA libraries the file lists, before a
/// model stage makes its session.
pub fn init_runtime(cx: &super::BuildCx) -> Result<(), StageError> {
    crate::model::session::init(cx.ort_library).map_err(crate::model::ModelError::from)?;
    crate::model::session::preload_libraries_once(cx.cuda_libraries);
    Ok(())
}

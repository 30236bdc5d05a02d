//! `perceptd models inspect`: what a model takes and gives, and the layout perceptd would use.

use super::detector::{describe_outlets, format_name, read_meta};
use super::layout::Layout;
use super::session::{self, RuntimeError, SessionOptions};
use crate::config::{DetectFormat, Provider};
use ort::value::ValueType;
use std::fmt::Write;
use std::path::Path;

/// The layout `models inspect` would choose, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess {
    pub format: Option<DetectFormat>,
    pub reason: String,
}

/// Guesses the layout from metadata and output shapes.
pub fn guess(meta: &super::metadata::ModelMeta, outputs: &[Vec<i64>]) -> Guess {
    let nc = meta.names.as_ref().map(Vec::len);
    if let [shape] = outputs {
        if let [_, k, 6] = shape[..]
            && meta.end2end
        {
            return Guess {
                format: Some(DetectFormat::YoloEnd2end),
                reason: format!(
                    "metadata end2end=True and one output [1, {k}, 6] = x1, y1, x2, y2, score, class (NMS in the graph)"
                ),
            };
        }
        // Classic YOLOv5 (torch.onnx.export, no Ultralytics metadata, or names that fit 5+nc).
        if let [_, n, c] = shape[..]
            && c >= 6
            && n > c
            && !meta.end2end
            && (nc == Some((c - 5) as usize) || (nc.is_none() && meta.task.is_none()))
        {
            return Guess {
                format: Some(DetectFormat::Yolov5),
                reason: format!(
                    "one output [1, {n}, {c}] = [1, N, 5+nc] with nc={}: candidates first, objectness channel (classic YOLOv5){}",
                    c - 5,
                    if nc.is_some() {
                        ", class names fit"
                    } else {
                        "; no metadata: check the class count"
                    }
                ),
            };
        }
        if shape.len() == 3
            && meta.task.as_deref() == Some("detect")
            && !meta.end2end
            && let Ok(l) = Layout::resolve(DetectFormat::Yolov8, 0, shape, nc)
        {
            {
                return Guess {
                    format: Some(DetectFormat::Yolov8),
                    reason: format!(
                        "metadata task=detect (Ultralytics export) and one output {shape:?} = [1, 4+{}, {}] candidates{}",
                        l.num_classes,
                        l.candidates,
                        if l.chan_stride == 1 {
                            ", transposed"
                        } else {
                            ""
                        }
                    ),
                };
            }
        }
        if shape.len() == 4
            && shape[2] > 0
            && shape[2] == shape[3]
            && shape[1] > 5
            && let Ok(l) = Layout::resolve(DetectFormat::Fastestdet, 0, shape, None)
        {
            {
                return Guess {
                    format: Some(DetectFormat::Fastestdet),
                    reason: format!(
                        "one output {shape:?} = [1, 5+{}, S, S]: an S x S grid with objectness, box and class channels per cell (FastestDet)",
                        l.num_classes
                    ),
                };
            }
        }
        if shape.len() == 3
            && !meta.end2end
            && let Ok(l) = Layout::resolve(DetectFormat::Yolov8, 0, shape, nc)
        {
            {
                return Guess {
                    format: Some(DetectFormat::Yolov8),
                    reason: format!(
                        "one output {shape:?} fits [1, 4+nc, N] with nc={} (no Ultralytics metadata: check the class count)",
                        l.num_classes
                    ),
                };
            }
        }
    }
    Guess {
        format: None,
        reason: format!(
            "no known layout fits outputs {outputs:?}; perceptd reads yolov8 ([1, 4+nc, N] or [1, N, 4+nc]), yolov5 ([1, N, 5+nc]), yolo_end2end ([1, K, 6]) and fastestdet ([1, 5+nc, S, S])"
        ),
    }
}

/// A human-readable report of the model at `path`.
pub fn inspect(path: &Path) -> Result<(String, Guess), RuntimeError> {
    let opts = SessionOptions {
        model: "inspect".into(),
        providers: vec![Provider::Cpu],
        device_id: 0,
        threads: Some(1),
    };
    let (session, _) = session::build(path, &opts, None)?;
    let meta = read_meta(&session);
    let mut s = String::new();
    let _ = writeln!(s, "model: {}", path.display());
    let _ = writeln!(s, "inputs:  {}", describe_outlets(session.inputs()));
    let _ = writeln!(s, "outputs: {}", describe_outlets(session.outputs()));
    if let Ok(md) = session.metadata() {
        for (k, v) in [
            ("producer", md.producer()),
            ("description", md.description()),
            ("graph", md.name()),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                let _ = writeln!(s, "{k}: {v}");
            }
        }
    }
    let mut keys: Vec<_> = meta.raw.iter().collect();
    keys.sort();
    if !keys.is_empty() {
        let _ = writeln!(s, "metadata:");
        for (k, v) in keys {
            let v = if v.len() > 120 {
                format!(
                    "{}... ({} chars)",
                    &v[..v.floor_char_boundary(117)],
                    v.len()
                )
            } else {
                v.clone()
            };
            let _ = writeln!(s, "  {k}: {v}");
        }
    }
    let shapes: Vec<Vec<i64>> = session
        .outputs()
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor { shape, .. } => shape.to_vec(),
            _ => vec![],
        })
        .collect();
    let g = guess(&meta, &shapes);
    match g.format {
        Some(f) => {
            let _ = writeln!(s, "layout: format: {}  ({})", format_name(f), g.reason);
        }
        None => {
            let _ = writeln!(s, "layout: unknown ({})", g.reason);
        }
    }
    if let Some(n) = &meta.names {
        let _ = writeln!(
            s,
            "classes: {} from metadata ({}{})",
            n.len(),
            n.iter().take(8).cloned().collect::<Vec<_>>().join(", "),
            if n.len() > 8 { ", ..." } else { "" }
        );
    }
    Ok((s, g))
}

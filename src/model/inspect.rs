//! `perceptd models inspect`: what a model takes and gives, and the layout perceptd would use.

use super::detector::{describe_outlets, format_name, output_infos, read_meta};
use super::layout::{ElemType, Hints, Layout, OutputInfo, grid_levels};
use super::metadata::ModelMeta;
use super::session::{self, RuntimeError, SessionOptions};
use crate::config::{DetectFormat, ModelSpec};
use ort::value::ValueType;
use std::fmt::Write;
use std::path::Path;

/// The layout `models inspect` would choose, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess {
    pub format: Option<DetectFormat>,
    pub reason: String,
}

/// Guesses the layout from metadata, output shapes and the input size (`(w, h)` when fixed).
pub fn guess(meta: &ModelMeta, outputs: &[OutputInfo], input: Option<(u32, u32)>) -> Guess {
    let nc = meta.names.as_ref().map(Vec::len);
    let hints = Hints {
        nc,
        input_w: input.map_or(640, |i| i.0),
        input_h: input.map_or(640, |i| i.1),
        yolox_decoded: false,
    };
    let fits = |f: DetectFormat| Layout::resolve(f, outputs, &hints).ok();
    let shapes: Vec<&[i64]> = outputs.iter().map(|o| &o.shape[..]).collect();
    // torchvision detection: three tensors told apart by type and rank.
    if outputs.len() >= 3
        && let Some(l) = fits(DetectFormat::FasterRcnn)
    {
        let v = l.views();
        return Guess {
            format: Some(DetectFormat::FasterRcnn),
            reason: format!(
                "outputs {} f32 [N, 4], {} f32 [N] and {} int64 [N] = torchvision's boxes, scores and labels (NMS in the graph); set `classes` to the label list, background first",
                outputs[v[0].output].name, outputs[v[1].output].name, outputs[v[2].output].name
            ),
        };
    }
    // Ultralytics -seg: candidates [1, 4+nc+k, N] and prototypes [1, k, h, w].
    if let [o0, o1] = outputs
        && o0.shape.len() == 3
        && o1.shape.len() == 4
        && let Some(l) = fits(DetectFormat::Yolov8)
        && let Some(m) = l.mask
    {
        return Guess {
            format: Some(DetectFormat::Yolov8),
            reason: format!(
                "output {} {:?} = [1, 4+{}+{}, {}] candidates (box, classes, mask coefficients) and {} {:?} = {} mask prototypes (an Ultralytics -seg export{}): detections carry instance masks",
                o0.name,
                o0.shape,
                l.num_classes,
                m.coefs,
                l.candidates,
                o1.name,
                o1.shape,
                m.coefs,
                if meta.task.as_deref() == Some("segment") {
                    ", metadata task=segment"
                } else {
                    ""
                }
            ),
        };
    }
    if let [out] = outputs {
        let shape = &out.shape[..];
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
        // [1, N, 5+nc]: YOLOX has one candidate per grid cell at strides 8/16/32, YOLOv5 three.
        if let [_, n, c] = shape[..]
            && c >= 6
            && n > c
            && !meta.end2end
            && (nc.is_none() || nc == Some((c - 5) as usize))
        {
            let cells = input.map(|(w, h)| grid_levels(w, h).1 as i64);
            if cells == Some(n) && meta.task.is_none() {
                return Guess {
                    format: Some(DetectFormat::Yolox),
                    reason: format!(
                        "one output [1, {n}, {c}] = [1, N, 5+nc] with nc={} and N = the {n} cells of strides 8, 16, 32 at this input: one candidate per cell (YOLOX)",
                        c - 5
                    ),
                };
            }
            if meta.task.is_none() || nc.is_some() {
                return Guess {
                    format: Some(DetectFormat::Yolov5),
                    reason: format!(
                        "one output [1, {n}, {c}] = [1, N, 5+nc] with nc={}: candidates first, objectness channel{} (classic YOLOv5){}",
                        c - 5,
                        if cells.is_some_and(|g| n == 3 * g) {
                            ", 3 anchors per grid cell"
                        } else {
                            ""
                        },
                        if nc.is_some() {
                            ", class names fit"
                        } else {
                            "; no metadata: check the class count"
                        }
                    ),
                };
            }
        }
        if shape.len() == 3
            && meta.task.as_deref() == Some("detect")
            && !meta.end2end
            && let Some(l) = fits(DetectFormat::Yolov8)
        {
            return Guess {
                format: Some(DetectFormat::Yolov8),
                reason: format!(
                    "metadata task=detect (Ultralytics export) and one output {shape:?} = [1, 4+{}, {}] candidates{}",
                    l.num_classes,
                    l.candidates,
                    if l.views[0].chan_stride == 1 {
                        ", transposed"
                    } else {
                        ""
                    }
                ),
            };
        }
        if shape.len() == 4
            && shape[2] > 0
            && shape[2] == shape[3]
            && shape[1] > 5
            && let Some(l) = fits(DetectFormat::Fastestdet)
        {
            return Guess {
                format: Some(DetectFormat::Fastestdet),
                reason: format!(
                    "one output {shape:?} = [1, 5+{}, S, S]: an S x S grid with objectness, box and class channels per cell (FastestDet)",
                    l.num_classes
                ),
            };
        }
        if shape.len() == 3
            && !meta.end2end
            && let Some(l) = fits(DetectFormat::Yolov8)
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
    // Dense per-pixel outputs (a grid detector was recognised above): logits [1, C, h, w], or
    // class maps [1, h, w] made in the graph.
    let dense = |o: &OutputInfo| match (o.ty, &o.shape[..]) {
        (ElemType::F32, [_, c, h, w]) => *c >= 1 && *c <= 255 && *h > 8 && *w > 8,
        (ElemType::I64, [_, h, w]) | (ElemType::I64, [_, 1, h, w]) => *h > 8 && *w > 8,
        _ => false,
    };
    if !outputs.is_empty() && outputs.iter().all(dense) {
        return Guess {
            format: Some(DetectFormat::Segmentation),
            reason: format!(
                "every output is a per-pixel map ({}): logits [1, C, h, w] or class maps [1, h, w]; run it in a `segment` stage and name each head's classes under `heads`",
                outputs
                    .iter()
                    .map(|o| format!("{} {:?}", o.name, o.shape))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    Guess {
        format: None,
        reason: format!(
            "no known layout fits outputs {shapes:?}; perceptd reads yolov8 ([1, 4+nc, N] or [1, N, 4+nc]), yolov5 and yolox ([1, N, 5+nc]), yolo_end2end ([1, K, 6]), fastestdet ([1, 5+nc, S, S]), faster_rcnn (boxes [N, 4], labels [N], scores [N]) and segmentation ([1, C, h, w] logits, [1, h, w] class maps); set `format` and `classes` in the pipeline file"
        ),
    }
}

/// A human-readable report of the model at `path`.
pub fn inspect(path: &Path) -> Result<(String, Guess), RuntimeError> {
    let opts = SessionOptions::cpu("inspect");
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
    let input = session.inputs().first().and_then(|i| match i.dtype() {
        ValueType::Tensor { shape, .. } if shape.len() >= 3 => {
            let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
            (h > 0 && w > 0).then_some((w as u32, h as u32))
        }
        _ => None,
    });
    let input = input.or(meta.imgsz.map(|s| (s[1], s[0])));
    let g = guess(&meta, &output_infos(&session), input);
    drop(session);
    match g.format {
        Some(f) => {
            let _ = writeln!(s, "layout: format: {}  ({})", format_name(f), g.reason);
            if f == DetectFormat::Yolox {
                // Whether the graph decodes the boxes shows only on a run.
                let mut spec = ModelSpec::new("inspect", path.to_path_buf(), f);
                spec.threads = Some(1);
                match super::Detector::load(&spec, None) {
                    Ok(d) => {
                        let _ = writeln!(
                            s,
                            "  boxes: {}",
                            if d.decodes_grid() {
                                "grid offsets, decoded by perceptd with strides 8, 16, 32 (decoded_in_graph: false)"
                            } else {
                                "decoded in the graph, input pixels (decoded_in_graph: true)"
                            }
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(s, "  but it does not load as yolox: {e}");
                    }
                }
            }
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

//! Detector output layouts as data: which tensor, which axis holds candidates and which holds
//! channels, how boxes are encoded, where the score and the class come from, whether NMS is
//! already in the graph. One decoder reads them all.

use super::nms::Candidate;
use crate::config::DetectFormat;

/// How the four box channels encode a box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoxEncoding {
    /// Centre x, centre y, width, height in model-input pixels (Ultralytics, YOLOv5).
    CxCyWhPixels,
    /// Corners x1, y1, x2, y2 in model-input pixels (end-to-end exports).
    X1Y1X2Y2Pixels,
    /// FastestDet's grid: `cx = (gx + tanh(dx)) / gw`, `w = sigmoid(w)`, as fractions of the
    /// image, candidates ordered row-major over a `gw x gh` grid.
    GridTanhSigmoid { gw: usize, gh: usize },
}

/// How the final score is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreRule {
    /// The best class score alone (YOLOv8: no objectness).
    Class,
    /// Objectness times the best class score (YOLOv5).
    ObjTimesClass { obj_channel: usize },
    /// `obj^a * cls^b` (FastestDet: a = 0.6, b = 0.4).
    WeightedProduct {
        obj_channel: usize,
        obj_exp: f32,
        cls_exp: f32,
    },
    /// A score channel computed in the graph (end-to-end exports).
    Channel { channel: usize },
}

/// Where a candidate's class comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClassRule {
    /// The best of `num_classes` score channels starting at `first`.
    Argmax { first: usize },
    /// A channel holding the class index (as a float).
    Index { channel: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub format: DetectFormat,
    /// Index of the output tensor.
    pub output: usize,
    pub candidates: usize,
    pub channels: usize,
    /// Element offset between consecutive candidates, and between consecutive channels.
    pub cand_stride: usize,
    pub chan_stride: usize,
    /// First of the four box channels.
    pub box_channel: usize,
    pub boxes: BoxEncoding,
    pub score: ScoreRule,
    pub class: ClassRule,
    /// Classes the output distinguishes (0 when only class names could say).
    pub num_classes: usize,
    /// Whether perceptd runs NMS (false when the graph already did).
    pub nms: bool,
}

/// The output does not fit the layout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LayoutMismatch(pub String);

impl Layout {
    /// A `[1, A, B]` output read candidates-first (`[1, N, C]`) or channels-first (`[1, C, N]`).
    fn three_axis(
        format: DetectFormat,
        output: usize,
        channels_first: bool,
        channels: usize,
        candidates: usize,
    ) -> Layout {
        let (cand_stride, chan_stride) = if channels_first {
            (1, candidates)
        } else {
            (channels, 1)
        };
        Layout {
            format,
            output,
            candidates,
            channels,
            cand_stride,
            chan_stride,
            box_channel: 0,
            boxes: BoxEncoding::CxCyWhPixels,
            score: ScoreRule::Class,
            class: ClassRule::Argmax { first: 4 },
            num_classes: 0,
            nms: true,
        }
    }

    /// The layout `format` gives for an output of `shape` (`-1` for dynamic axes); `nc` is the
    /// number of class names when known.
    pub fn resolve(
        format: DetectFormat,
        output: usize,
        shape: &[i64],
        nc: Option<usize>,
    ) -> Result<Layout, LayoutMismatch> {
        let bad = |why: &str| LayoutMismatch(format!("output {output} has shape {shape:?}: {why}"));
        let batch_ok = |b: i64| b == 1 || b == -1;
        match format {
            DetectFormat::Yolov8 => {
                let [b, a, c] = shape else {
                    return Err(bad(
                        "the yolov8 layout is [1, 4+nc, N] or [1, N, 4+nc] (3 axes)",
                    ));
                };
                if !batch_ok(*b) {
                    return Err(bad("batch axis must be 1"));
                }
                let (a, c) = (*a, *c);
                // Which axis holds 4+nc: the one that matches the class names, else the smaller.
                let channels_first = match nc {
                    Some(n) if a == 4 + n as i64 && c != 4 + n as i64 => true,
                    Some(n) if c == 4 + n as i64 && a != 4 + n as i64 => false,
                    Some(n) if a != 4 + n as i64 && c != 4 + n as i64 => {
                        return Err(bad(&format!(
                            "{n} class names need an axis of {} (4 box + {n} class channels); set `classes` to the model's classes",
                            4 + n
                        )));
                    }
                    _ => c < 0 || (a > 0 && a <= c),
                };
                let (channels, candidates) = if channels_first { (a, c) } else { (c, a) };
                if channels < 5 {
                    return Err(bad("needs at least 5 channels (4 box + classes)"));
                }
                // Candidates may be dynamic (-1): strides are fixed up per run.
                let mut l = Layout::three_axis(
                    format,
                    output,
                    channels_first,
                    channels as usize,
                    candidates.max(0) as usize,
                );
                l.num_classes = channels as usize - 4;
                Ok(l)
            }
            DetectFormat::Yolov5 => {
                let [b, n, c] = shape else {
                    return Err(bad("the yolov5 layout is [1, N, 5+nc] (3 axes)"));
                };
                if !batch_ok(*b) || *c < 6 {
                    return Err(bad(
                        "the yolov5 layout is [1, N, 5+nc]: batch 1, at least 6 channels (4 box, objectness, classes)",
                    ));
                }
                let nc_model = (*c - 5) as usize;
                if let Some(names) = nc
                    && names != nc_model
                {
                    return Err(bad(&format!(
                        "{nc_model} class channels but {names} class names; set `classes` to the model's {nc_model} classes"
                    )));
                }
                let mut l =
                    Layout::three_axis(format, output, false, *c as usize, (*n).max(0) as usize);
                l.score = ScoreRule::ObjTimesClass { obj_channel: 4 };
                l.class = ClassRule::Argmax { first: 5 };
                l.num_classes = nc_model;
                Ok(l)
            }
            DetectFormat::YoloEnd2end => {
                let [b, k, 6] = shape else {
                    return Err(bad(
                        "the yolo_end2end layout is [1, K, 6] = x1, y1, x2, y2, score, class",
                    ));
                };
                if !batch_ok(*b) {
                    return Err(bad("batch axis must be 1"));
                }
                let mut l = Layout::three_axis(format, output, false, 6, (*k).max(0) as usize);
                l.boxes = BoxEncoding::X1Y1X2Y2Pixels;
                l.score = ScoreRule::Channel { channel: 4 };
                l.class = ClassRule::Index { channel: 5 };
                l.num_classes = nc.unwrap_or(0);
                l.nms = false;
                Ok(l)
            }
            DetectFormat::Fastestdet => {
                let [b, ch, gh, gw] = shape else {
                    return Err(bad("the fastestdet layout is [1, 5+nc, S, S] (4 axes)"));
                };
                if !batch_ok(*b) {
                    return Err(bad("batch axis must be 1"));
                }
                if *ch < 6 || *gh <= 0 || *gw <= 0 {
                    return Err(bad("needs 5+nc channels and a fixed grid"));
                }
                let nc_model = (*ch - 5) as usize;
                if let Some(n) = nc
                    && n != nc_model
                {
                    return Err(bad(&format!(
                        "{nc_model} class channels but {n} class names; set `classes` to the model's {nc_model} classes"
                    )));
                }
                let (gh, gw) = (*gh as usize, *gw as usize);
                Ok(Layout {
                    format,
                    output,
                    candidates: gh * gw,
                    channels: *ch as usize,
                    cand_stride: 1,
                    chan_stride: gh * gw,
                    box_channel: 1,
                    boxes: BoxEncoding::GridTanhSigmoid { gw, gh },
                    score: ScoreRule::WeightedProduct {
                        obj_channel: 0,
                        obj_exp: 0.6,
                        cls_exp: 0.4,
                    },
                    class: ClassRule::Argmax { first: 5 },
                    num_classes: nc_model,
                    nms: true,
                })
            }
        }
    }

    /// The layout with the candidate count of an actual output (for dynamic axes).
    pub fn for_shape(&self, shape: &[i64]) -> Result<Layout, LayoutMismatch> {
        let mut l = self.clone();
        if !matches!(self.boxes, BoxEncoding::GridTanhSigmoid { .. }) {
            let [_, a, c] = shape else {
                return Err(LayoutMismatch(format!(
                    "output shape {shape:?} changed rank"
                )));
            };
            let channels_first = self.chan_stride != 1;
            let (ch, n) = if channels_first { (*a, *c) } else { (*c, *a) };
            if ch as usize != self.channels {
                return Err(LayoutMismatch(format!(
                    "output shape {shape:?} has {ch} channels, expected {}",
                    self.channels
                )));
            }
            l.candidates = n.max(0) as usize;
            if channels_first {
                l.chan_stride = l.candidates;
            }
        }
        Ok(l)
    }

    /// Candidates above `threshold`, boxes `[x1, y1, x2, y2]` in model-input pixels
    /// (`input_w x input_h`). `keep` filters classes by index.
    pub fn decode(
        &self,
        data: &[f32],
        input_w: f32,
        input_h: f32,
        threshold: f32,
        keep: Option<&[bool]>,
        out: &mut Vec<Candidate>,
    ) {
        debug_assert!(data.len() >= self.candidates * self.channels);
        let at = |i: usize, ch: usize| data[i * self.cand_stride + ch * self.chan_stride];
        for i in 0..self.candidates {
            // Cheap rejection before the class scan where objectness exists.
            if let ScoreRule::WeightedProduct { obj_channel, .. }
            | ScoreRule::ObjTimesClass { obj_channel } = self.score
                && at(i, obj_channel) <= 0.0
            {
                continue;
            }
            let (class, best) = match self.class {
                ClassRule::Argmax { first } => {
                    let (mut best, mut best_c) = (f32::NEG_INFINITY, 0usize);
                    for c in 0..self.num_classes {
                        let v = at(i, first + c);
                        if v > best {
                            best = v;
                            best_c = c;
                        }
                    }
                    (best_c, best)
                }
                ClassRule::Index { channel } => {
                    let v = at(i, channel);
                    if !(v >= 0.0 && v < u32::MAX as f32) {
                        continue;
                    }
                    (v.round() as usize, 0.0)
                }
            };
            let score = match self.score {
                ScoreRule::Class => best,
                ScoreRule::ObjTimesClass { obj_channel } => at(i, obj_channel) * best,
                ScoreRule::WeightedProduct {
                    obj_channel,
                    obj_exp,
                    cls_exp,
                } => at(i, obj_channel).powf(obj_exp) * best.max(0.0).powf(cls_exp),
                ScoreRule::Channel { channel } => at(i, channel),
            };
            if score.is_nan()
                || score <= threshold
                || keep.is_some_and(|k| !k.get(class).copied().unwrap_or(false))
            {
                continue;
            }
            let b = self.box_channel;
            let bbox = match self.boxes {
                BoxEncoding::CxCyWhPixels => {
                    let (cx, cy, w, h) = (at(i, b), at(i, b + 1), at(i, b + 2), at(i, b + 3));
                    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
                }
                BoxEncoding::X1Y1X2Y2Pixels => [at(i, b), at(i, b + 1), at(i, b + 2), at(i, b + 3)],
                BoxEncoding::GridTanhSigmoid { gw, gh } => {
                    let (gx, gy) = ((i % gw) as f32, (i / gw) as f32);
                    let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
                    let cx = (gx + at(i, b).tanh()) / gw as f32 * input_w;
                    let cy = (gy + at(i, b + 1).tanh()) / gh as f32 * input_h;
                    let (w, h) = (sig(at(i, b + 2)) * input_w, sig(at(i, b + 3)) * input_h);
                    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
                }
            };
            out.push(Candidate {
                class_id: class as u32,
                score,
                bbox,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolov8_axes_are_found_both_ways() {
        let l = Layout::resolve(DetectFormat::Yolov8, 0, &[1, 84, 8400], None).unwrap();
        assert_eq!(
            (
                l.channels,
                l.candidates,
                l.cand_stride,
                l.chan_stride,
                l.num_classes
            ),
            (84, 8400, 1, 8400, 80)
        );
        let t = Layout::resolve(DetectFormat::Yolov8, 0, &[1, 8400, 84], None).unwrap();
        assert_eq!(
            (t.channels, t.candidates, t.cand_stride, t.chan_stride),
            (84, 8400, 84, 1)
        );
        // Class names decide when the shape alone is ambiguous-looking.
        let s = Layout::resolve(DetectFormat::Yolov8, 0, &[1, 7, 2100], Some(3)).unwrap();
        assert_eq!(s.num_classes, 3);
        let e = Layout::resolve(DetectFormat::Yolov8, 0, &[1, 84, 8400], Some(3)).unwrap_err();
        assert!(
            e.0.contains("[1, 84, 8400]") && e.0.contains("classes"),
            "{e}"
        );
    }

    #[test]
    fn wrong_rank_names_the_shape() {
        let e = Layout::resolve(DetectFormat::Yolov8, 0, &[1, 85, 22, 22], None).unwrap_err();
        assert!(e.0.contains("[1, 85, 22, 22]"), "{e}");
        let e = Layout::resolve(DetectFormat::Fastestdet, 0, &[1, 84, 8400], None).unwrap_err();
        assert!(e.0.contains("[1, 84, 8400]"), "{e}");
    }

    #[test]
    fn yolov8_decode_reads_one_candidate() {
        // 2 candidates, 4 + 2 classes, channels first: candidate 1 is class 1 at 0.9.
        let l = Layout::resolve(DetectFormat::Yolov8, 0, &[1, 6, 2], Some(2)).unwrap();
        #[rustfmt::skip]
        let data = [
            10.0, 100.0, // cx
            10.0, 50.0,  // cy
            4.0, 20.0,   // w
            4.0, 10.0,   // h
            0.1, 0.2,    // class 0
            0.1, 0.9,    // class 1
        ];
        let mut out = vec![];
        l.decode(&data, 640.0, 640.0, 0.25, None, &mut out);
        assert_eq!(
            out,
            vec![Candidate {
                class_id: 1,
                score: 0.9,
                bbox: [90.0, 45.0, 110.0, 55.0]
            }]
        );
        out.clear();
        l.decode(&data, 640.0, 640.0, 0.25, Some(&[true, false]), &mut out);
        assert!(out.is_empty(), "class filter applies");
    }

    #[test]
    fn yolov5_reads_objectness_times_class() {
        // 2 candidates first, 5 + 2 channels: candidate 0 has obj 0.5 x cls 0.9 = 0.45.
        let l = Layout::resolve(DetectFormat::Yolov5, 0, &[1, 2, 7], None).unwrap();
        assert_eq!((l.num_classes, l.cand_stride, l.chan_stride), (2, 7, 1));
        #[rustfmt::skip]
        let data = [
            50.0, 50.0, 10.0, 10.0, 0.5, 0.9, 0.1,
            10.0, 10.0, 4.0, 4.0, 0.1, 0.2, 0.9,
        ];
        let mut out = vec![];
        l.decode(&data, 320.0, 320.0, 0.25, None, &mut out);
        assert_eq!(
            out,
            vec![Candidate {
                class_id: 0,
                score: 0.45,
                bbox: [45.0, 45.0, 55.0, 55.0]
            }]
        );
        let e = Layout::resolve(DetectFormat::Yolov5, 0, &[1, 2, 7], Some(3)).unwrap_err();
        assert!(e.0.contains("2 class channels but 3 class names"), "{e}");
    }

    #[test]
    fn end2end_takes_score_and_class_from_channels_without_nms() {
        let l = Layout::resolve(DetectFormat::YoloEnd2end, 0, &[1, 3, 6], Some(80)).unwrap();
        assert!(!l.nms);
        #[rustfmt::skip]
        let data = [
            1.0, 2.0, 11.0, 12.0, 0.9, 7.0,
            1.0, 2.0, 11.0, 12.0, 0.8, 7.0, // overlaps the first fully: kept, NMS is the graph's
            5.0, 5.0, 6.0, 6.0, 0.1, 3.0,
        ];
        let mut out = vec![];
        l.decode(&data, 640.0, 640.0, 0.25, None, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].class_id, out[0].bbox), (7, [1.0, 2.0, 11.0, 12.0]));
        assert!(Layout::resolve(DetectFormat::YoloEnd2end, 0, &[1, 300, 7], None).is_err());
    }
}

//! Detector output layouts as data: which tensor, which axis holds candidates and which holds
//! channels, how boxes are encoded, whether there is an objectness channel. One decoder reads
//! them all.

use super::nms::Candidate;
use crate::config::DetectFormat;

/// How the four box channels encode a box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoxEncoding {
    /// Centre x, centre y, width, height in model-input pixels (Ultralytics).
    CxCyWhPixels,
    /// FastestDet's grid: `cx = (gx + tanh(dx)) / gw`, `w = sigmoid(w)`, as fractions of the
    /// image, candidates ordered row-major over a `gw x gh` grid.
    GridTanhSigmoid { gw: usize, gh: usize },
}

/// How the final score is made from objectness and the best class score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreRule {
    /// The best class score alone (YOLOv8: no objectness).
    Class,
    /// `obj^a * cls^b` (FastestDet: a = 0.6, b = 0.4).
    WeightedProduct {
        obj_channel: usize,
        obj_exp: f32,
        cls_exp: f32,
    },
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
    pub class_channel: usize,
    pub num_classes: usize,
}

/// The output does not fit the layout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LayoutMismatch(pub String);

impl Layout {
    /// The layout `format` gives for an output of `shape` (`-1` for dynamic axes); `nc` is the
    /// number of class names when known.
    pub fn resolve(
        format: DetectFormat,
        output: usize,
        shape: &[i64],
        nc: Option<usize>,
    ) -> Result<Layout, LayoutMismatch> {
        let bad = |why: &str| LayoutMismatch(format!("output {output} has shape {shape:?}: {why}"));
        match format {
            DetectFormat::Yolov8 => {
                let [b, a, c] = shape else {
                    return Err(bad(
                        "the yolov8 layout is [1, 4+nc, N] or [1, N, 4+nc] (3 axes)",
                    ));
                };
                if *b != 1 && *b != -1 {
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
                let channels = channels as usize;
                // Candidates may be dynamic (-1): strides are fixed up per run.
                let candidates = candidates.max(0) as usize;
                let (cand_stride, chan_stride) = if channels_first {
                    (1, candidates)
                } else {
                    (channels, 1)
                };
                Ok(Layout {
                    format,
                    output,
                    candidates,
                    channels,
                    cand_stride,
                    chan_stride,
                    box_channel: 0,
                    boxes: BoxEncoding::CxCyWhPixels,
                    score: ScoreRule::Class,
                    class_channel: 4,
                    num_classes: channels - 4,
                })
            }
            DetectFormat::Fastestdet => {
                let [b, ch, gh, gw] = shape else {
                    return Err(bad("the fastestdet layout is [1, 5+nc, S, S] (4 axes)"));
                };
                if *b != 1 && *b != -1 {
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
                    class_channel: 5,
                    num_classes: nc_model,
                })
            }
        }
    }

    /// The layout with the candidate count of an actual output (for dynamic axes).
    pub fn for_shape(&self, shape: &[i64]) -> Result<Layout, LayoutMismatch> {
        let mut l = self.clone();
        if self.format == DetectFormat::Yolov8 {
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
            l.candidates = n as usize;
            if channels_first {
                l.chan_stride = l.candidates;
            }
        }
        Ok(l)
    }

    /// Candidates above `threshold`, boxes `[x1, y1, x2, y2]` in model-input pixels
    /// (`input_w x input_h`), best class only. `keep` filters classes.
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
            if let ScoreRule::WeightedProduct { obj_channel, .. } = self.score
                && at(i, obj_channel) <= 0.0
            {
                continue;
            }
            let (mut best, mut best_c) = (f32::NEG_INFINITY, 0usize);
            for c in 0..self.num_classes {
                let v = at(i, self.class_channel + c);
                if v > best {
                    best = v;
                    best_c = c;
                }
            }
            let score = match self.score {
                ScoreRule::Class => best,
                ScoreRule::WeightedProduct {
                    obj_channel,
                    obj_exp,
                    cls_exp,
                } => at(i, obj_channel).powf(obj_exp) * best.max(0.0).powf(cls_exp),
            };
            if score.is_nan() || score <= threshold || keep.is_some_and(|k| !k[best_c]) {
                continue;
            }
            let b = self.box_channel;
            let (cx, cy, w, h) = match self.boxes {
                BoxEncoding::CxCyWhPixels => (at(i, b), at(i, b + 1), at(i, b + 2), at(i, b + 3)),
                BoxEncoding::GridTanhSigmoid { gw, gh } => {
                    let (gx, gy) = ((i % gw) as f32, (i / gw) as f32);
                    let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
                    (
                        (gx + at(i, b).tanh()) / gw as f32 * input_w,
                        (gy + at(i, b + 1).tanh()) / gh as f32 * input_h,
                        sig(at(i, b + 2)) * input_w,
                        sig(at(i, b + 3)) * input_h,
                    )
                }
            };
            out.push(Candidate {
                class_id: best_c as u32,
                score,
                bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
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
}

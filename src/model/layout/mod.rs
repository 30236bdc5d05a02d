//! Detector output layouts as data: which output tensors, which axis holds candidates and which
//! holds channels, how boxes are encoded, where the score and the class come from, whether NMS
//! is already in the graph. One decoder reads them all.

use super::nms::Candidate;
use crate::config::DetectFormat;

/// Output tensors a layout reads at most (Faster R-CNN: boxes, scores, labels).
pub const MAX_TENSORS: usize = 3;

/// YOLOX's three detection levels.
pub const YOLOX_STRIDES: [u32; 3] = [8, 16, 32];

/// Where one per-candidate value lives: which of the layout's tensors, which channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chan {
    pub tensor: usize,
    pub channel: usize,
}

const fn ch(channel: usize) -> Chan {
    Chan { tensor: 0, channel }
}

/// The element type of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F32,
    I64,
    Other,
}

/// What the session says about one output, before any run.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputInfo {
    pub name: String,
    pub ty: ElemType,
    /// `-1` for dynamic axes.
    pub shape: Vec<i64>,
}

/// How one output tensor is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Index among the session's outputs.
    pub output: usize,
    pub rank: usize,
    /// Axis of the candidates; `None` for a fixed grid (the last two axes).
    pub cand_axis: Option<usize>,
    /// Axis of the channels; `None` when the tensor holds one value per candidate.
    pub chan_axis: Option<usize>,
    pub channels: usize,
    /// Element offset between consecutive candidates, and between consecutive channels.
    pub cand_stride: usize,
    pub chan_stride: usize,
    /// Whether axis 0 is a batch axis (one image per index).
    pub batched: bool,
    /// Integer output (class labels), read converted to f32.
    pub int64: bool,
}

impl View {
    const UNUSED: View = View {
        output: usize::MAX,
        rank: 0,
        cand_axis: None,
        chan_axis: None,
        channels: 0,
        cand_stride: 0,
        chan_stride: 0,
        batched: true,
        int64: false,
    };

    /// A `[B, A, C]` output read candidates-first (`[B, N, C]`) or channels-first (`[B, C, N]`).
    fn three_axis(output: usize, channels_first: bool, channels: usize, candidates: usize) -> View {
        let (cand_stride, chan_stride) = if channels_first {
            (1, candidates)
        } else {
            (channels, 1)
        };
        View {
            output,
            rank: 3,
            cand_axis: Some(if channels_first { 2 } else { 1 }),
            chan_axis: Some(if channels_first { 1 } else { 2 }),
            channels,
            cand_stride,
            chan_stride,
            batched: true,
            int64: false,
        }
    }
}

/// One level of a strided grid (YOLOX): candidates `start..start + gw * gh`, row-major.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridLevel {
    pub start: usize,
    pub gw: usize,
    pub stride: f32,
}

/// How the four box channels encode a box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoxEncoding {
    /// Centre x, centre y, width, height in model-input pixels (Ultralytics, YOLOv5).
    CxCyWhPixels,
    /// Corners x1, y1, x2, y2 in model-input pixels (end-to-end exports, Faster R-CNN).
    X1Y1X2Y2Pixels,
    /// FastestDet's grid: `cx = (gx + tanh(dx)) / gw`, `w = sigmoid(w)`, as fractions of the
    /// image, candidates ordered row-major over a `gw x gh` grid.
    GridTanhSigmoid { gw: usize, gh: usize },
    /// YOLOX's raw head: `cx = (dx + gx) * stride`, `w = exp(dw) * stride`, over the levels of
    /// strides 8, 16 and 32, each row-major, concatenated.
    GridExp {
        levels: [GridLevel; 3],
        total: usize,
    },
}

/// How the final score is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreRule {
    /// The best class score alone (YOLOv8: no objectness).
    Class,
    /// Objectness times the best class score (YOLOv5, YOLOX).
    ObjTimesClass { obj: Chan },
    /// `obj^a * cls^b` (FastestDet: a = 0.6, b = 0.4).
    WeightedProduct {
        obj: Chan,
        obj_exp: f32,
        cls_exp: f32,
    },
    /// A score computed in the graph (end-to-end exports, Faster R-CNN).
    Channel { at: Chan },
}

/// Where a candidate's class comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClassRule {
    /// The best of `num_classes` score channels starting at `first`.
    Argmax { first: Chan },
    /// A channel holding the class index.
    Index { at: Chan },
}

/// An instance-mask head (Ultralytics `-seg` exports): after the class channels, `coefs`
/// mask coefficients per candidate; a second output `[1, coefs, ph, pw]` holds the prototypes,
/// at a fraction of the input (1/4 in Ultralytics). A mask is `sigmoid(coefficients x
/// prototypes)`, cropped to the box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskHead {
    /// The first coefficient channel.
    pub coef_at: Chan,
    pub coefs: usize,
    /// Index among the session's outputs of the prototypes.
    pub protos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub format: DetectFormat,
    /// The output tensors read: the first `n_views` (an array, so that fitting a layout to a
    /// run's shapes copies it without allocating).
    pub views: [View; MAX_TENSORS],
    pub n_views: usize,
    /// Candidates per image (fixed up per run for dynamic axes).
    pub candidates: usize,
    /// The first of the four box channels.
    pub box_at: Chan,
    pub boxes: BoxEncoding,
    pub score: ScoreRule,
    pub class: ClassRule,
    /// Classes the output distinguishes (for `Index` layouts: the class names given).
    pub num_classes: usize,
    /// Whether perceptd runs NMS (false when the graph already did).
    pub nms: bool,
    /// The instance-mask head, when the model has one.
    pub mask: Option<MaskHead>,
}

/// The output does not fit the layout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LayoutMismatch(pub String);

/// Reads one channel (and the ones after it) of every candidate.
#[derive(Clone, Copy)]
struct Reader<'a> {
    data: &'a [f32],
    cand_stride: usize,
    chan_stride: usize,
    base: usize,
}

impl Reader<'_> {
    #[inline(always)]
    fn get(&self, i: usize, k: usize) -> f32 {
        self.data[i * self.cand_stride + (self.base + k) * self.chan_stride]
    }
}

/// Candidates of a strided grid of `w x h` pixels: the levels and their total.
pub fn grid_levels(w: u32, h: u32) -> ([GridLevel; 3], usize) {
    let mut start = 0;
    let levels = YOLOX_STRIDES.map(|s| {
        let (gw, gh) = ((w / s) as usize, (h / s) as usize);
        let l = GridLevel {
            start,
            gw,
            stride: s as f32,
        };
        start += gw * gh;
        l
    });
    (levels, start)
}

/// What resolving a layout needs besides the outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hints {
    /// Class names known (from the config or the metadata).
    pub nc: Option<usize>,
    /// The model input size the boxes are in.
    pub input_w: u32,
    pub input_h: u32,
    /// YOLOX exported with the box decode in the graph (`decode_in_inference=True`).
    pub yolox_decoded: bool,
}

impl Layout {
    fn single(format: DetectFormat, view: View, candidates: usize) -> Layout {
        Layout {
            format,
            views: [view, View::UNUSED, View::UNUSED],
            n_views: 1,
            candidates,
            box_at: ch(0),
            boxes: BoxEncoding::CxCyWhPixels,
            score: ScoreRule::Class,
            class: ClassRule::Argmax { first: ch(4) },
            num_classes: 0,
            nms: true,
            mask: None,
        }
    }

    /// The layout `format` gives for the session's outputs.
    pub fn resolve(
        format: DetectFormat,
        outputs: &[OutputInfo],
        hints: &Hints,
    ) -> Result<Layout, LayoutMismatch> {
        if format == DetectFormat::FasterRcnn {
            return Self::faster_rcnn(outputs, hints);
        }
        let Some(out) = outputs.first() else {
            return Err(LayoutMismatch("the model has no output".into()));
        };
        let shape = &out.shape[..];
        let bad =
            |why: &str| LayoutMismatch(format!("output {} has shape {shape:?}: {why}", out.name));
        if out.ty != ElemType::F32 {
            return Err(bad("it is not f32"));
        }
        let nc = hints.nc;
        // Rank-3 outputs carry the batch first: 1, dynamic, or the batch the input takes.
        let batch_ok = |b: i64| b == -1 || b >= 1;
        let names_fit = |nc_model: usize| match nc {
            Some(names) if names != nc_model => Err(bad(&format!(
                "{nc_model} class channels but {names} class names; set `classes` to the model's {nc_model} classes"
            ))),
            _ => Ok(()),
        };
        match format {
            DetectFormat::Yolov8 => {
                let [b, a, c] = shape else {
                    return Err(bad(
                        "the yolov8 layout is [1, 4+nc, N] or [1, N, 4+nc] (3 axes), with a second output [1, 32, h, w] of mask prototypes for -seg models",
                    ));
                };
                if !batch_ok(*b) {
                    return Err(bad("batch axis must be 1 or dynamic"));
                }
                let (a, c) = (*a, *c);
                // A `-seg` export: a second f32 output [B, k, h, w] of prototypes, whose k
                // coefficients follow the class channels.
                let protos =
                    outputs.iter().enumerate().skip(1).find(|(_, o)| {
                        o.ty == ElemType::F32 && o.shape.len() == 4 && o.shape[1] > 0
                    });
                let coefs = protos.map_or(0, |(_, o)| o.shape[1]);
                let per_box = 4 + coefs;
                // Which axis holds 4+nc(+k): the one that matches the class names, else the smaller.
                let channels_first = match nc {
                    Some(n) if a == per_box + n as i64 && c != per_box + n as i64 => true,
                    Some(n) if c == per_box + n as i64 && a != per_box + n as i64 => false,
                    Some(n) if a != per_box + n as i64 && c != per_box + n as i64 => {
                        let masks = if coefs > 0 {
                            format!(" + {coefs} mask coefficients")
                        } else {
                            String::new()
                        };
                        return Err(bad(&format!(
                            "{n} class names need an axis of {} (4 box + {n} class channels{masks}); set `classes` to the model's classes",
                            per_box + n as i64
                        )));
                    }
                    _ => c < 0 || (a > 0 && a <= c),
                };
                let (channels, candidates) = if channels_first { (a, c) } else { (c, a) };
                if channels < per_box + 1 {
                    return Err(bad(&if coefs > 0 {
                        format!(
                            "needs at least {} channels (4 box + classes + {coefs} mask coefficients, for the prototypes {:?})",
                            per_box + 1,
                            protos.map(|(_, o)| &o.shape[..]).unwrap_or_default()
                        )
                    } else {
                        "needs at least 5 channels (4 box + classes)".to_string()
                    }));
                }
                // Candidates may be dynamic (-1): strides are fixed up per run.
                let n = candidates.max(0) as usize;
                let view = View::three_axis(0, channels_first, channels as usize, n);
                let mut l = Layout::single(format, view, n);
                l.num_classes = (channels - per_box) as usize;
                l.mask = protos.map(|(i, _)| MaskHead {
                    coef_at: ch(4 + l.num_classes),
                    coefs: coefs as usize,
                    protos: i,
                });
                Ok(l)
            }
            DetectFormat::Yolov5 | DetectFormat::Yolox => {
                let name = if format == DetectFormat::Yolov5 {
                    "yolov5"
                } else {
                    "yolox"
                };
                let [b, n, c] = shape else {
                    return Err(bad(&format!("the {name} layout is [1, N, 5+nc] (3 axes)")));
                };
                if !batch_ok(*b) || *c < 6 {
                    return Err(bad(&format!(
                        "the {name} layout is [1, N, 5+nc]: batch 1, at least 6 channels (4 box, objectness, classes)"
                    )));
                }
                let nc_model = (*c - 5) as usize;
                names_fit(nc_model)?;
                let cands = (*n).max(0) as usize;
                let view = View::three_axis(0, false, *c as usize, cands);
                let mut l = Layout::single(format, view, cands);
                l.score = ScoreRule::ObjTimesClass { obj: ch(4) };
                l.class = ClassRule::Argmax { first: ch(5) };
                l.num_classes = nc_model;
                if format == DetectFormat::Yolox && !hints.yolox_decoded {
                    let (w, h) = (hints.input_w, hints.input_h);
                    if w % 32 != 0 || h % 32 != 0 {
                        return Err(bad(&format!(
                            "YOLOX decodes boxes over grids of strides 8, 16 and 32, so the input ({w}x{h}) must be a multiple of 32; set input.width and input.height"
                        )));
                    }
                    let (levels, total) = grid_levels(w, h);
                    if *n > 0 && *n as usize != total {
                        return Err(bad(&format!(
                            "a {w}x{h} input gives {total} grid cells at strides 8, 16 and 32, not {n}; set input.width and input.height to the size the model was exported at{}",
                            if *n as usize == 3 * total {
                                " (3 anchors per cell: this looks like `format: yolov5`)"
                            } else {
                                ""
                            }
                        )));
                    }
                    l.boxes = BoxEncoding::GridExp { levels, total };
                }
                Ok(l)
            }
            DetectFormat::YoloEnd2end => {
                let [b, k, 6] = shape else {
                    return Err(bad(
                        "the yolo_end2end layout is [1, K, 6] = x1, y1, x2, y2, score, class",
                    ));
                };
                if !batch_ok(*b) {
                    return Err(bad("batch axis must be 1 or dynamic"));
                }
                let k = (*k).max(0) as usize;
                let mut l = Layout::single(format, View::three_axis(0, false, 6, k), k);
                l.boxes = BoxEncoding::X1Y1X2Y2Pixels;
                l.score = ScoreRule::Channel { at: ch(4) };
                l.class = ClassRule::Index { at: ch(5) };
                l.num_classes = nc.unwrap_or(0);
                l.nms = false;
                Ok(l)
            }
            DetectFormat::Fastestdet => {
                let [b, c, gh, gw] = shape else {
                    return Err(bad("the fastestdet layout is [1, 5+nc, S, S] (4 axes)"));
                };
                if *b != 1 {
                    return Err(bad("batch axis must be 1"));
                }
                if *c < 6 || *gh <= 0 || *gw <= 0 {
                    return Err(bad("needs 5+nc channels and a fixed grid"));
                }
                let nc_model = (*c - 5) as usize;
                names_fit(nc_model)?;
                let (gh, gw) = (*gh as usize, *gw as usize);
                let view = View {
                    output: 0,
                    rank: 4,
                    cand_axis: None,
                    chan_axis: Some(1),
                    channels: *c as usize,
                    cand_stride: 1,
                    chan_stride: gh * gw,
                    batched: true,
                    int64: false,
                };
                let mut l = Layout::single(format, view, gh * gw);
                l.box_at = ch(1);
                l.boxes = BoxEncoding::GridTanhSigmoid { gw, gh };
                l.score = ScoreRule::WeightedProduct {
                    obj: ch(0),
                    obj_exp: 0.6,
                    cls_exp: 0.4,
                };
                l.class = ClassRule::Argmax { first: ch(5) };
                l.num_classes = nc_model;
                Ok(l)
            }
            DetectFormat::FasterRcnn => unreachable!("handled above"),
            DetectFormat::Segmentation => Err(LayoutMismatch(
                "a segmentation model is not a detector; run it in a `segment` stage".into(),
            )),
        }
    }

    /// torchvision's detection export: `boxes [N, 4]` (x1, y1, x2, y2 in input pixels), `labels
    /// [N]` int64, `scores [N]`; NMS is in the graph. Tensors are told apart by type and rank,
    /// the names breaking ties.
    fn faster_rcnn(outputs: &[OutputInfo], hints: &Hints) -> Result<Layout, LayoutMismatch> {
        let pick = |want: &str,
                    ok: &dyn Fn(&OutputInfo) -> bool|
         -> Result<usize, LayoutMismatch> {
            let found: Vec<usize> = (0..outputs.len()).filter(|&i| ok(&outputs[i])).collect();
            match found[..] {
                [i] => Ok(i),
                [] => Err(LayoutMismatch(format!(
                    "no output is {want}; the faster_rcnn layout is boxes f32 [N, 4], labels int64 [N], scores f32 [N] (torchvision's export)"
                ))),
                _ => found
                    .iter()
                    .copied()
                    .find(|&i| {
                        outputs[i]
                            .name
                            .contains(want.split(' ').next().unwrap_or(""))
                    })
                    .ok_or_else(|| {
                        LayoutMismatch(format!(
                            "several outputs could be {want}: {}",
                            found
                                .iter()
                                .map(|&i| outputs[i].name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    }),
            }
        };
        let boxes = pick("boxes f32 [N, 4]", &|o| {
            o.ty == ElemType::F32 && o.shape.len() == 2 && o.shape[1] == 4
        })?;
        let scores = pick("scores f32 [N]", &|o| {
            o.ty == ElemType::F32 && o.shape.len() == 1
        })?;
        let labels = pick("labels int64 [N]", &|o| {
            o.ty == ElemType::I64 && o.shape.len() == 1
        })?;
        let one = |output: usize, int64: bool| View {
            output,
            rank: 1,
            cand_axis: Some(0),
            chan_axis: None,
            channels: 1,
            cand_stride: 1,
            chan_stride: 0,
            batched: false,
            int64,
        };
        let n = outputs[boxes].shape[0].max(0) as usize;
        Ok(Layout {
            format: DetectFormat::FasterRcnn,
            n_views: 3,
            views: [
                View {
                    output: boxes,
                    rank: 2,
                    cand_axis: Some(0),
                    chan_axis: Some(1),
                    channels: 4,
                    cand_stride: 4,
                    chan_stride: 1,
                    batched: false,
                    int64: false,
                },
                one(scores, false),
                one(labels, true),
            ],
            candidates: n,
            box_at: ch(0),
            boxes: BoxEncoding::X1Y1X2Y2Pixels,
            score: ScoreRule::Channel {
                at: Chan {
                    tensor: 1,
                    channel: 0,
                },
            },
            class: ClassRule::Index {
                at: Chan {
                    tensor: 2,
                    channel: 0,
                },
            },
            num_classes: hints.nc.unwrap_or(0),
            nms: false,
            mask: None,
        })
    }

    /// A mask head's coefficients of candidate `index` into `out` (`data`: view 0's values for
    /// one image, after [`Layout::for_shapes`]).
    pub fn coefficients(&self, data: &[f32], index: usize, out: &mut Vec<f32>) {
        out.clear();
        if let Some(m) = self.mask {
            let v = &self.views[m.coef_at.tensor];
            out.extend(
                (0..m.coefs)
                    .map(|k| data[index * v.cand_stride + (m.coef_at.channel + k) * v.chan_stride]),
            );
        }
    }

    /// Whether several images can go through one call (every output has a batch axis).
    pub fn batchable(&self) -> bool {
        self.views().iter().all(|v| v.batched)
    }

    /// The views in use.
    pub fn views(&self) -> &[View] {
        &self.views[..self.n_views]
    }

    /// The layout with the candidate counts of actual outputs (`shapes[k]` is the shape of
    /// view `k`'s output, batch included).
    pub fn for_shapes(&self, shapes: &[&[i64]]) -> Result<Layout, LayoutMismatch> {
        let mut l = *self;
        let mut n = None;
        if shapes.len() != self.n_views {
            return Err(LayoutMismatch(format!(
                "{} output shapes for {} outputs",
                shapes.len(),
                self.n_views
            )));
        }
        for (v, shape) in l.views[..self.n_views].iter_mut().zip(shapes) {
            if shape.len() != v.rank {
                return Err(LayoutMismatch(format!(
                    "output shape {shape:?} has rank {}, expected {}",
                    shape.len(),
                    v.rank
                )));
            }
            let Some(ca) = v.cand_axis else {
                continue;
            };
            if let Some(ha) = v.chan_axis
                && shape[ha] != v.channels as i64
            {
                return Err(LayoutMismatch(format!(
                    "output shape {shape:?} has {} channels, expected {}",
                    shape[ha], v.channels
                )));
            }
            let c = shape[ca].max(0) as usize;
            if n.is_some_and(|n| n != c) {
                return Err(LayoutMismatch(format!(
                    "outputs disagree on the number of candidates: {shapes:?}"
                )));
            }
            n = Some(c);
            if v.chan_axis.is_some_and(|ha| ha < ca) {
                v.chan_stride = c;
            }
        }
        if let Some(n) = n {
            if let BoxEncoding::GridExp { total, .. } = l.boxes
                && n != total
            {
                {
                    return Err(LayoutMismatch(format!(
                        "output has {n} candidates; the YOLOX grid of this input has {total}"
                    )));
                }
            }
            l.candidates = n;
        }
        Ok(l)
    }

    /// Candidates above `threshold`, boxes `[x1, y1, x2, y2]` in model-input pixels
    /// (`input_w x input_h`). `data[k]` holds view `k`'s values for one image (after
    /// [`Layout::for_shapes`]). `keep` filters classes by index.
    pub fn decode(
        &self,
        data: &[&[f32]],
        input_w: f32,
        input_h: f32,
        threshold: f32,
        keep: Option<&[bool]>,
        out: &mut Vec<Candidate>,
    ) {
        let reader = |c: Chan| {
            let v = &self.views[c.tensor];
            debug_assert!(data[c.tensor].len() >= self.candidates * v.channels);
            Reader {
                data: data[c.tensor],
                cand_stride: v.cand_stride,
                chan_stride: v.chan_stride,
                base: c.channel,
            }
        };
        let bx = reader(self.box_at);
        let obj = match self.score {
            ScoreRule::ObjTimesClass { obj } | ScoreRule::WeightedProduct { obj, .. } => {
                Some(reader(obj))
            }
            _ => None,
        };
        let score_ch = match self.score {
            ScoreRule::Channel { at } => Some(reader(at)),
            _ => None,
        };
        let cls = match self.class {
            ClassRule::Argmax { first } | ClassRule::Index { at: first } => reader(first),
        };
        // Class scores are probabilities (at most 1), so a candidate whose objectness alone
        // cannot reach the threshold is rejected before the class scan.
        let obj_floor = match self.score {
            ScoreRule::ObjTimesClass { .. } => threshold.max(0.0),
            ScoreRule::WeightedProduct { obj_exp, .. } => threshold.max(0.0).powf(1.0 / obj_exp),
            _ => 0.0,
        };
        for i in 0..self.candidates {
            if let Some(o) = obj
                && o.get(i, 0) <= obj_floor
            {
                continue;
            }
            let (class, best) = match self.class {
                ClassRule::Argmax { .. } => {
                    let (mut best, mut best_c) = (f32::NEG_INFINITY, 0usize);
                    for c in 0..self.num_classes {
                        let v = cls.get(i, c);
                        if v > best {
                            best = v;
                            best_c = c;
                        }
                    }
                    (best_c, best)
                }
                ClassRule::Index { .. } => {
                    let v = cls.get(i, 0);
                    if !(v >= 0.0 && v < u32::MAX as f32) {
                        continue;
                    }
                    (v.round() as usize, 0.0)
                }
            };
            let score = match self.score {
                ScoreRule::Class => best,
                ScoreRule::ObjTimesClass { .. } => obj.map_or(0.0, |o| o.get(i, 0)) * best,
                ScoreRule::WeightedProduct {
                    obj_exp, cls_exp, ..
                } => obj.map_or(0.0, |o| o.get(i, 0)).powf(obj_exp) * best.max(0.0).powf(cls_exp),
                ScoreRule::Channel { .. } => score_ch.map_or(0.0, |s| s.get(i, 0)),
            };
            if score.is_nan()
                || score <= threshold
                || keep.is_some_and(|k| !k.get(class).copied().unwrap_or(false))
            {
                continue;
            }
            let b = |k: usize| bx.get(i, k);
            let bbox = match self.boxes {
                BoxEncoding::CxCyWhPixels => {
                    let (cx, cy, w, h) = (b(0), b(1), b(2), b(3));
                    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
                }
                BoxEncoding::X1Y1X2Y2Pixels => [b(0), b(1), b(2), b(3)],
                BoxEncoding::GridTanhSigmoid { gw, gh } => {
                    let (gx, gy) = ((i % gw) as f32, (i / gw) as f32);
                    let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
                    let cx = (gx + b(0).tanh()) / gw as f32 * input_w;
                    let cy = (gy + b(1).tanh()) / gh as f32 * input_h;
                    let (w, h) = (sig(b(2)) * input_w, sig(b(3)) * input_h);
                    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
                }
                BoxEncoding::GridExp { levels, .. } => {
                    let l = if i >= levels[2].start {
                        levels[2]
                    } else if i >= levels[1].start {
                        levels[1]
                    } else {
                        levels[0]
                    };
                    let cell = i - l.start;
                    let (gx, gy) = ((cell % l.gw) as f32, (cell / l.gw) as f32);
                    let cx = (b(0) + gx) * l.stride;
                    let cy = (b(1) + gy) * l.stride;
                    let (w, h) = (b(2).exp() * l.stride, b(3).exp() * l.stride);
                    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
                }
            };
            out.push(Candidate {
                class_id: class as u32,
                score,
                bbox,
                index: i as u32,
            });
        }
    }
}

#[cfg(test)]
mod tests;

//! The evaluation proper: per image and category matching at each IoU threshold, then AP from
//! the precision/recall curve, as pycocotools' `COCOeval` computes them.

use super::data::*;
use std::collections::HashMap;

/// pycocotools' area range "all": ground truth outside is ignored, unmatched detections outside
/// are ignored.
const AREA_ALL: (f64, f64) = (0.0, 1e10);

/// No mask (boxes are scored).
const NO_MASK: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct GtBox {
    class: u32,
    xywh: [f64; 4],
    /// Index into [`Prepared::masks`] when masks are scored.
    mask: u32,
    crowd: bool,
    /// `_ignore`: crowd, or area outside the range.
    ignore: bool,
}

#[derive(Debug, Clone, Copy)]
struct DetBox {
    class: u32,
    score: f64,
    xywh: [f64; 4],
    mask: u32,
    /// Outside the area range (`w * h`, or the mask's area, as `loadRes` computes it): ignored
    /// when unmatched.
    out_of_range: bool,
}

/// Ground truth and predictions grouped per image, each image's boxes sorted by class (ground
/// truth: ignored last; detections: highest score first, stable).
struct Prepared<'a> {
    names: Vec<&'a str>,
    keys: Vec<&'a FrameKey>,
    gts: Vec<GtBox>,
    /// `gts[gt_start[i]..gt_start[i + 1]]` are image i's.
    gt_start: Vec<usize>,
    dets: Vec<DetBox>,
    det_start: Vec<usize>,
    /// The masks scored (segm), of both sides.
    masks: Vec<&'a Rle>,
    ignored_frames: usize,
    ignored_dets: usize,
}

fn out_of_range(area: f64) -> bool {
    area < AREA_ALL.0 || area > AREA_ALL.1
}

/// Groups the boxes; with `segm`, boxes without a mask are left out (the caller checked that
/// there are none, see `check_masks`).
fn prepare<'a>(
    gt: &'a [GtFrame],
    pred: &'a [PredFrame],
    classes: &'a [String],
    iou_type: IouType,
) -> Prepared<'a> {
    let segm = iou_type == IouType::Segm;
    let mut masks: Vec<&'a Rle> = vec![];
    let mut mask_of = |m: &'a Option<Rle>| -> Option<(u32, f64)> {
        if !segm {
            return Some((NO_MASK, f64::NAN));
        }
        let m = m.as_ref()?;
        masks.push(m);
        Some((masks.len() as u32 - 1, m.area() as f64))
    };
    let mut class_of: HashMap<&'a str, u32> = HashMap::new();
    let mut names: Vec<&'a str> = vec![];
    let mut intern = |s: &'a str| -> u32 {
        *class_of.entry(s).or_insert_with(|| {
            names.push(s);
            names.len() as u32 - 1
        })
    };
    for c in classes {
        intern(c);
    }
    let mut image_of: HashMap<&FrameKey, u32> = HashMap::with_capacity(gt.len());
    let mut keys = vec![];
    let mut gts: Vec<(u32, GtBox)> = vec![];
    for f in gt {
        let img = *image_of.entry(&f.key).or_insert_with(|| {
            keys.push(&f.key);
            keys.len() as u32 - 1
        });
        for o in &f.objects {
            let Some((mask, mask_area)) = mask_of(&o.mask) else {
                continue;
            };
            let area = o.area.unwrap_or(if segm {
                mask_area
            } else {
                o.xywh[2] * o.xywh[3]
            });
            gts.push((
                img,
                GtBox {
                    class: intern(&o.label),
                    xywh: o.xywh,
                    mask,
                    crowd: o.iscrowd,
                    ignore: o.iscrowd || out_of_range(area),
                },
            ));
        }
    }
    let mut dets: Vec<(u32, DetBox)> = vec![];
    let (mut ignored_frames, mut ignored_dets) = (0, 0);
    for f in pred {
        let Some(&img) = image_of.get(&f.key) else {
            ignored_frames += 1;
            ignored_dets += f.detections.len();
            continue;
        };
        for d in &f.detections {
            if d.score.is_nan() {
                continue;
            }
            let Some((mask, mask_area)) = mask_of(&d.mask) else {
                continue;
            };
            let area = if segm {
                mask_area
            } else {
                d.xywh[2] * d.xywh[3]
            };
            dets.push((
                img,
                DetBox {
                    class: intern(&d.label),
                    score: d.score,
                    xywh: d.xywh,
                    mask,
                    out_of_range: out_of_range(area),
                },
            ));
        }
    }
    // Stable sorts keep file order among equals, as pycocotools' mergesorts do.
    gts.sort_by_key(|(img, g)| (*img, g.class, g.ignore));
    dets.sort_by(|(ia, a), (ib, b)| {
        (ia, a.class)
            .cmp(&(ib, b.class))
            .then_with(|| b.score.partial_cmp(&a.score).expect("no NaN scores"))
    });
    let n = keys.len();
    let starts = |imgs: &mut dyn Iterator<Item = u32>| {
        let mut start = vec![0usize; n + 1];
        for i in imgs {
            start[i as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        start
    };
    let gt_start = starts(&mut gts.iter().map(|g| g.0));
    let det_start = starts(&mut dets.iter().map(|d| d.0));
    Prepared {
        names,
        keys,
        gts: gts.into_iter().map(|g| g.1).collect(),
        gt_start,
        dets: dets.into_iter().map(|d| d.1).collect(),
        det_start,
        masks,
        ignored_frames,
        ignored_dets,
    }
}

/// pycocotools' `bbIou` (`maskUtils.iou` of boxes): crowd boxes divide by the detection's area.
fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let da = d[2] * d[3];
    let u = if crowd { da } else { da + g[2] * g[3] - i };
    i / u
}

/// pycocotools' `rleIou`: intersection over union of two masks, over the detection's area
/// against a crowd region; 0 without overlap (also for empty masks).
fn mask_iou(d: &Rle, g: &Rle, crowd: bool) -> f64 {
    let i = d.intersection(g);
    if i == 0 {
        return 0.0;
    }
    let da = d.area();
    let u = if crowd { da } else { da + g.area() - i };
    i as f64 / u as f64
}

/// Per detection, bit t set: matched at threshold t / ignored at threshold t.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    matched: u16,
    ignored: u16,
}

/// Reusable buffers for [`match_group`].
#[derive(Default)]
struct Scratch {
    ious: Vec<f64>,
    gt_matched: Vec<u16>,
    outcome: Vec<Outcome>,
}

/// pycocotools' `evaluateImg` for one image and category: `gts` non-ignored first, `dets` sorted
/// and cut. Fills `s.outcome` (per detection) and `s.gt_matched` (per ground truth).
fn match_group(
    gts: &[GtBox],
    dets: &[DetBox],
    masks: &[&Rle],
    thresholds: &[f64],
    s: &mut Scratch,
) {
    let (ng, nd) = (gts.len(), dets.len());
    s.outcome.clear();
    s.outcome.resize(nd, Outcome::default());
    s.gt_matched.clear();
    s.gt_matched.resize(ng, 0);
    if ng > 0 && nd > 0 {
        s.ious.clear();
        s.ious.reserve(nd * ng);
        for d in dets {
            for g in gts {
                s.ious.push(if d.mask == NO_MASK || g.mask == NO_MASK {
                    iou(&d.xywh, &g.xywh, g.crowd)
                } else {
                    mask_iou(masks[d.mask as usize], masks[g.mask as usize], g.crowd)
                });
            }
        }
        for (t, &thr) in thresholds.iter().enumerate() {
            let bit = 1u16 << t;
            for (di, row) in s.ious.chunks_exact(ng).enumerate() {
                let mut best = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for (gi, g) in gts.iter().enumerate() {
                    // Already matched, and not a crowd: next.
                    if s.gt_matched[gi] & bit != 0 && !g.crowd {
                        continue;
                    }
                    // Matched to a regular box, and the rest are ignored: stop.
                    if let Some(m) = m
                        && !gts[m].ignore
                        && g.ignore
                    {
                        break;
                    }
                    if row[gi] < best {
                        continue;
                    }
                    best = row[gi];
                    m = Some(gi);
                }
                if let Some(m) = m {
                    let o = &mut s.outcome[di];
                    o.matched |= bit;
                    if gts[m].ignore {
                        o.ignored |= bit;
                    }
                    s.gt_matched[m] |= bit;
                }
            }
        }
    }
    // Unmatched detections outside the area range are ignored.
    let all = (1u16 << thresholds.len()) - 1;
    for (o, d) in s.outcome.iter_mut().zip(dets) {
        if d.out_of_range {
            o.ignored |= all & !o.matched;
        }
    }
}

/// Walks image `i`'s boxes class by class: `f(class, gts, dets)`.
fn for_each_group<'p>(
    p: &'p Prepared,
    i: usize,
    mut f: impl FnMut(u32, &'p [GtBox], &'p [DetBox]),
) {
    let gts = &p.gts[p.gt_start[i]..p.gt_start[i + 1]];
    let dets = &p.dets[p.det_start[i]..p.det_start[i + 1]];
    let (mut a, mut b) = (0, 0);
    while a < gts.len() || b < dets.len() {
        let c = match (gts.get(a), dets.get(b)) {
            (Some(g), Some(d)) => g.class.min(d.class),
            (Some(g), None) => g.class,
            (None, Some(d)) => d.class,
            (None, None) => unreachable!(),
        };
        let a2 = a + gts[a..].iter().take_while(|g| g.class == c).count();
        let b2 = b + dets[b..].iter().take_while(|d| d.class == c).count();
        f(c, &gts[a..a2], &dets[b..b2]);
        a = a2;
        b = b2;
    }
}

/// A detection in a category's ranked list.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f64,
    outcome: Outcome,
}

#[derive(Default)]
struct ClassAcc {
    npig: usize,
    ignored_gt: usize,
    detections: usize,
    ranked: Vec<Ranked>,
}

/// Evaluates predictions against ground truth (see the module doc); classes are those of both.
/// Ground-truth frames are the images, in slice order (detections with equal scores are ranked
/// in this order, as pycocotools ranks them by image id); frames with the same key are merged.
/// Prediction frames are paired by key, those without ground truth left out.
pub fn evaluate(gt: &[GtFrame], pred: &[PredFrame]) -> DetReport {
    evaluate_classes(gt, pred, &[])
}

/// [`evaluate`], listing `classes` too even when neither side has a box of them (COCO
/// categories without annotations).
pub fn evaluate_classes(gt: &[GtFrame], pred: &[PredFrame], classes: &[String]) -> DetReport {
    evaluate_as(gt, pred, classes, IouType::Bbox)
}

/// [`evaluate_classes`] on boxes or instance masks. With [`IouType::Segm`] objects and detections
/// without a mask are left out (`evaluate_paths_as` refuses such files first).
pub fn evaluate_as(
    gt: &[GtFrame],
    pred: &[PredFrame],
    classes: &[String],
    iou_type: IouType,
) -> DetReport {
    let p = prepare(gt, pred, classes, iou_type);
    let thresholds = iou_thresholds();
    let mut acc: Vec<ClassAcc> = (0..p.names.len()).map(|_| ClassAcc::default()).collect();
    let mut s = Scratch::default();
    for i in 0..p.keys.len() {
        for_each_group(&p, i, |c, gts, dets| {
            let a = &mut acc[c as usize];
            a.detections += dets.len();
            let ig = gts.iter().filter(|g| g.ignore).count();
            a.ignored_gt += ig;
            a.npig += gts.len() - ig;
            let dets = &dets[..dets.len().min(MAX_DETS)];
            match_group(gts, dets, &p.masks, &thresholds, &mut s);
            a.ranked
                .extend(dets.iter().zip(&s.outcome).map(|(d, &outcome)| Ranked {
                    score: d.score,
                    outcome,
                }));
        });
    }
    let rec = recall_points();
    let mut rc = vec![];
    let mut pr = vec![];
    let mut classes: Vec<ClassResult> = p
        .names
        .iter()
        .zip(acc)
        .map(|(name, mut a)| {
            let mut r = ClassResult {
                name: name.to_string(),
                gt: a.npig,
                ignored_gt: a.ignored_gt,
                detections: a.detections,
                ap: None,
                ap50: None,
                ap75: None,
                ar100: None,
                pr50: None,
            };
            if a.npig == 0 {
                return r;
            }
            // pycocotools' accumulate: a stable sort of the concatenated (image order) lists.
            a.ranked
                .sort_by(|x, y| y.score.partial_cmp(&x.score).expect("no NaN scores"));
            let mut precision = [[0f64; RECALL_POINTS]; IOU_THRESHOLDS];
            let mut recall = [0f64; IOU_THRESHOLDS];
            for (t, q) in precision.iter_mut().enumerate() {
                let bit = 1u16 << t;
                rc.clear();
                pr.clear();
                let (mut tp, mut fp) = (0u64, 0u64);
                for d in &a.ranked {
                    if d.outcome.ignored & bit == 0 {
                        if d.outcome.matched & bit != 0 {
                            tp += 1;
                        } else {
                            fp += 1;
                        }
                    }
                    let (tpf, fpf) = (tp as f64, fp as f64);
                    rc.push(tpf / a.npig as f64);
                    pr.push(tpf / (fpf + tpf + f64::EPSILON));
                }
                recall[t] = rc.last().copied().unwrap_or(0.0);
                for i in (1..pr.len()).rev() {
                    if pr[i] > pr[i - 1] {
                        pr[i - 1] = pr[i];
                    }
                }
                // searchsorted(rc, rec, side="left"); points past the end stay 0.
                let mut k = 0;
                for (ri, &x) in rec.iter().enumerate() {
                    while k < rc.len() && rc[k] < x {
                        k += 1;
                    }
                    if k == rc.len() {
                        break;
                    }
                    q[ri] = pr[k];
                }
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            r.ap = Some(precision.iter().map(|q| mean(q)).sum::<f64>() / IOU_THRESHOLDS as f64);
            r.ap50 = Some(mean(&precision[0]));
            r.ap75 = Some(mean(&precision[5]));
            r.ar100 = Some(mean(&recall));
            r.pr50 = Some(precision[0].to_vec());
            r
        })
        .collect();
    classes.sort_by(|a, b| a.name.cmp(&b.name));
    let mean = |f: fn(&ClassResult) -> Option<f64>| {
        let v: Vec<f64> = classes.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    DetReport {
        iou_type,
        map: mean(|c| c.ap),
        map50: mean(|c| c.ap50),
        map75: mean(|c| c.ap75),
        ar100: mean(|c| c.ar100),
        images: p.keys.len(),
        ignored_prediction_frames: p.ignored_frames,
        ignored_predictions: p.ignored_dets,
        classes,
    }
}

/// Per ground-truth frame (in slice order, merged keys once): false positives and misses at IoU
/// 0.5, counting the detections with `score >= min_score` (all of them, not only the best
/// [`MAX_DETS`]), matched as [`evaluate`] matches them. Detections that match crowd boxes, and
/// crowd boxes, count as neither.
pub fn frame_errors(
    gt: &[GtFrame],
    pred: &[PredFrame],
    min_score: f64,
) -> Vec<(FrameKey, usize, usize)> {
    let p = prepare(gt, pred, &[], IouType::Bbox);
    let mut s = Scratch::default();
    let t50 = [iou_thresholds()[0]];
    (0..p.keys.len())
        .map(|i| {
            let (mut fp, mut fneg) = (0, 0);
            for_each_group(&p, i, |_, gts, dets| {
                let n = dets.iter().take_while(|d| d.score >= min_score).count();
                match_group(gts, &dets[..n], &p.masks, &t50, &mut s);
                fp += s
                    .outcome
                    .iter()
                    .filter(|o| o.matched == 0 && o.ignored == 0)
                    .count();
                fneg += gts
                    .iter()
                    .zip(&s.gt_matched)
                    .filter(|(g, m)| !g.ignore && **m == 0)
                    .count();
            });
            (p.keys[i].clone(), fp, fneg)
        })
        .collect()
}

//! Reading ground truth (JSON Lines or COCO JSON) and predictions (perceptd's JSONL), pairing
//! their frames.

use super::data::*;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The serde message without serde_json's " at line L column C" (a line is its own document).
fn bare(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A serde_path_to_error error as `path: message` (no path at the top level).
fn with_path(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let p = e.path().to_string();
    if p == "." || p.is_empty() {
        bare(e.inner())
    } else {
        format!("{p}: {}", bare(e.inner()))
    }
}

/// `iscrowd`: a bool or 0 / 1.
fn crowd<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true, false, 0 or 1")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
            }
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
            }
        }
    }
    d.deserialize_any(V)
}

/// A COCO RLE as JSON: `{"size": [h, w], "counts": "compressed" | [runs]}`.
#[derive(Deserialize)]
struct RleJson {
    size: [u32; 2],
    counts: CountsJson,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CountsJson {
    Compressed(String),
    Runs(Vec<u32>),
}

impl RleJson {
    fn to_rle(&self) -> Result<Rle, String> {
        let [h, w] = self.size;
        let counts = match &self.counts {
            CountsJson::Compressed(s) => {
                crate::frame::mask::rle_from_string(s).ok_or_else(|| {
                    format!(
                        "mask counts {s:?} are not COCO's compressed RLE (pycocotools' mask.encode)"
                    )
                })?
            }
            CountsJson::Runs(r) => r.clone(),
        };
        Rle::new(h, w, counts).map_err(|e| format!("mask: {e}"))
    }
}

#[derive(Deserialize)]
struct PredLine<'a> {
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    frame: u64,
    #[serde(borrow)]
    detections: Vec<PredLineDet<'a>>,
}

#[derive(Deserialize)]
struct PredLineDet<'a> {
    #[serde(borrow)]
    label: Cow<'a, str>,
    score: f64,
    bbox: [f64; 4],
    #[serde(default)]
    mask: Option<RleJson>,
}

#[derive(Deserialize)]
struct GtLine<'a> {
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    frame: u64,
    #[serde(borrow)]
    objects: Vec<GtLineObject<'a>>,
}

#[derive(Deserialize)]
struct GtLineObject<'a> {
    #[serde(borrow)]
    label: Cow<'a, str>,
    bbox: [f64; 4],
    #[serde(default, deserialize_with = "crowd")]
    iscrowd: bool,
    #[serde(default)]
    area: Option<f64>,
    #[serde(default)]
    mask: Option<RleJson>,
}

/// Corners that are in order; the message names the problem.
fn check_corners(what: &str, b: [f64; 4]) -> Result<[f64; 4], String> {
    if b[2] < b[0] || b[3] < b[1] {
        return Err(format!(
            "{what}: bbox {b:?} is not [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2"
        ));
    }
    Ok(xywh_from_corners(b))
}

/// A parsed line before keys are decided.
struct Raw<T> {
    stream: Option<String>,
    frame: u64,
    line: usize,
    data: T,
}

/// Non-blank lines, 1-based numbers, byte-order mark and `\r` removed.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn parse_pred(path: &Path, text: &str) -> Result<Vec<Raw<Vec<PredDetection>>>, DetError> {
    let mut out = vec![];
    for (line, l) in lines(text) {
        let err = |message: String| DetError::Line {
            path: path.to_path_buf(),
            line,
            message,
        };
        let p: PredLine =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(l))
                .map_err(|e| err(with_path(&e)))?;
        let mut dets = Vec::with_capacity(p.detections.len());
        for (k, d) in p.detections.into_iter().enumerate() {
            let xywh = check_corners(&format!("detections[{k}]"), d.bbox).map_err(err)?;
            let mask = d
                .mask
                .map(|m| m.to_rle())
                .transpose()
                .map_err(|e| err(format!("detections[{k}].{e}")))?;
            dets.push(PredDetection {
                label: d.label.into_owned(),
                score: d.score,
                xywh,
                mask,
            });
        }
        out.push(Raw {
            stream: p.stream.map(Cow::into_owned),
            frame: p.frame,
            line,
            data: dets,
        });
    }
    Ok(out)
}

fn parse_gt_jsonl(path: &Path, text: &str) -> Result<Vec<Raw<Vec<GtObject>>>, DetError> {
    let mut out = vec![];
    for (line, l) in lines(text) {
        let err = |message: String| DetError::Line {
            path: path.to_path_buf(),
            line,
            message,
        };
        let g: GtLine =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(l))
                .map_err(|e| err(with_path(&e)))?;
        let mut objects = Vec::with_capacity(g.objects.len());
        for (k, o) in g.objects.into_iter().enumerate() {
            let xywh = check_corners(&format!("objects[{k}]"), o.bbox).map_err(err)?;
            let mask = o
                .mask
                .map(|m| m.to_rle())
                .transpose()
                .map_err(|e| err(format!("objects[{k}].{e}")))?;
            objects.push(GtObject {
                label: o.label.into_owned(),
                xywh,
                iscrowd: o.iscrowd,
                area: o.area,
                mask,
                polygon: false,
            });
        }
        out.push(Raw {
            stream: g.stream.map(Cow::into_owned),
            frame: g.frame,
            line,
            data: objects,
        });
    }
    Ok(out)
}

/// A COCO id: pycocotools takes any JSON scalar; numbers and strings are supported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(untagged)]
enum CocoId {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for CocoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CocoId::Int(i) => write!(f, "{i}"),
            CocoId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

#[derive(Deserialize)]
struct CocoFile {
    images: Vec<CocoImage>,
    annotations: Vec<CocoAnnotation>,
    #[serde(default)]
    categories: Vec<CocoCategory>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: CocoId,
    #[serde(default)]
    file_name: Option<String>,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    image_id: CocoId,
    category_id: CocoId,
    bbox: [f64; 4],
    #[serde(default, deserialize_with = "crowd")]
    iscrowd: bool,
    #[serde(default)]
    area: Option<f64>,
    /// RLE (an object) or polygons (a list; not read).
    #[serde(default)]
    segmentation: Option<CocoSegmentation>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CocoSegmentation {
    Rle(RleJson),
    Polygons(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct CocoCategory {
    id: CocoId,
    name: String,
}

/// Only the keys that tell a COCO file from JSON Lines.
#[derive(Deserialize)]
struct Probe {
    images: Option<serde::de::IgnoredAny>,
    annotations: Option<serde::de::IgnoredAny>,
}

/// The last run of ASCII digits in the stem of `file_name`.
pub(super) fn frame_from_file_name(file_name: &str) -> Option<Result<u64, String>> {
    let stem = Path::new(file_name).file_stem()?.to_str()?;
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let digits = &stem[start..end];
    Some(
        digits
            .parse::<u64>()
            .map_err(|_| format!("file_name {file_name:?}: frame number {digits} is too large")),
    )
}

/// COCO frames in image id order, and every category's name.
fn parse_coco(path: &Path, text: &str) -> Result<(Vec<GtFrame>, Vec<String>), DetError> {
    let err = |message: String| DetError::Coco {
        path: path.to_path_buf(),
        message,
    };
    let file: CocoFile = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(
        text,
    ))
    .map_err(|e| {
        let inner = e.inner();
        err(format!(
            "{} (line {} column {})",
            with_path(&e),
            inner.line(),
            inner.column()
        ))
    })?;
    let mut cats: HashMap<&CocoId, &str> = HashMap::new();
    let mut names: HashMap<&str, &CocoId> = HashMap::new();
    for c in &file.categories {
        if cats.insert(&c.id, &c.name).is_some() {
            return Err(err(format!(
                "category id {} appears twice in `categories`",
                c.id
            )));
        }
        if let Some(other) = names.insert(&c.name, &c.id) {
            return Err(err(format!(
                "categories {other} and {} are both named {:?}; predictions are matched by name, so names must be unique",
                c.id, c.name
            )));
        }
    }
    let mut order: Vec<usize> = (0..file.images.len()).collect();
    order.sort_by(|&a, &b| file.images[a].id.cmp(&file.images[b].id));
    let describe = |im: &CocoImage| match &im.file_name {
        Some(f) => format!("{} ({f})", im.id),
        None => im.id.to_string(),
    };
    let mut frames: Vec<GtFrame> = Vec::with_capacity(order.len());
    let mut by_id: HashMap<&CocoId, usize> = HashMap::new();
    let mut by_frame: HashMap<u64, usize> = HashMap::new();
    for (index, &i) in order.iter().enumerate() {
        let im = &file.images[i];
        let frame = match im.file_name.as_deref().and_then(frame_from_file_name) {
            Some(r) => r.map_err(|m| err(format!("image {}: {m}", im.id)))?,
            None => index as u64,
        };
        if by_id.insert(&im.id, frames.len()).is_some() {
            return Err(err(format!("image id {} appears twice in `images`", im.id)));
        }
        if let Some(&other) = by_frame.get(&frame) {
            return Err(DetError::DuplicateImageFrame {
                path: path.to_path_buf(),
                frame,
                a: describe(&file.images[order[other]]),
                b: describe(im),
            });
        }
        by_frame.insert(frame, frames.len());
        frames.push(GtFrame {
            key: FrameKey::frame(frame),
            objects: vec![],
        });
    }
    for (k, a) in file.annotations.iter().enumerate() {
        let Some(&f) = by_id.get(&a.image_id) else {
            return Err(err(format!(
                "annotations[{k}]: image_id {} is not in `images`",
                a.image_id
            )));
        };
        let Some(&label) = cats.get(&a.category_id) else {
            return Err(err(format!(
                "annotations[{k}]: category_id {} is not in `categories`",
                a.category_id
            )));
        };
        if a.bbox[2] < 0.0 || a.bbox[3] < 0.0 {
            return Err(err(format!(
                "annotations[{k}]: bbox {:?} has a negative width or height ([x, y, w, h])",
                a.bbox
            )));
        }
        let (mask, polygon) = match &a.segmentation {
            Some(CocoSegmentation::Rle(r)) => (
                Some(
                    r.to_rle()
                        .map_err(|e| err(format!("annotations[{k}].segmentation: {e}")))?,
                ),
                false,
            ),
            Some(CocoSegmentation::Polygons(_)) => (None, true),
            None => (None, false),
        };
        frames[f].objects.push(GtObject {
            label: label.to_string(),
            xywh: a.bbox,
            iscrowd: a.iscrowd,
            area: a.area,
            mask,
            polygon,
        });
    }
    let classes = file.categories.iter().map(|c| c.name.clone()).collect();
    Ok((frames, classes))
}

enum GtRaw {
    Jsonl(Vec<Raw<Vec<GtObject>>>),
    Coco(Vec<GtFrame>, Vec<String>),
}

fn read(path: &Path) -> Result<String, DetError> {
    std::fs::read_to_string(path).map_err(|error| DetError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// Ground truth in either format (see the module doc).
fn parse_gt(path: &Path, text: &str) -> Result<GtRaw, DetError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = serde_json::Deserializer::from_str(body)
        .into_iter::<Probe>()
        .next();
    match first {
        Some(Ok(p)) if p.images.is_some() && p.annotations.is_some() => {
            let (frames, classes) = parse_coco(path, body)?;
            Ok(GtRaw::Coco(frames, classes))
        }
        Some(Err(whole)) if body.trim_start().starts_with('{') => {
            // Neither a whole JSON document nor (maybe) JSON Lines: say both when line 1 fails.
            match parse_gt_jsonl(path, body) {
                Ok(v) => Ok(GtRaw::Jsonl(v)),
                Err(DetError::Line {
                    line: 1, message, ..
                }) if whole.line() > 1 => Err(DetError::Format {
                    path: path.to_path_buf(),
                    line: 1,
                    jsonl: message,
                    whole: format!(
                        "{} at line {} column {}",
                        bare(&whole),
                        whole.line(),
                        whole.column()
                    ),
                }),
                Err(e) => Err(e),
            }
        }
        _ => Ok(GtRaw::Jsonl(parse_gt_jsonl(path, body)?)),
    }
}

fn stream_list(s: &BTreeSet<&str>) -> String {
    s.iter().copied().collect::<Vec<_>>().join(", ")
}

/// Builds keys; a key twice is an error naming both lines.
fn keyed<T>(
    path: &Path,
    raw: Vec<Raw<T>>,
    by_stream: bool,
    streams: &str,
) -> Result<Vec<(FrameKey, T)>, DetError> {
    let mut seen: HashMap<FrameKey, usize> = HashMap::with_capacity(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let stream = if by_stream {
            match r.stream {
                Some(s) => Some(s),
                None => {
                    return Err(DetError::MissingStream {
                        path: path.to_path_buf(),
                        line: r.line,
                        streams: streams.to_string(),
                    });
                }
            }
        } else {
            None
        };
        let key = FrameKey {
            stream,
            frame: r.frame,
        };
        if let Some(&first) = seen.get(&key) {
            return Err(DetError::DuplicateFrame {
                path: path.to_path_buf(),
                key,
                first,
                line: r.line,
            });
        }
        seen.insert(key.clone(), r.line);
        out.push((key, r.data));
    }
    Ok(out)
}

/// Reads ground truth (JSONL or COCO JSON) and perceptd predictions and pairs their frame keys
/// (see the module doc).
pub fn load_paths(gt: &Path, pred: &Path) -> Result<Loaded, DetError> {
    let gt_text = read(gt)?;
    let pred_text = read(pred)?;
    let gt_raw = parse_gt(gt, &gt_text)?;
    if match &gt_raw {
        GtRaw::Jsonl(raw) => raw.is_empty(),
        GtRaw::Coco(frames, _) => frames.is_empty(),
    } {
        return Err(DetError::EmptyGroundTruth {
            path: gt.to_path_buf(),
        });
    }
    drop(gt_text);
    let pred_raw = parse_pred(pred, &pred_text)?;
    drop(pred_text);
    let pred_streams: BTreeSet<&str> = pred_raw
        .iter()
        .filter_map(|r| r.stream.as_deref())
        .collect();
    let (by_stream, streams) = match &gt_raw {
        GtRaw::Coco(..) => {
            if pred_streams.len() > 1 {
                return Err(DetError::StreamsWithCoco {
                    gt: gt.to_path_buf(),
                    pred: pred.to_path_buf(),
                    streams: stream_list(&pred_streams),
                });
            }
            (false, String::new())
        }
        GtRaw::Jsonl(raw) => {
            let gt_streams: BTreeSet<&str> =
                raw.iter().filter_map(|r| r.stream.as_deref()).collect();
            let all: BTreeSet<&str> = gt_streams.union(&pred_streams).copied().collect();
            (
                gt_streams.len() > 1 || pred_streams.len() > 1,
                stream_list(&all),
            )
        }
    };
    let pred_frames: Vec<PredFrame> = keyed(pred, pred_raw, by_stream, &streams)?
        .into_iter()
        .map(|(key, detections)| PredFrame { key, detections })
        .collect();
    let (gt_frames, gt_classes) = match gt_raw {
        GtRaw::Coco(frames, classes) => (frames, classes),
        GtRaw::Jsonl(raw) => {
            let mut frames: Vec<GtFrame> = keyed(gt, raw, by_stream, &streams)?
                .into_iter()
                .map(|(key, objects)| GtFrame { key, objects })
                .collect();
            frames.sort_by(|a, b| a.key.cmp(&b.key));
            let classes: BTreeSet<&str> = frames
                .iter()
                .flat_map(|f| f.objects.iter().map(|o| o.label.as_str()))
                .collect();
            let classes = classes.into_iter().map(String::from).collect();
            (frames, classes)
        }
    };
    Ok(Loaded {
        gt: gt_frames,
        pred: pred_frames,
        gt_classes,
    })
}

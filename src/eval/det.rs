//! COCO-style detection metrics of a perceptd JSONL run against ground truth, computed exactly as
//! pycocotools' `COCOeval` does with `iouType="bbox"` and its default parameters (area range
//! "all", at most 100 detections per image and category).
//!
//! # Inputs
//!
//! **Predictions**: perceptd's JSONL, one object per frame (see `sink::jsonl`):
//! `{"stream": "...", "frame": N, "detections": [{"label": "car", "score": 0.9, "bbox": [x1, y1,
//! x2, y2]}, ...], ...}`, boxes in pixels, corners. Other keys are ignored.
//!
//! **Ground truth**, one of two formats, told apart by the content:
//!
//! - *JSON Lines*, one object per frame: `{"frame": N, "stream": "cam0" (optional), "width": W,
//!   "height": H, "objects": [{"label": "car", "bbox": [x1, y1, x2, y2], "iscrowd": false,
//!   "id": 7, "area": 1234.5}]}`. `iscrowd` (a bool, or 0 / 1), `id`, `area`, `width` and
//!   `height` are optional; other keys are ignored. `area` (default: the box's) only decides
//!   whether a box is inside the evaluated area range, as in COCO. A frame listed with
//!   `"objects": []` is an image without objects: every prediction on it is a false positive.
//! - *COCO JSON* (`instances_*.json`): one JSON object with `images`, `annotations` (bbox
//!   `[x, y, w, h]`, `iscrowd`, `area`, `category_id`) and `categories`. An image's frame number
//!   is the last run of digits in its `file_name`'s stem (`frame_000123.jpg` is frame 123), else
//!   its 0-based index in `images` sorted by id; two images with one frame number are an error.
//!   Categories are matched to the predictions' `label` by `name`.
//!
//! # Frames
//!
//! Ground truth and predictions are paired by frame number. When either file holds more than one
//! stream (distinct `stream` values), they are paired by `(stream, frame)` instead, and every line
//! of both files needs a `stream` (COCO ground truth has no streams: split such predictions per
//! stream). Every ground-truth frame is an image, even without objects; prediction frames that are
//! not in the ground truth are ignored and counted ([`DetReport::ignored_prediction_frames`]).
//!
//! # Metrics
//!
//! Per image and category, detections are sorted by score (stable, highest first) and cut to the
//! best [`MAX_DETS`]; crowd boxes (`iscrowd`) are ignored ground truth, sorted last. At each IoU
//! threshold 0.50, 0.55, ..., 0.95 each detection in turn takes the unmatched ground-truth box it
//! overlaps most (at least the threshold), preferring boxes that are not ignored; a crowd box may
//! take any number of detections, and a detection that matched an ignored box is ignored. IoU is
//! pycocotools' (`[x, y, w, h]` boxes, `w = x2 - x1`, area `w * h`, no +1), except against a crowd
//! box, where it is the intersection over the detection's area.
//!
//! Per category, over all images, the detections are sorted by score (stable, images in order);
//! precision `tp / (tp + fp)` and recall `tp / gt` (gt: boxes not ignored) are taken at each
//! detection, precision is made non-increasing from the right, then read at the 101 recall points
//! 0, 0.01, ..., 1 (the first detection whose recall reaches the point; 0 beyond the highest
//! recall). AP is the mean of those 101 values; AP@0.5:0.95 also averages the 10 thresholds.
//! mAP is the mean over categories with ground truth; a category without ground truth has no AP
//! (pycocotools' -1) and is left out. AR@100 is the mean over thresholds and categories of the
//! final recall. Known difference: pycocotools takes a match with a ground-truth annotation whose
//! `id` is 0 for no match (it stores ids in a zero-initialised array); perceptd does not.

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Detections kept per image and category, best scores first (pycocotools' `maxDets[-1]`).
pub const MAX_DETS: usize = 100;
/// Number of IoU thresholds, 0.50:0.05:0.95.
pub const IOU_THRESHOLDS: usize = 10;
/// Number of recall points, 0:0.01:1.
pub const RECALL_POINTS: usize = 101;
/// pycocotools' area range "all": ground truth outside is ignored, unmatched detections outside
/// are ignored.
const AREA_ALL: (f64, f64) = (0.0, 1e10);

/// The IoU thresholds, bit for bit as `np.linspace(.5, 0.95, 10)` makes them.
pub fn iou_thresholds() -> [f64; IOU_THRESHOLDS] {
    let step = (0.95 - 0.5) / 9.0;
    let mut t = [0.0; IOU_THRESHOLDS];
    for (i, v) in t.iter_mut().enumerate() {
        *v = i as f64 * step + 0.5;
    }
    t[IOU_THRESHOLDS - 1] = 0.95;
    t
}

/// The recall points, bit for bit as `np.linspace(.0, 1.00, 101)` makes them.
pub fn recall_points() -> [f64; RECALL_POINTS] {
    let step = 1.0 / 100.0;
    let mut r = [0.0; RECALL_POINTS];
    for (i, v) in r.iter_mut().enumerate() {
        *v = i as f64 * step;
    }
    r[RECALL_POINTS - 1] = 1.0;
    r
}

/// What can go wrong reading ground truth or predictions. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
pub enum DetError {
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} line {line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: COCO JSON: {message}", path.display())]
    Coco { path: PathBuf, message: String },
    #[error(
        "{}: not JSON Lines (line {line}: {jsonl}) and not one COCO JSON object ({whole}); ground truth is either one JSON object per line or a COCO `instances` file",
        path.display()
    )]
    Format {
        path: PathBuf,
        line: usize,
        jsonl: String,
        whole: String,
    },
    #[error(
        "{} line {line}: {key} appears twice (lines {first} and {line}); write each frame once",
        path.display()
    )]
    DuplicateFrame {
        path: PathBuf,
        key: FrameKey,
        first: usize,
        line: usize,
    },
    #[error(
        "{}: images {a} and {b} both map to frame {frame} (the last number in file_name, else the index by id); rename one or give each frame one image",
        path.display()
    )]
    DuplicateImageFrame {
        path: PathBuf,
        frame: u64,
        a: String,
        b: String,
    },
    #[error(
        "{}: no frames; ground truth needs one JSON object per frame, or a COCO file with images",
        path.display()
    )]
    EmptyGroundTruth { path: PathBuf },
    #[error(
        "{} line {line}: no `stream`, but the files hold several streams ({streams}), so frames are paired by (stream, frame); give every line a stream",
        path.display()
    )]
    MissingStream {
        path: PathBuf,
        line: usize,
        streams: String,
    },
    #[error(
        "{}: predictions hold several streams ({streams}), and COCO ground truth {} has none; evaluate one stream's predictions at a time",
        pred.display(),
        gt.display()
    )]
    StreamsWithCoco {
        gt: PathBuf,
        pred: PathBuf,
        streams: String,
    },
}

/// Which ground-truth frame a record belongs to: `stream` is set only when the files hold several
/// streams (see the module doc). Ordered by stream, then frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameKey {
    pub stream: Option<String>,
    pub frame: u64,
}

impl FrameKey {
    pub fn frame(frame: u64) -> Self {
        Self {
            stream: None,
            frame,
        }
    }
}

impl std::fmt::Display for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.stream {
            Some(s) => write!(f, "stream {s} frame {}", self.frame),
            None => write!(f, "frame {}", self.frame),
        }
    }
}

/// `[x1, y1, x2, y2]` corners to pycocotools' `[x, y, w, h]` (`w = x2 - x1`, no +1).
pub fn xywh_from_corners(b: [f64; 4]) -> [f64; 4] {
    [b[0], b[1], b[2] - b[0], b[3] - b[1]]
}

/// One ground-truth box.
#[derive(Debug, Clone, PartialEq)]
pub struct GtObject {
    pub label: String,
    /// `[x, y, w, h]` in pixels (COCO's layout; see [`xywh_from_corners`]).
    pub xywh: [f64; 4],
    /// A crowd region: ignored ground truth that any number of detections may match.
    pub iscrowd: bool,
    /// The area that decides the area range (COCO's `area`); None: `w * h`.
    pub area: Option<f64>,
}

/// One ground-truth frame (an image, even without objects).
#[derive(Debug, Clone, PartialEq)]
pub struct GtFrame {
    pub key: FrameKey,
    pub objects: Vec<GtObject>,
}

/// One predicted box.
#[derive(Debug, Clone, PartialEq)]
pub struct PredDetection {
    pub label: String,
    pub score: f64,
    /// `[x, y, w, h]` in pixels (see [`xywh_from_corners`]).
    pub xywh: [f64; 4],
}

/// One frame of predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct PredFrame {
    pub key: FrameKey,
    pub detections: Vec<PredDetection>,
}

/// Ground truth and predictions read from files, keys paired (see [`load_paths`]).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// JSONL: sorted by key; COCO: in image id order (pycocotools' image order).
    pub gt: Vec<GtFrame>,
    /// In file order.
    pub pred: Vec<PredFrame>,
    /// Every ground-truth class, also those without boxes (COCO categories).
    pub gt_classes: Vec<String>,
}

/// One class's results.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResult {
    pub name: String,
    /// Ground-truth boxes that count (not crowd, inside the area range).
    pub gt: usize,
    /// Ignored ground-truth boxes (crowd, or outside the area range).
    pub ignored_gt: usize,
    /// Predicted boxes on ground-truth frames (before the per-image cut to [`MAX_DETS`]).
    pub detections: usize,
    /// AP@0.5:0.95; None without ground truth.
    pub ap: Option<f64>,
    pub ap50: Option<f64>,
    pub ap75: Option<f64>,
    /// Recall at the end of the ranked list, averaged over the IoU thresholds.
    pub ar100: Option<f64>,
    /// Interpolated precision at IoU 0.5 at the 101 recall points 0, 0.01, ..., 1.
    pub pr50: Option<Vec<f64>>,
}

/// Results per class and overall.
#[derive(Debug, Clone, PartialEq)]
pub struct DetReport {
    /// Sorted by name.
    pub classes: Vec<ClassResult>,
    /// Ground-truth frames.
    pub images: usize,
    /// Prediction frames without ground truth (left out), and their detections.
    pub ignored_prediction_frames: usize,
    pub ignored_predictions: usize,
    /// pycocotools' `stats[0]`, `stats[1]`, `stats[2]`, `stats[8]`; None without a class that has
    /// ground truth.
    pub map: Option<f64>,
    pub map50: Option<f64>,
    pub map75: Option<f64>,
    pub ar100: Option<f64>,
}

impl DetReport {
    /// mAP@0.5:0.95.
    pub fn map(&self) -> Option<f64> {
        self.map
    }
    /// mAP@0.5.
    pub fn map50(&self) -> Option<f64> {
        self.map50
    }

    /// `{"map", "map50", "map75", "ar100", "images", "classes": {name: {"ap", "ap50", "ap75",
    /// "ar100", "gt", "ignored_gt", "detections", "pr50"}}, "ignored_prediction_frames",
    /// "ignored_predictions"}`; undefined values are null.
    pub fn to_json(&self) -> serde_json::Value {
        let classes: serde_json::Map<String, serde_json::Value> = self
            .classes
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    serde_json::json!({
                        "ap": c.ap,
                        "ap50": c.ap50,
                        "ap75": c.ap75,
                        "ar100": c.ar100,
                        "gt": c.gt,
                        "ignored_gt": c.ignored_gt,
                        "detections": c.detections,
                        "pr50": c.pr50,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "map": self.map,
            "map50": self.map50,
            "map75": self.map75,
            "ar100": self.ar100,
            "images": self.images,
            "classes": classes,
            "ignored_prediction_frames": self.ignored_prediction_frames,
            "ignored_predictions": self.ignored_predictions,
        })
    }

    /// One row per class, then `all`, as fractions like pycocotools prints them.
    pub fn table(&self) -> String {
        let w = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "class", "AP", "AP50", "AP75", "AR100", "GT", "dets"
        );
        for c in &self.classes {
            let _ = writeln!(
                out,
                "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
                c.name,
                f(c.ap),
                f(c.ap50),
                f(c.ap75),
                f(c.ar100),
                c.gt,
                c.detections
            );
        }
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "all",
            f(self.map),
            f(self.map50),
            f(self.map75),
            f(self.ar100),
            self.classes.iter().map(|c| c.gt).sum::<usize>(),
            self.classes.iter().map(|c| c.detections).sum::<usize>()
        );
        let _ = writeln!(
            out,
            "{} images; AP is COCO's (IoU 0.50:0.95, 101 recall points, 100 detections per image); '-': no ground truth",
            self.images
        );
        if self.ignored_prediction_frames > 0 {
            let _ = writeln!(
                out,
                "{} prediction frames ({} detections) have no ground truth and were left out",
                self.ignored_prediction_frames, self.ignored_predictions
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Reading files.

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
            dets.push(PredDetection {
                label: d.label.into_owned(),
                score: d.score,
                xywh,
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
            objects.push(GtObject {
                label: o.label.into_owned(),
                xywh,
                iscrowd: o.iscrowd,
                area: o.area,
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
fn frame_from_file_name(file_name: &str) -> Option<Result<u64, String>> {
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
        frames[f].objects.push(GtObject {
            label: label.to_string(),
            xywh: a.bbox,
            iscrowd: a.iscrowd,
            area: a.area,
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

/// Reads both files (see [`load_paths`]) and evaluates them.
pub fn evaluate_paths(gt: &Path, pred: &Path) -> Result<DetReport, DetError> {
    let l = load_paths(gt, pred)?;
    Ok(evaluate_classes(&l.gt, &l.pred, &l.gt_classes))
}

/// The `n` ground-truth frames with the most false positives + misses at IoU 0.5 (all scores),
/// most first (ties: earlier frame first), frames without errors left out: `(frame, fp, fn)`.
/// With several streams the stream is dropped from the key.
pub fn worst_frames(
    gt: &Path,
    pred: &Path,
    n: usize,
) -> Result<Vec<(u64, usize, usize)>, DetError> {
    let l = load_paths(gt, pred)?;
    let mut errors: Vec<(FrameKey, usize, usize)> = frame_errors(&l.gt, &l.pred, 0.0)
        .into_iter()
        .filter(|e| e.1 + e.2 > 0)
        .collect();
    errors.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then_with(|| a.0.cmp(&b.0)));
    Ok(errors
        .into_iter()
        .take(n)
        .map(|(k, fp, fneg)| (k.frame, fp, fneg))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

#[derive(Debug, Clone, Copy)]
struct GtBox {
    class: u32,
    xywh: [f64; 4],
    crowd: bool,
    /// `_ignore`: crowd, or area outside the range.
    ignore: bool,
}

#[derive(Debug, Clone, Copy)]
struct DetBox {
    class: u32,
    score: f64,
    xywh: [f64; 4],
    /// Outside the area range (`w * h`, as `loadRes` computes it): ignored when unmatched.
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
    ignored_frames: usize,
    ignored_dets: usize,
}

fn out_of_range(area: f64) -> bool {
    area < AREA_ALL.0 || area > AREA_ALL.1
}

fn prepare<'a>(gt: &'a [GtFrame], pred: &'a [PredFrame], classes: &'a [String]) -> Prepared<'a> {
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
            let area = o.area.unwrap_or(o.xywh[2] * o.xywh[3]);
            gts.push((
                img,
                GtBox {
                    class: intern(&o.label),
                    xywh: o.xywh,
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
            dets.push((
                img,
                DetBox {
                    class: intern(&d.label),
                    score: d.score,
                    xywh: d.xywh,
                    out_of_range: out_of_range(d.xywh[2] * d.xywh[3]),
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
fn match_group(gts: &[GtBox], dets: &[DetBox], thresholds: &[f64], s: &mut Scratch) {
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
                s.ious.push(iou(&d.xywh, &g.xywh, g.crowd));
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
    let p = prepare(gt, pred, classes);
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
            match_group(gts, dets, &thresholds, &mut s);
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
    let p = prepare(gt, pred, &[]);
    let mut s = Scratch::default();
    let t50 = [iou_thresholds()[0]];
    (0..p.keys.len())
        .map(|i| {
            let (mut fp, mut fneg) = (0, 0);
            for_each_group(&p, i, |_, gts, dets| {
                let n = dets.iter().take_while(|d| d.score >= min_score).count();
                match_group(gts, &dets[..n], &t50, &mut s);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gt_obj(label: &str, corners: [f64; 4], iscrowd: bool) -> GtObject {
        GtObject {
            label: label.into(),
            xywh: xywh_from_corners(corners),
            iscrowd,
            area: None,
        }
    }

    fn det(label: &str, score: f64, corners: [f64; 4]) -> PredDetection {
        PredDetection {
            label: label.into(),
            score,
            xywh: xywh_from_corners(corners),
        }
    }

    fn gt_frame(frame: u64, objects: Vec<GtObject>) -> GtFrame {
        GtFrame {
            key: FrameKey::frame(frame),
            objects,
        }
    }

    fn pred_frame(frame: u64, detections: Vec<PredDetection>) -> PredFrame {
        PredFrame {
            key: FrameKey::frame(frame),
            detections,
        }
    }

    fn class<'r>(r: &'r DetReport, name: &str) -> &'r ClassResult {
        r.classes.iter().find(|c| c.name == name).unwrap()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn thresholds_are_numpy_linspace() {
        let t = iou_thresholds();
        assert_eq!((t[0], t[5], t[9]), (0.5, 0.75, 0.95));
        let r = recall_points();
        assert_eq!((r[0], r[1], r[100]), (0.0, 0.01, 1.0));
    }

    /// One box found with IoU 0.8 (100x80 inside 100x100): a true positive at the thresholds
    /// 0.50..0.80, nothing above.
    #[test]
    fn one_detection_counts_at_the_thresholds_its_iou_reaches() {
        let gt = [gt_frame(
            0,
            vec![gt_obj("car", [0.0, 0.0, 100.0, 100.0], false)],
        )];
        let pred = [pred_frame(
            0,
            vec![det("car", 0.9, [0.0, 0.0, 100.0, 80.0])],
        )];
        let r = evaluate(&gt, &pred);
        let c = class(&r, "car");
        // IoU 0.8: thresholds 0.50, 0.55, ..., 0.80 (7 of 10); 0.8 >= iouThrs[6] (0.8).
        assert!(close(c.ap, 0.7), "{c:?}");
        assert!(close(c.ap50, 1.0) && close(c.ap75, 1.0));
        assert!(close(c.ar100, 0.7));
        assert_eq!((c.gt, c.detections), (1, 1));
        assert_eq!(r.map, c.ap);
        assert_eq!(c.pr50.as_ref().unwrap().len(), RECALL_POINTS);
    }

    #[test]
    fn a_duplicate_is_a_false_positive_after_the_match() {
        let gt = [
            gt_frame(0, vec![gt_obj("car", [0.0, 0.0, 100.0, 100.0], false)]),
            gt_frame(1, vec![gt_obj("car", [0.0, 0.0, 100.0, 100.0], false)]),
        ];
        let pred = [
            pred_frame(
                0,
                vec![
                    det("car", 0.5, [0.0, 0.0, 100.0, 100.0]),
                    det("car", 0.9, [0.0, 0.0, 100.0, 95.0]),
                ],
            ),
            pred_frame(1, vec![]),
        ];
        let r = evaluate(&gt, &pred);
        let c = class(&r, "car");
        // Ranked: 0.9 (TP), 0.5 (FP: its box is taken). Recall 0.5 at most, precision 1 up to it
        // (1 / (1 + eps) as pycocotools divides).
        let pr = c.pr50.as_ref().unwrap();
        let one = 1.0 / (1.0 + f64::EPSILON);
        assert!(
            pr[..=50].iter().all(|&p| p == one) && pr[51..].iter().all(|&p| p == 0.0),
            "{pr:?}"
        );
        assert!(close(c.ap50, 51.0 / 101.0));
        assert!(close(c.ar100, 0.5));
    }

    #[test]
    fn crowd_boxes_are_ignored_and_taken_last() {
        let gt = [gt_frame(
            0,
            vec![
                gt_obj("person", [0.0, 0.0, 400.0, 400.0], true),
                gt_obj("person", [0.0, 0.0, 100.0, 100.0], false),
            ],
        )];
        // IoU with the regular box 0.62 (100x62 inside it); with the crowd box (over the
        // detection's area) 1. The crowd box comes last: the detection takes the regular box at
        // 0.50..0.60, the crowd box (ignored) above. Three detections inside the crowd box only
        // are ignored: no false positives.
        let pred = [pred_frame(
            0,
            vec![
                det("person", 0.9, [0.0, 0.0, 100.0, 62.0]),
                det("person", 0.8, [200.0, 200.0, 260.0, 260.0]),
                det("person", 0.7, [210.0, 200.0, 270.0, 260.0]),
                det("person", 0.6, [300.0, 300.0, 320.0, 330.0]),
            ],
        )];
        let r = evaluate(&gt, &pred);
        let c = class(&r, "person");
        assert_eq!((c.gt, c.ignored_gt, c.detections), (1, 1, 4));
        assert!(close(c.ap, 0.3), "{c:?}");
        assert!(close(c.ap50, 1.0));
        assert_eq!(
            frame_errors(&gt, &pred, 0.0),
            vec![(FrameKey::frame(0), 0, 0)]
        );
        // Only a crowd box: no ground truth that counts, so no AP, and no mAP at all.
        let gt = [gt_frame(
            0,
            vec![gt_obj("person", [0.0, 0.0, 400.0, 400.0], true)],
        )];
        let r = evaluate(&gt, &pred);
        assert_eq!((class(&r, "person").ap, r.map, r.map50), (None, None, None));
    }

    #[test]
    fn classes_without_ground_truth_have_no_ap_and_missed_classes_have_zero() {
        let gt = [gt_frame(
            0,
            vec![gt_obj("bus", [0.0, 0.0, 50.0, 50.0], false)],
        )];
        let pred = [
            pred_frame(0, vec![det("dog", 0.9, [0.0, 0.0, 50.0, 50.0])]),
            pred_frame(7, vec![det("cat", 0.9, [0.0, 0.0, 50.0, 50.0])]),
        ];
        let r = evaluate_classes(&gt, &pred, &["zebra".into()]);
        let names: Vec<&str> = r.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["bus", "dog", "zebra"],
            "cat's only frame is not evaluated"
        );
        assert!(close(class(&r, "bus").ap, 0.0));
        assert_eq!(class(&r, "dog").ap, None);
        assert!(close(r.map, 0.0) && close(r.map50, 0.0));
        assert_eq!(
            (r.images, r.ignored_prediction_frames, r.ignored_predictions),
            (1, 1, 1)
        );
        let j = r.to_json();
        assert!(j["classes"]["dog"]["ap"].is_null() && j["classes"]["dog"]["pr50"].is_null());
        assert_eq!(j["classes"]["bus"]["gt"], 1);
        assert_eq!(j["ignored_prediction_frames"], 1);
        let t = r.table();
        assert!(
            t.contains("bus") && t.contains("all") && t.contains("left out"),
            "{t}"
        );
        assert_eq!(
            frame_errors(&gt, &pred, 0.0),
            vec![(FrameKey::frame(0), 1, 1)]
        );
    }

    #[test]
    fn only_the_best_100_detections_per_image_and_class_count() {
        let gt = [gt_frame(
            0,
            vec![gt_obj("car", [0.0, 0.0, 10.0, 10.0], false)],
        )];
        let mut dets: Vec<PredDetection> = (0..100)
            .map(|k| det("car", 0.5, [100.0 + k as f64, 0.0, 110.0 + k as f64, 10.0]))
            .collect();
        dets.push(det("car", 0.4, [0.0, 0.0, 10.0, 10.0]));
        let r = evaluate(&gt, &[pred_frame(0, dets.clone())]);
        assert!(close(class(&r, "car").ap, 0.0), "the match is the 101st");
        assert_eq!(class(&r, "car").detections, 101);
        // frame_errors counts every detection at or above the score floor.
        let pred = [pred_frame(0, dets)];
        assert_eq!(
            frame_errors(&gt, &pred, 0.0)[0],
            (FrameKey::frame(0), 100, 0)
        );
        assert_eq!(
            frame_errors(&gt, &pred, 0.45)[0],
            (FrameKey::frame(0), 100, 1)
        );
    }

    #[test]
    fn frame_numbers_come_from_the_last_digits_of_the_file_name() {
        let f = |s: &str| frame_from_file_name(s).map(Result::unwrap);
        assert_eq!(f("seq/frame_000123.jpg"), Some(123));
        assert_eq!(f("cam2_0042.v1.png"), Some(1));
        assert_eq!(f("img12x.png"), Some(12));
        assert_eq!(f("dir7/abc.jpg"), None);
        assert!(
            frame_from_file_name("f99999999999999999999999.jpg")
                .unwrap()
                .is_err()
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("perceptd-det-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn frames_pair_by_stream_only_when_there_are_several() {
        let d = scratch("streams");
        let gt = write(
            &d,
            "gt.jsonl",
            "{\"frame\":1,\"stream\":\"cam\",\"objects\":[{\"label\":\"car\",\"bbox\":[0,0,10,10]}]}\n\n\
             {\"frame\":2,\"objects\":[],\"width\":640,\"extra\":[1]}\n",
        );
        // One stream each, named differently: paired by frame.
        let pred = write(
            &d,
            "p.jsonl",
            "{\"pipeline\":\"x\",\"stream\":\"drive\",\"frame\":1,\"detections\":[{\"class_id\":0,\"label\":\"car\",\"score\":0.5,\"bbox\":[0,0,10,10],\"track_id\":null}]}\n",
        );
        let l = load_paths(&gt, &pred).unwrap();
        assert_eq!(l.gt[0].key, FrameKey::frame(1));
        assert!(close(evaluate_paths(&gt, &pred).unwrap().map, 1.0));
        // Two prediction streams: every line needs a stream, in both files.
        let pred2 = write(
            &d,
            "p2.jsonl",
            "{\"stream\":\"a\",\"frame\":1,\"detections\":[]}\n{\"stream\":\"b\",\"frame\":1,\"detections\":[]}\n",
        );
        let e = load_paths(&gt, &pred2).unwrap_err().to_string();
        assert!(
            e.contains("gt.jsonl line 3: no `stream`") && e.contains("a, b, cam"),
            "{e}"
        );
        let gt2 = write(
            &d,
            "gt2.jsonl",
            "{\"stream\":\"a\",\"frame\":1,\"objects\":[]}\n{\"stream\":\"b\",\"frame\":1,\"objects\":[]}\n",
        );
        let l = load_paths(&gt2, &pred2).unwrap();
        assert_eq!(l.gt[1].key.stream.as_deref(), Some("b"));
        // The same key twice names both lines.
        let dup = write(
            &d,
            "dup.jsonl",
            "{\"frame\":4,\"objects\":[]}\n{\"frame\":4,\"objects\":[]}\n",
        );
        let e = load_paths(&dup, &pred).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "dup.jsonl line 2: frame 4 appears twice (lines 1 and 2); write each frame once"
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_lines_name_the_file_line_and_field() {
        let d = scratch("bad");
        let gt = write(&d, "gt.jsonl", "{\"frame\":1,\"objects\":[]}\n");
        let pred = write(
            &d,
            "p.jsonl",
            "{\"frame\":1,\"detections\":[]}\n{\"frame\":2,\"detections\":[{\"label\":\"car\",\"bbox\":[0,0,1,1]}]}\n",
        );
        let e = load_paths(&gt, &pred).unwrap_err().to_string();
        assert!(
            e.ends_with("p.jsonl line 2: detections[0]: missing field `score`"),
            "{e}"
        );
        let pred = write(
            &d,
            "p.jsonl",
            "{\"frame\":1,\"detections\":[{\"label\":\"car\",\"score\":1,\"bbox\":[5,0,1,1]}]}\n",
        );
        let e = load_paths(&gt, &pred).unwrap_err().to_string();
        assert!(
            e.contains("line 1: detections[0]: bbox [5.0, 0.0, 1.0, 1.0] is not [x1, y1, x2, y2]"),
            "{e}"
        );
        let gt = write(
            &d,
            "gt.jsonl",
            "{\"frame\":1,\"objects\":[{\"label\":\"a\",\"bbox\":[0,0,1,1],\"iscrowd\":2}]}\n",
        );
        let e = load_paths(&gt, &pred).unwrap_err().to_string();
        assert!(e.contains("gt.jsonl line 1: objects[0].iscrowd: invalid value: integer `2`, expected true, false, 0 or 1"), "{e}");
        let gt = write(&d, "gt.json", "{\n\"images\": [\n");
        let e = load_paths(&gt, &pred).unwrap_err().to_string();
        assert!(e.contains("not JSON Lines") && e.contains("COCO"), "{e}");
        let empty = write(&d, "empty.jsonl", "\n");
        let e = load_paths(&empty, &pred).unwrap_err().to_string();
        assert!(e.ends_with("empty.jsonl: no frames; ground truth needs one JSON object per frame, or a COCO file with images"), "{e}");
        let e = load_paths(&d.join("none.jsonl"), &pred)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.jsonl: cannot read"), "{e}");
    }

    #[test]
    fn coco_files_map_images_to_frames_and_categories_by_name() {
        let d = scratch("coco");
        let gt = write(
            &d,
            "instances.json",
            r#"{"images":[{"id":9,"file_name":"f_0003.jpg"},{"id":2,"file_name":"f_0001.jpg"}],
                "annotations":[{"id":1,"image_id":9,"category_id":5,"bbox":[0,0,10,10],"iscrowd":0,"area":100},
                               {"id":2,"image_id":2,"category_id":5,"bbox":[0,0,10,10],"iscrowd":1,"area":100}],
                "categories":[{"id":5,"name":"car"},{"id":6,"name":"dog"}]}"#,
        );
        let pred = write(
            &d,
            "p.jsonl",
            "{\"frame\":3,\"detections\":[{\"label\":\"car\",\"score\":1,\"bbox\":[0,0,10,10]}]}\n",
        );
        let l = load_paths(&gt, &pred).unwrap();
        let frames: Vec<u64> = l.gt.iter().map(|f| f.key.frame).collect();
        assert_eq!(frames, [1, 3], "image id order");
        assert_eq!(l.gt_classes, ["car", "dog"]);
        let r = evaluate_paths(&gt, &pred).unwrap();
        assert!(close(r.map, 1.0));
        assert_eq!(class(&r, "dog").ap, None);
        let dup = write(
            &d,
            "dup.json",
            r#"{"images":[{"id":1,"file_name":"a/frame_7.jpg"},{"id":2,"file_name":"b/frame_007.jpg"}],"annotations":[],"categories":[]}"#,
        );
        let e = load_paths(&dup, &pred).unwrap_err().to_string();
        assert!(
            e.contains(
                "dup.json: images 1 (a/frame_7.jpg) and 2 (b/frame_007.jpg) both map to frame 7"
            ),
            "{e}"
        );
        let bad = write(
            &d,
            "bad.json",
            r#"{"images":[],"annotations":[{"image_id":1,"category_id":1,"bbox":[0,0,1]}]}"#,
        );
        let e = load_paths(&bad, &pred).unwrap_err().to_string();
        assert!(
            e.contains("bad.json: COCO JSON: annotations[0].bbox: invalid length 3"),
            "{e}"
        );
    }
}

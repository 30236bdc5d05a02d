//! Per-class IoU and mIoU of class-map PNGs against ground truth (`perceptd eval seg`).
//!
//! Input: two folders of PNG class maps, one file per frame, the pixel value being the class
//! index. A file is an indexed (palette) PNG of 1, 2, 4 or 8 bits (the palette is not read: the
//! index is the class; perceptd's `mask` sink writes these, and so does Pillow for mode `P`) or an
//! 8-bit grayscale PNG. A file's frame number is the last run of digits in its name (`000042.png`,
//! `drive-lanes-000042.png` and `frame_42.png` are all frame 42). The rest of the name, with the
//! digits replaced by `#`, is the file's *series*: the mask sink's `{stream}-{head}-{frame}.png`
//! gives one series per stream and head (`drive-lanes-#`). A folder holding several series is
//! narrowed by [`SegOptions::head`] and [`SegOptions::stream`]; when still several remain, the
//! error lists them.
//!
//! Frames with both a ground-truth and a prediction file are evaluated; the others are counted
//! (the mask sink writes every N-th frame, so ground truth without prediction is normal). The two
//! maps of a frame must have the same size: nothing is resized.
//!
//! One confusion matrix (rows: ground truth, columns: prediction, u64 counts) sums every pixel of
//! every evaluated frame except those whose ground truth is the `ignore` index (default 255).
//! Per class `k`: IoU = TP / (TP + FP + FN), the diagonal over row sum + column sum - diagonal; a
//! class never in the ground truth nor predicted has no IoU (`None`) and is left out of the mIoU,
//! the mean of the defined IoUs. Pixel accuracy is the diagonal over all counted pixels. The number
//! of classes is the number of names when they are given, else the highest index counted + 1.
//! Each frame also gets its own mIoU (from its own matrix, classes absent from the frame left
//! out), to find the worst frames.

use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The ground-truth index excluded from the metrics unless [`SegOptions::ignore`] says otherwise.
pub const DEFAULT_IGNORE: u8 = 255;

/// How many of the worst frames [`SegReport::table`] lists.
pub const WORST_FRAMES_SHOWN: usize = 5;

/// What can go wrong reading or pairing class maps. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
pub enum SegError {
    #[error("{flag} {}: no such folder", path.display())]
    NotFound { flag: &'static str, path: PathBuf },
    #[error("{flag} {}: not a folder; give the folder that holds the PNG class maps", path.display())]
    NotAFolder { flag: &'static str, path: PathBuf },
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a readable PNG ({reason}); class maps must be PNG files", path.display())]
    Decode { path: PathBuf, reason: String },
    #[error(
        "{}: {kind} PNG; a class map is an indexed (palette) PNG or an 8-bit grayscale PNG whose pixel values are class indices{hint}",
        path.display()
    )]
    Format {
        path: PathBuf,
        kind: String,
        hint: &'static str,
    },
    #[error(
        "{flag} {}: no PNG files{}",
        dir.display(),
        match example {
            Some(e) => format!(
                " (but {others} other files, e.g. {}: class maps must be lossless PNGs; JPEG would change the class indices)",
                e.display()
            ),
            None => String::new(),
        }
    )]
    NoPngs {
        flag: &'static str,
        dir: PathBuf,
        others: usize,
        example: Option<PathBuf>,
    },
    #[error(
        "{}: no frame number in the file name; name class maps by frame (e.g. 000042.png or drive-lanes-000042.png: the last run of digits is the frame)",
        path.display()
    )]
    NoFrameNumber { path: PathBuf },
    #[error(
        "{} and {}: both are frame {frame} of series `{series}`; keep one file per frame (or put the files of different videos in different folders)",
        a.display(),
        b.display()
    )]
    DuplicateFrame {
        frame: u64,
        series: String,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("{}: masks of several {what} ({}); choose one with {flag}", dir.display(), names.join(", "))]
    Ambiguous {
        dir: PathBuf,
        what: &'static str,
        flag: &'static str,
        names: Vec<String>,
    },
    #[error(
        "{}: no masks of {what} `{wanted}`; {what}s present: {}",
        dir.display(),
        if present.is_empty() { "none (no file is named <stream>-<head>-<frame>.png)".to_string() } else { present.join(", ") }
    )]
    NoSuchSeries {
        dir: PathBuf,
        what: &'static str,
        wanted: String,
        present: Vec<String>,
    },
    #[error(
        "no frame has both ground truth and a prediction: {} holds frames {gt_frames}, {} holds frames {pred_frames}; the frame number is the last run of digits in each file name, so both folders must number the frames of the same video the same way (perceptd counts frames from 0)",
        gt.display(),
        pred.display()
    )]
    NoCommonFrames {
        gt: PathBuf,
        pred: PathBuf,
        /// The frame range, file count and series of each side.
        gt_frames: String,
        pred_frames: String,
    },
    #[error(
        "frame {frame}: ground truth {} is {}x{} but prediction {} is {}x{}; class maps must have the same size (perceptd writes masks at the source's resolution; resize the ground truth with nearest-neighbour, never bilinear, before evaluating)",
        gt.display(), gt_size.0, gt_size.1, pred.display(), pred_size.0, pred_size.1
    )]
    SizeMismatch {
        frame: u64,
        gt: PathBuf,
        gt_size: (u32, u32),
        pred: PathBuf,
        pred_size: (u32, u32),
    },
    #[error(
        "{}: holds class index {value} but only {classes} class names are given (indices 0..{}); give the full class list, in index order",
        path.display(),
        classes.saturating_sub(1)
    )]
    ClassOutOfRange {
        path: PathBuf,
        value: u8,
        classes: usize,
    },
    #[error("class names ({source_name}): {reason}")]
    Classes { source_name: String, reason: String },
}

/// What to evaluate. `Default` gives no filters, `ignore: Some(255)` and no class names.
#[derive(Debug, Clone)]
pub struct SegOptions {
    /// Keeps the files of this head (`{stream}-{head}-{frame}.png`) when a folder holds several.
    pub head: Option<String>,
    /// Keeps the files of this stream when a folder holds several.
    pub stream: Option<String>,
    /// Ground-truth index left out of every metric; `None` counts every pixel.
    pub ignore: Option<u8>,
    /// Class names in index order; `None` names them `class N`.
    pub classes: Option<Vec<String>>,
}

impl Default for SegOptions {
    fn default() -> Self {
        SegOptions {
            head: None,
            stream: None,
            ignore: Some(DEFAULT_IGNORE),
            classes: None,
        }
    }
}

/// Reads class names: one a line, trimmed, blank lines skipped (as a model's `classes` file).
pub fn read_class_names(path: &Path) -> Result<Vec<String>, SegError> {
    let text = std::fs::read_to_string(path).map_err(|error| SegError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    check_class_names(&names, &path.display().to_string())?;
    Ok(names)
}

fn check_class_names(names: &[String], source_name: &str) -> Result<(), SegError> {
    let err = |reason: String| SegError::Classes {
        source_name: source_name.to_string(),
        reason,
    };
    if names.is_empty() {
        return Err(err("empty; give one name per class, in index order".into()));
    }
    if names.len() > 256 {
        return Err(err(format!(
            "{} names, but an 8-bit class map has at most 256 classes",
            names.len()
        )));
    }
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|m| m == n) {
            return Err(err(format!(
                "`{n}` is the name of classes {j} and {i}; names must be unique"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The confusion matrix.

const N: usize = 256;

/// A 256 x 256 confusion matrix of u64 pixel counts: row = ground-truth index, column = predicted
/// index, plus the count of ignored pixels. Every non-zero cell lies in the block
/// `0..gt_classes() x 0..pred_classes()`, which bounds every scan, merge and clear.
#[derive(Clone)]
pub struct Confusion {
    counts: Box<[u64; N * N]>,
    gt_hi: usize,
    pred_hi: usize,
    ignored: u64,
}

impl std::fmt::Debug for Confusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.classes();
        let rows: Vec<&[u64]> = (0..n).map(|g| &self.counts[g * N..g * N + n]).collect();
        f.debug_struct("Confusion")
            .field("counts", &rows)
            .field("ignored", &self.ignored)
            .finish()
    }
}

impl Default for Confusion {
    fn default() -> Self {
        Self::new()
    }
}

impl Confusion {
    pub fn new() -> Self {
        let counts: Box<[u64; N * N]> = vec![0u64; N * N]
            .into_boxed_slice()
            .try_into()
            .expect("256 * 256 cells");
        Confusion {
            counts,
            gt_hi: 0,
            pred_hi: 0,
            ignored: 0,
        }
    }

    /// Pixels whose ground truth is `gt` and prediction `pred`.
    pub fn count(&self, gt: u8, pred: u8) -> u64 {
        self.counts[usize::from(gt) * N + usize::from(pred)]
    }

    /// Highest ground-truth index counted + 1 (0 when nothing is counted).
    pub fn gt_classes(&self) -> usize {
        self.gt_hi
    }

    /// Highest predicted index counted + 1 (0 when nothing is counted).
    pub fn pred_classes(&self) -> usize {
        self.pred_hi
    }

    /// Highest index counted, in the ground truth or the prediction, + 1.
    pub fn classes(&self) -> usize {
        self.gt_hi.max(self.pred_hi)
    }

    /// Pixels left out because their ground truth was the ignore index.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Pixels counted (not ignored).
    pub fn pixels(&self) -> u64 {
        self.block_rows().map(|r| r.iter().sum::<u64>()).sum()
    }

    /// Correctly classified pixels: the diagonal.
    pub fn correct(&self) -> u64 {
        (0..self.classes()).map(|k| self.counts[k * N + k]).sum()
    }

    fn block_rows(&self) -> impl Iterator<Item = &[u64]> {
        (0..self.gt_hi).map(|g| &self.counts[g * N..g * N + self.pred_hi])
    }

    /// Pixels of class `k` in the ground truth (row sum).
    pub fn gt_pixels(&self, k: usize) -> u64 {
        if k >= self.gt_hi {
            return 0;
        }
        self.counts[k * N..k * N + self.pred_hi].iter().sum()
    }

    /// Pixels predicted as class `k` (column sum).
    pub fn pred_pixels(&self, k: usize) -> u64 {
        if k >= self.pred_hi {
            return 0;
        }
        (0..self.gt_hi).map(|g| self.counts[g * N + k]).sum()
    }

    /// IoU of class `k`: TP / (TP + FP + FN); `None` when the class is in neither the ground
    /// truth nor the prediction.
    pub fn iou(&self, k: usize) -> Option<f64> {
        if k >= N {
            return None;
        }
        let tp = self.counts[k * N + k];
        let union = self.gt_pixels(k) + self.pred_pixels(k) - tp;
        (union > 0).then(|| tp as f64 / union as f64)
    }

    /// IoUs of classes `0..n`.
    pub fn ious(&self, n: usize) -> Vec<Option<f64>> {
        (0..n).map(|k| self.iou(k)).collect()
    }

    /// Mean of the defined IoUs of classes `0..n`; `None` when none is defined.
    pub fn miou(&self, n: usize) -> Option<f64> {
        mean_defined(&self.ious(n))
    }

    /// Correct pixels over counted pixels; `None` when nothing is counted.
    pub fn pixel_accuracy(&self) -> Option<f64> {
        let px = self.pixels();
        (px > 0).then(|| self.correct() as f64 / px as f64)
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Confusion) {
        for g in 0..other.gt_hi {
            let (a, b) = (g * N, g * N + other.pred_hi);
            for (x, y) in self.counts[a..b].iter_mut().zip(&other.counts[a..b]) {
                *x += y;
            }
        }
        self.gt_hi = self.gt_hi.max(other.gt_hi);
        self.pred_hi = self.pred_hi.max(other.pred_hi);
        self.ignored += other.ignored;
    }

    /// Back to empty; costs the size of the used block only.
    pub fn clear(&mut self) {
        for g in 0..self.gt_hi {
            self.counts[g * N..g * N + self.pred_hi].fill(0);
        }
        self.gt_hi = 0;
        self.pred_hi = 0;
        self.ignored = 0;
    }

    /// Counts one frame. See [`add_frame`].
    pub fn add_frame(&mut self, gt: &[u8], pred: &[u8], ignore: Option<u8>) {
        add_frame(self, gt, pred, ignore)
    }
}

/// The mean of the `Some` values; `None` when there is none (NumPy's `nanmean` without the NaN).
pub fn mean_defined(values: &[Option<f64>]) -> Option<f64> {
    let (sum, n) = values
        .iter()
        .flatten()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Adds one frame's pixels to `c`: `gt` and `pred` are the two class maps, pixel by pixel (same
/// length, same order); pixels whose ground truth is `ignore` are only counted as ignored.
///
/// # Panics
/// When the two maps differ in length (a caller's bug: compare sizes first).
pub fn add_frame(c: &mut Confusion, gt: &[u8], pred: &[u8], ignore: Option<u8>) {
    assert_eq!(
        gt.len(),
        pred.len(),
        "add_frame: ground truth and prediction differ in pixel count"
    );
    if gt.is_empty() {
        return;
    }
    // `fold` vectorises; `Iterator::max` (through `Option`) does not and costs 30 times more.
    let max = |v: &[u8]| v.iter().fold(0u8, |a, &b| a.max(b));
    let (gmax, pmax) = (max(gt), max(pred));
    // The ignore row is counted like any other, then its old contents are put back and the
    // difference goes to `ignored`: the hot loop has no branch.
    let ig = ignore.map(|i| usize::from(i) * N);
    let mut saved = [0u64; N];
    if let Some(r) = ig {
        saved.copy_from_slice(&c.counts[r..r + N]);
    }
    histogram(&mut c.counts, gt, pred);
    if let Some(r) = ig {
        let row = &mut c.counts[r..r + N];
        let added: u64 = row.iter().sum::<u64>() - saved.iter().sum::<u64>();
        c.ignored += added;
        row.copy_from_slice(&saved);
    }
    // Grow the used block to the cells that are now non-zero.
    let (gmax, pmax) = (usize::from(gmax), usize::from(pmax));
    for g in 0..=gmax {
        if Some(g * N) == ig {
            continue;
        }
        let row = &c.counts[g * N..=g * N + pmax];
        if let Some(p) = row.iter().rposition(|&v| v != 0) {
            c.gt_hi = c.gt_hi.max(g + 1);
            c.pred_hi = c.pred_hi.max(p + 1);
        }
    }
}

#[inline(always)]
fn cell(g: u8, p: u8) -> usize {
    ((usize::from(g) << 8) | usize::from(p)) & (N * N - 1)
}

/// The hot loop. Class maps are mostly long runs of one (ground truth, prediction) pair, and one
/// increment per pixel would wait on the previous store to the same counter (about 3 ms for a
/// 960x540 frame). So 8 pixels are read as two u64: when both are uniform, the run continues in
/// a register and memory is touched only when the pair changes; other blocks (class borders,
/// noise) count pixel by pixel.
#[inline]
fn histogram(counts: &mut [u64; N * N], gt: &[u8], pred: &[u8]) {
    const SPLAT: u64 = 0x0101_0101_0101_0101;
    let (gc, pc) = (gt.chunks_exact(8), pred.chunks_exact(8));
    let (g_rest, p_rest) = (gc.remainder(), pc.remainder());
    let (mut key, mut run) = (0usize, 0u64);
    for (g8, p8) in gc.zip(pc) {
        let g = u64::from_le_bytes(g8.try_into().expect("8 bytes"));
        let p = u64::from_le_bytes(p8.try_into().expect("8 bytes"));
        let (g0, p0) = (g & 0xff, p & 0xff);
        if g == g0 * SPLAT && p == p0 * SPLAT {
            let k = cell(g0 as u8, p0 as u8);
            if k == key {
                run += 8;
            } else {
                counts[key] += run;
                key = k;
                run = 8;
            }
        } else {
            for (&g, &p) in g8.iter().zip(p8) {
                counts[cell(g, p)] += 1;
            }
        }
    }
    counts[key] += run;
    for (&g, &p) in g_rest.iter().zip(p_rest) {
        counts[cell(g, p)] += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading PNG class maps.

/// One decoded class map: `width * height` class indices, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassMap {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Reads an indexed (1, 2, 4 or 8-bit) or 8-bit grayscale PNG as class indices.
pub fn read_class_map(path: &Path) -> Result<ClassMap, SegError> {
    let mut map = ClassMap::default();
    let mut scratch = vec![];
    read_class_map_into(path, &mut map, &mut scratch)?;
    Ok(map)
}

/// [`read_class_map`] into reused buffers.
fn read_class_map_into(
    path: &Path,
    map: &mut ClassMap,
    scratch: &mut Vec<u8>,
) -> Result<(), SegError> {
    let file = std::fs::File::open(path).map_err(|error| SegError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let decode = |e: png::DecodingError| match e {
        png::DecodingError::IoError(error) if error.kind() != std::io::ErrorKind::UnexpectedEof => {
            SegError::Read {
                path: path.to_path_buf(),
                error,
            }
        }
        e => SegError::Decode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    };
    let mut reader = png::Decoder::new(BufReader::with_capacity(1 << 16, file))
        .read_info()
        .map_err(decode)?;
    let (color, depth) = {
        let info = reader.info();
        (info.color_type, info.bit_depth)
    };
    let bits = match (color, depth) {
        (png::ColorType::Indexed, d) => d as u8,
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 8,
        (png::ColorType::Grayscale, d) => {
            return Err(SegError::Format {
                path: path.to_path_buf(),
                kind: format!("{}-bit grayscale", d as u8),
                hint: "; save it as 8-bit grayscale (Pillow mode `L`) or indexed (mode `P`)",
            });
        }
        (c, d) => {
            let hint = match c {
                png::ColorType::Rgb | png::ColorType::Rgba => {
                    "; a colour-coded mask must first be converted to class indices (one index per colour)"
                }
                _ => "",
            };
            return Err(SegError::Format {
                path: path.to_path_buf(),
                kind: format!("{c:?} {}-bit", d as u8),
                hint,
            });
        }
    };
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| SegError::Decode {
            path: path.to_path_buf(),
            reason: "image too large".into(),
        })?;
    let (w, h) = (reader.info().width, reader.info().height);
    let npx = w as usize * h as usize;
    if bits == 8 {
        map.pixels.resize(size.max(npx), 0);
        let out = reader.next_frame(&mut map.pixels).map_err(decode)?;
        if out.line_size != w as usize {
            return Err(SegError::Decode {
                path: path.to_path_buf(),
                reason: format!("unexpected row size {} for width {w}", out.line_size),
            });
        }
        map.pixels.truncate(npx);
    } else {
        scratch.resize(size, 0);
        let out = reader.next_frame(scratch).map_err(decode)?;
        map.pixels.clear();
        map.pixels.reserve(npx);
        let per_byte = 8 / usize::from(bits);
        let mask = (1u8 << bits) - 1;
        for row in scratch.chunks_exact(out.line_size).take(h as usize) {
            for x in 0..w as usize {
                let byte = row[x / per_byte];
                let shift = 8 - usize::from(bits) * (x % per_byte + 1);
                map.pixels.push((byte >> shift) & mask);
            }
        }
    }
    map.width = w;
    map.height = h;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Folders: frame numbers, series, pairing.

/// One PNG of a folder: its frame number and series (the name with the frame digits as `#`).
#[derive(Debug, Clone)]
struct Entry {
    frame: u64,
    series: String,
    path: PathBuf,
}

/// The frame number of a file stem (its last run of ASCII digits) and its series.
fn parse_stem(stem: &str) -> Option<(u64, String)> {
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let frame = stem[start..end].parse().ok()?;
    Some((frame, format!("{}#{}", &stem[..start], &stem[end..])))
}

/// `(stream, head)` of a series in the mask sink's pattern `{stream}-{head}-#`.
fn stream_head(series: &str) -> Option<(&str, &str)> {
    let s = series.strip_suffix("-#")?;
    let (stream, head) = s.rsplit_once('-')?;
    (!stream.is_empty() && !head.is_empty()).then_some((stream, head))
}

fn list_pngs(flag: &'static str, dir: &Path) -> Result<Vec<Entry>, SegError> {
    if !dir.exists() {
        return Err(SegError::NotFound {
            flag,
            path: dir.to_path_buf(),
        });
    }
    if !dir.is_dir() {
        return Err(SegError::NotAFolder {
            flag,
            path: dir.to_path_buf(),
        });
    }
    let read = |error| SegError::Read {
        path: dir.to_path_buf(),
        error,
    };
    let mut paths = vec![];
    for e in std::fs::read_dir(dir).map_err(read)? {
        let p = e.map_err(read)?.path();
        if p.is_file() {
            paths.push(p);
        }
    }
    paths.sort();
    let (pngs, others): (Vec<PathBuf>, Vec<PathBuf>) = paths
        .into_iter()
        .partition(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")));
    if pngs.is_empty() {
        return Err(SegError::NoPngs {
            flag,
            dir: dir.to_path_buf(),
            others: others.len(),
            example: others.into_iter().next(),
        });
    }
    pngs.into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match parse_stem(&stem) {
                Some((frame, series)) => Ok(Entry {
                    frame,
                    series,
                    path,
                }),
                None => Err(SegError::NoFrameNumber { path }),
            }
        })
        .collect()
}

fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
    let set: std::collections::BTreeSet<&str> = it.collect();
    set.into_iter().map(String::from).collect()
}

/// Narrows a folder's files to one series; `always` applies the filters even to a single series.
fn choose_series(
    dir: &Path,
    entries: Vec<Entry>,
    opts: &SegOptions,
    always: bool,
) -> Result<(String, Vec<Entry>), SegError> {
    let all = distinct(entries.iter().map(|e| e.series.as_str()));
    let mut keep: Vec<String> = all.clone();
    if always || all.len() > 1 {
        let parsed = |s: &String| stream_head(s).map(|(a, b)| (a.to_string(), b.to_string()));
        if let Some(want) = &opts.stream {
            let present = distinct(all.iter().filter_map(|s| stream_head(s)).map(|(s, _)| s));
            keep.retain(|s| parsed(s).is_some_and(|(st, _)| &st == want));
            if keep.is_empty() {
                return Err(SegError::NoSuchSeries {
                    dir: dir.to_path_buf(),
                    what: "stream",
                    wanted: want.clone(),
                    present,
                });
            }
        }
        if let Some(want) = &opts.head {
            let present = distinct(keep.iter().filter_map(|s| stream_head(s)).map(|(_, h)| h));
            keep.retain(|s| parsed(s).is_some_and(|(_, h)| &h == want));
            if keep.is_empty() {
                return Err(SegError::NoSuchSeries {
                    dir: dir.to_path_buf(),
                    what: "head",
                    wanted: want.clone(),
                    present,
                });
            }
        }
    }
    if keep.len() > 1 {
        let sh: Vec<Option<(&str, &str)>> = keep.iter().map(|s| stream_head(s)).collect();
        let err = |what, flag, names| SegError::Ambiguous {
            dir: dir.to_path_buf(),
            what,
            flag,
            names,
        };
        if sh.iter().all(Option::is_some) {
            let heads = distinct(sh.iter().flatten().map(|(_, h)| *h));
            let streams = distinct(sh.iter().flatten().map(|(s, _)| *s));
            if heads.len() > 1 {
                return Err(err("heads", "--head", heads));
            }
            if streams.len() > 1 {
                return Err(err("streams", "--stream", streams));
            }
        }
        return Err(err(
            "file-name patterns",
            "--head / --stream or by keeping one per folder",
            keep,
        ));
    }
    let series = keep.pop().expect("at least one PNG");
    let mut chosen: Vec<Entry> = entries.into_iter().filter(|e| e.series == series).collect();
    chosen.sort_by_key(|e| e.frame);
    for w in chosen.windows(2) {
        if w[0].frame == w[1].frame {
            return Err(SegError::DuplicateFrame {
                frame: w[0].frame,
                series: series.clone(),
                a: w[0].path.clone(),
                b: w[1].path.clone(),
            });
        }
    }
    Ok((series, chosen))
}

fn frame_span(e: &[Entry], series: &str) -> String {
    match (e.first(), e.last()) {
        (Some(a), Some(b)) if e.len() > 1 => {
            format!("{}..{} ({} files {series})", a.frame, b.frame, e.len())
        }
        (Some(a), _) => format!("{} (1 file {series})", a.frame),
        _ => "none".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

/// One class's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResult {
    pub index: usize,
    pub name: String,
    /// `None` when the class is in neither the ground truth nor the predictions.
    pub iou: Option<f64>,
    /// Ground-truth pixels of the class.
    pub gt_pixels: u64,
    /// Predicted pixels of the class.
    pub pred_pixels: u64,
    /// `gt_pixels` over all counted pixels (`None` when nothing is counted).
    pub gt_fraction: Option<f64>,
}

/// The result of [`evaluate_dirs`].
#[derive(Debug, Clone)]
pub struct SegReport {
    /// The ground-truth and prediction series evaluated (e.g. `#`, `drive-lanes-#`).
    pub gt_series: String,
    pub pred_series: String,
    pub ignore: Option<u8>,
    pub confusion: Confusion,
    pub classes: Vec<ClassResult>,
    /// Evaluated frames with their own mIoU (`None`: every pixel ignored), by frame number.
    pub per_frame: Vec<(u64, Option<f64>)>,
    /// Frame numbers of ground truth without a prediction, and the other way round.
    pub gt_without_prediction: Vec<u64>,
    pub predictions_without_gt: Vec<u64>,
    /// Things that look wrong but are not errors.
    pub warnings: Vec<String>,
}

impl SegReport {
    /// Builds the report from a summed matrix: as many classes as names, or more when higher
    /// indices were counted (named `class N`, as every class is without names).
    pub fn from_confusion(
        confusion: Confusion,
        names: Option<&[String]>,
        ignore: Option<u8>,
    ) -> SegReport {
        let n = names.map_or(0, <[String]>::len).max(confusion.classes());
        let px = confusion.pixels();
        let classes = (0..n)
            .map(|k| {
                let gt_pixels = confusion.gt_pixels(k);
                ClassResult {
                    index: k,
                    name: names
                        .and_then(|v| v.get(k).cloned())
                        .unwrap_or_else(|| format!("class {k}")),
                    iou: confusion.iou(k),
                    gt_pixels,
                    pred_pixels: confusion.pred_pixels(k),
                    gt_fraction: (px > 0).then(|| gt_pixels as f64 / px as f64),
                }
            })
            .collect();
        let mut warnings = vec![];
        if let Some(i) = ignore
            && confusion.ignored() > 0
            && confusion.gt_classes() <= 1
        {
            warnings.push(format!(
                "the ground truth holds only class 0 besides the ignore index {i}: if these are binary masks with {i} for the foreground, evaluate without an ignore index"
            ));
        }
        SegReport {
            gt_series: String::new(),
            pred_series: String::new(),
            ignore,
            confusion,
            classes,
            per_frame: vec![],
            gt_without_prediction: vec![],
            predictions_without_gt: vec![],
            warnings,
        }
    }

    /// Mean of the defined per-class IoUs.
    pub fn miou(&self) -> Option<f64> {
        mean_defined(&self.classes.iter().map(|c| c.iou).collect::<Vec<_>>())
    }

    pub fn pixel_accuracy(&self) -> Option<f64> {
        self.confusion.pixel_accuracy()
    }

    /// Evaluated frames.
    pub fn frames(&self) -> usize {
        self.per_frame.len()
    }

    /// Frames by their own mIoU, worst first (frames without one last); ties by frame number.
    pub fn worst_frames(&self) -> Vec<(u64, Option<f64>)> {
        let mut v = self.per_frame.clone();
        v.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => x.total_cmp(&y).then(a.0.cmp(&b.0)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.cmp(&b.0),
        });
        v
    }

    pub fn to_json(&self) -> Value {
        let mut classes = Map::new();
        for c in &self.classes {
            classes.insert(
                c.name.clone(),
                json!({
                    "index": c.index,
                    "iou": c.iou,
                    "gt_fraction": c.gt_fraction,
                    "gt_pixels": c.gt_pixels,
                    "pred_pixels": c.pred_pixels,
                }),
            );
        }
        json!({
            "miou": self.miou(),
            "pixel_accuracy": self.pixel_accuracy(),
            "frames": self.frames(),
            "gt_without_prediction": self.gt_without_prediction.len(),
            "predictions_without_gt": self.predictions_without_gt.len(),
            "pixels": self.confusion.pixels(),
            "ignored_pixels": self.confusion.ignored(),
            "ignore": self.ignore,
            "gt_series": self.gt_series,
            "pred_series": self.pred_series,
            "classes": classes,
            "per_frame": self.per_frame.iter().map(|(f, m)| json!([f, m])).collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }

    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}%", v * 100.0));
        let w = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w$} {:>8} {:>9} {:>9}",
            "class", "IoU", "GT", "pred"
        );
        let px = self.confusion.pixels().max(1) as f64;
        for c in &self.classes {
            let _ = writeln!(
                out,
                "{:<w$} {:>8} {:>9} {:>9}",
                c.name,
                pct(c.iou),
                pct(c.gt_fraction),
                pct((self.confusion.pixels() > 0).then(|| c.pred_pixels as f64 / px)),
            );
        }
        let defined = self.classes.iter().filter(|c| c.iou.is_some()).count();
        let _ = writeln!(
            out,
            "mIoU {} over {defined} of {} classes (a class in neither the ground truth nor the predictions has no IoU: -)",
            pct(self.miou()),
            self.classes.len()
        );
        let _ = writeln!(
            out,
            "pixel accuracy {}; {} pixels counted, {} ignored{}",
            pct(self.pixel_accuracy()),
            self.confusion.pixels(),
            self.confusion.ignored(),
            self.ignore
                .map_or(String::new(), |i| format!(" (ground truth {i})"))
        );
        let _ = writeln!(
            out,
            "frames: {} evaluated; {} ground-truth frames without prediction; {} predictions without ground truth",
            self.frames(),
            self.gt_without_prediction.len(),
            self.predictions_without_gt.len()
        );
        let worst: Vec<String> = self
            .worst_frames()
            .into_iter()
            .take(WORST_FRAMES_SHOWN)
            .map(|(f, m)| format!("{f} ({})", pct(m)))
            .collect();
        if !worst.is_empty() {
            let _ = writeln!(out, "worst frames by their own mIoU: {}", worst.join(", "));
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// One frame to evaluate.
#[derive(Debug, Clone)]
struct Pair {
    frame: u64,
    gt: PathBuf,
    pred: PathBuf,
}

/// Scores the prediction folder `pred` against the ground-truth folder `gt`. Frames are decoded
/// on all cores; the result does not depend on their number.
pub fn evaluate_dirs(gt: &Path, pred: &Path, opts: &SegOptions) -> Result<SegReport, SegError> {
    if let Some(names) = &opts.classes {
        check_class_names(names, "the class list")?;
    }
    let gt_all = list_pngs("--gt", gt)?;
    let pred_all = list_pngs("--pred", pred)?;
    let (pred_series, preds) = choose_series(pred, pred_all, opts, true)?;
    let (gt_series, gts) = choose_series(gt, gt_all, opts, false)?;

    let mut pairs = vec![];
    let (mut gt_only, mut pred_only) = (vec![], vec![]);
    let (mut i, mut j) = (0, 0);
    while i < gts.len() || j < preds.len() {
        match (gts.get(i), preds.get(j)) {
            (Some(g), Some(p)) if g.frame == p.frame => {
                pairs.push(Pair {
                    frame: g.frame,
                    gt: g.path.clone(),
                    pred: p.path.clone(),
                });
                i += 1;
                j += 1;
            }
            (Some(g), Some(p)) if g.frame < p.frame => {
                gt_only.push(g.frame);
                i += 1;
            }
            (Some(g), None) => {
                gt_only.push(g.frame);
                i += 1;
            }
            (_, Some(p)) => {
                pred_only.push(p.frame);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    if pairs.is_empty() {
        return Err(SegError::NoCommonFrames {
            gt: gt.to_path_buf(),
            pred: pred.to_path_buf(),
            gt_frames: frame_span(&gts, &gt_series),
            pred_frames: frame_span(&preds, &pred_series),
        });
    }

    let names = opts.classes.as_deref();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(pairs.len());
    let chunk = pairs.len().div_ceil(threads);
    let results: Vec<Result<Partial, SegError>> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| s.spawn(move || evaluate_pairs(part, opts.ignore, names)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an evaluation thread panicked"))
            .collect()
    });
    let mut total = Confusion::new();
    let mut per_frame = Vec::with_capacity(pairs.len());
    for r in results {
        // Chunks are in frame order: the first error is the one of the lowest frame.
        let (c, f) = r?;
        total.merge(&c);
        per_frame.extend(f);
    }
    let mut report = SegReport::from_confusion(total, names, opts.ignore);
    report.gt_series = gt_series;
    report.pred_series = pred_series;
    report.per_frame = per_frame;
    report.gt_without_prediction = gt_only;
    report.predictions_without_gt = pred_only;
    Ok(report)
}

/// One thread's sum and its frames' own mIoUs.
type Partial = (Confusion, Vec<(u64, Option<f64>)>);

/// Decodes and counts `pairs` in order; stops at the first error.
fn evaluate_pairs(
    pairs: &[Pair],
    ignore: Option<u8>,
    names: Option<&[String]>,
) -> Result<Partial, SegError> {
    let mut total = Confusion::new();
    let mut frame = Confusion::new();
    let mut per_frame = Vec::with_capacity(pairs.len());
    let (mut g, mut p, mut scratch) = (ClassMap::default(), ClassMap::default(), vec![]);
    for pair in pairs {
        read_class_map_into(&pair.gt, &mut g, &mut scratch)?;
        read_class_map_into(&pair.pred, &mut p, &mut scratch)?;
        if (g.width, g.height) != (p.width, p.height) {
            return Err(SegError::SizeMismatch {
                frame: pair.frame,
                gt: pair.gt.clone(),
                gt_size: (g.width, g.height),
                pred: pair.pred.clone(),
                pred_size: (p.width, p.height),
            });
        }
        frame.clear();
        add_frame(&mut frame, &g.pixels, &p.pixels, ignore);
        if let Some(names) = names {
            for (hi, path) in [
                (frame.gt_classes(), &pair.gt),
                (frame.pred_classes(), &pair.pred),
            ] {
                if hi > names.len() {
                    return Err(SegError::ClassOutOfRange {
                        path: path.clone(),
                        value: (hi - 1) as u8,
                        classes: names.len(),
                    });
                }
            }
        }
        per_frame.push((pair.frame, frame.miou(frame.classes())));
        total.merge(&frame);
    }
    Ok((total, per_frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_numbers_and_series_come_from_the_last_run_of_digits() {
        let p = |s: &str| parse_stem(s);
        assert_eq!(p("000042"), Some((42, "#".into())));
        assert_eq!(p("drive-lanes-000042"), Some((42, "drive-lanes-#".into())));
        assert_eq!(p("frame_42"), Some((42, "frame_#".into())));
        assert_eq!(
            p("cam2-out3-000007_mask"),
            Some((7, "cam2-out3-#_mask".into()))
        );
        assert_eq!(p("labels"), None);
        assert_eq!(p("99999999999999999999999"), None);
        assert_eq!(stream_head("drive-cam-da-#"), Some(("drive-cam", "da")));
        assert_eq!(stream_head("frame_#"), None);
        assert_eq!(stream_head("#"), None);
    }

    #[test]
    fn iou_per_class_by_hand() {
        // gt:   0 0 1 1 2 255
        // pred: 0 1 1 1 0 2
        let mut c = Confusion::new();
        add_frame(
            &mut c,
            &[0, 0, 1, 1, 2, 255],
            &[0, 1, 1, 1, 0, 2],
            Some(255),
        );
        assert_eq!((c.pixels(), c.ignored(), c.classes()), (5, 1, 3));
        // class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 2, gt 2, pred 3 -> 2/3; class 2: tp 0.
        assert_eq!(
            c.ious(4),
            [Some(1.0 / 3.0), Some(2.0 / 3.0), Some(0.0), None]
        );
        assert_eq!(c.miou(4), Some(1.0 / 3.0));
        assert_eq!(c.pixel_accuracy(), Some(3.0 / 5.0));
        // The same pixels with no ignore: 255 is a class.
        let mut d = Confusion::new();
        d.add_frame(&[0, 0, 1, 1, 2, 255], &[0, 1, 1, 1, 0, 2], None);
        assert_eq!((d.pixels(), d.ignored(), d.classes()), (6, 0, 256));
        // Merging, clearing, and an ignore row that already held counts.
        d.add_frame(&[255, 3], &[255, 3], Some(255));
        assert_eq!((d.count(255, 2), d.count(255, 255), d.ignored()), (1, 0, 1));
        let mut e = Confusion::new();
        e.merge(&d);
        e.merge(&c);
        assert_eq!(e.pixels(), 7 + 5);
        assert_eq!(e.count(1, 1), 4);
        e.clear();
        assert_eq!((e.pixels(), e.classes(), e.ignored()), (0, 0, 0));
        assert!(e.counts.iter().all(|&v| v == 0));
    }

    #[test]
    fn an_all_ignored_frame_has_no_miou() {
        let mut c = Confusion::new();
        add_frame(&mut c, &[255; 4], &[1, 2, 3, 4], Some(255));
        assert_eq!((c.pixels(), c.classes(), c.miou(5)), (0, 0, None));
        add_frame(&mut c, &[], &[], Some(255));
        assert_eq!(c.ignored(), 4);
    }
}

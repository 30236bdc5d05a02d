//! The options, the errors and the class names of a segmentation evaluation.

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

pub(super) fn check_class_names(names: &[String], source_name: &str) -> Result<(), SegError> {
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

//! MOTChallenge text files: their rows, the confidence filters and the errors of reading them.

use std::path::{Path, PathBuf};

/// Distance `1 - IoU` above which a ground-truth box and a prediction may not be matched
/// (`distth=0.5` of `compare_to_groundtruth`).
pub const MAX_DISTANCE: f64 = 0.5;
/// Ground-truth rows with a lower confidence are ignored (`min_confidence=1` for ground truth).
pub const GT_MIN_CONFIDENCE: f64 = 1.0;
/// Prediction rows with a lower confidence are ignored (`loadtxt`'s default, -1).
pub const PRED_MIN_CONFIDENCE: f64 = -1.0;

/// The columns every line must have, in order.
const COLUMNS: [&str; 7] = ["frame", "id", "x", "y", "w", "h", "conf"];

/// What can go wrong reading or pairing MOTChallenge files. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
pub enum MotError {
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
    #[error("{flag} {}: no such file or folder", path.display())]
    NotFound { flag: &'static str, path: PathBuf },
    #[error(
        "--gt {} and --pred {} must be two files (one sequence) or two folders (PRED/<sequence>.txt with GT/<sequence>.txt or GT/<sequence>/gt/gt.txt)",
        gt.display(),
        pred.display()
    )]
    Mixed { gt: PathBuf, pred: PathBuf },
    #[error("{}: no prediction files (<sequence>.txt) in this folder", dir.display())]
    NoSequences { dir: PathBuf },
    #[error(
        "sequence {sequence}: prediction {} has no ground truth: neither {} nor {} exists",
        pred.display(),
        tried[0].display(),
        tried[1].display()
    )]
    NoGroundTruth {
        sequence: String,
        pred: PathBuf,
        tried: [PathBuf; 2],
    },
    #[error(
        "sequence {sequence}: both {} and {} exist; keep one ground truth per sequence",
        a.display(),
        b.display()
    )]
    AmbiguousGroundTruth {
        sequence: String,
        a: PathBuf,
        b: PathBuf,
    },
    #[error(
        "sequence {sequence}: ground truth {} has no prediction: expected {}",
        gt.display(),
        expected.display()
    )]
    NoPrediction {
        sequence: String,
        gt: PathBuf,
        expected: PathBuf,
    },
}

/// One line of a MOTChallenge file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotBox {
    pub frame: i64,
    pub id: i64,
    /// `x, y, w, h`: top-left corner and size, in pixels.
    pub rect: [f64; 4],
    pub conf: f64,
    /// 1-based line number in the file, for messages.
    pub line: usize,
}

/// A parsed MOTChallenge file.
#[derive(Debug, Clone)]
pub struct MotFile {
    pub path: PathBuf,
    pub boxes: Vec<MotBox>,
}

impl MotFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, MotError> {
        let text = std::fs::read_to_string(path).map_err(|error| MotError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of a file; `path` names it in errors. Blank lines are skipped, fields may
    /// have spaces around them, a line without commas may be separated by whitespace instead.
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> Result<Self, MotError> {
        let path = path.into();
        let mut boxes = vec![];
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(mut b) => {
                    b.line = i + 1;
                    boxes.push(b);
                }
                Err(message) => {
                    return Err(MotError::Line {
                        path,
                        line: i + 1,
                        message,
                    });
                }
            }
        }
        Ok(Self { path, boxes })
    }
}

/// One non-blank line, trimmed; the error says what is wrong with it.
fn parse_line(line: &str) -> Result<MotBox, String> {
    let comma = line.contains(',');
    let fields = line
        .split(move |c: char| if comma { c == ',' } else { c.is_whitespace() })
        .filter(|f| comma || !f.is_empty())
        .map(str::trim);
    let mut v = [0f64; 7];
    let mut n = 0;
    for (k, f) in fields.enumerate() {
        n = k + 1;
        if k >= COLUMNS.len() {
            continue;
        }
        if f.is_empty() {
            return Err(format!("field {} ({}) is empty", k + 1, COLUMNS[k]));
        }
        v[k] = match f.parse::<f64>() {
            Ok(x) if x.is_finite() => x,
            _ => {
                return Err(format!(
                    "field {} ({}) is `{f}`, not a finite number",
                    k + 1,
                    COLUMNS[k]
                ));
            }
        };
    }
    if n < COLUMNS.len() {
        return Err(format!(
            "expected at least 7 comma-separated numbers (frame,id,x,y,w,h,conf), found {n}"
        ));
    }
    let whole = |k: usize| -> Result<i64, String> {
        let x = v[k];
        if x.fract() == 0.0 && x.abs() < 9.0e15 {
            Ok(x as i64)
        } else {
            Err(format!(
                "field {} ({}) is {x}, not a whole number",
                k + 1,
                COLUMNS[k]
            ))
        }
    };
    Ok(MotBox {
        frame: whole(0)?,
        id: whole(1)?,
        rect: [v[2], v[3], v[4], v[5]],
        conf: v[6],
        line: 0,
    })
}

//! Finding the sequences to evaluate: two files, or two folders paired by file name.

use super::file::MotError;
use std::path::{Path, PathBuf};

/// Where one sequence's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencePaths {
    pub name: String,
    pub gt: PathBuf,
    pub pred: PathBuf,
}

/// Pairs ground truth with predictions. Two files: one sequence, named after the prediction
/// file's stem. Two folders: one sequence per `PRED/<name>.txt`, with ground truth
/// `GT/<name>.txt` or `GT/<name>/gt/gt.txt` (MOTChallenge layout); a prediction without ground
/// truth and ground truth without prediction are errors. Sorted by name.
pub fn find_sequences(gt: &Path, pred: &Path) -> Result<Vec<SequencePaths>, MotError> {
    for (flag, p) in [("--gt", gt), ("--pred", pred)] {
        if !p.exists() {
            return Err(MotError::NotFound {
                flag,
                path: p.to_path_buf(),
            });
        }
    }
    match (gt.is_dir(), pred.is_dir()) {
        (false, false) => Ok(vec![SequencePaths {
            name: stem(pred),
            gt: gt.to_path_buf(),
            pred: pred.to_path_buf(),
        }]),
        (true, true) => pair_folders(gt, pred),
        _ => Err(MotError::Mixed {
            gt: gt.to_path_buf(),
            pred: pred.to_path_buf(),
        }),
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, MotError> {
    let read = |error| MotError::Read {
        path: dir.to_path_buf(),
        error,
    };
    let mut out = vec![];
    for e in std::fs::read_dir(dir).map_err(read)? {
        out.push(e.map_err(read)?.path());
    }
    out.sort();
    Ok(out)
}

fn is_txt(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e == "txt")
}

fn pair_folders(gt_dir: &Path, pred_dir: &Path) -> Result<Vec<SequencePaths>, MotError> {
    let mut out = vec![];
    for pred in list_dir(pred_dir)?.into_iter().filter(|p| is_txt(p)) {
        let name = stem(&pred);
        let flat = gt_dir.join(format!("{name}.txt"));
        let mot = gt_dir.join(&name).join("gt").join("gt.txt");
        let gt = match (flat.is_file(), mot.is_file()) {
            (true, false) => flat,
            (false, true) => mot,
            (true, true) => {
                return Err(MotError::AmbiguousGroundTruth {
                    sequence: name,
                    a: flat,
                    b: mot,
                });
            }
            (false, false) => {
                return Err(MotError::NoGroundTruth {
                    sequence: name,
                    pred,
                    tried: [flat, mot],
                });
            }
        };
        out.push(SequencePaths { name, gt, pred });
    }
    if out.is_empty() {
        return Err(MotError::NoSequences {
            dir: pred_dir.to_path_buf(),
        });
    }
    // Every ground-truth sequence needs a prediction.
    for p in list_dir(gt_dir)? {
        let (name, gt) = if is_txt(&p) {
            (stem(&p), p)
        } else if p.join("gt").join("gt.txt").is_file() {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                p.join("gt").join("gt.txt"),
            )
        } else {
            continue;
        };
        if !out.iter().any(|s| s.name == name) {
            return Err(MotError::NoPrediction {
                expected: pred_dir.join(format!("{name}.txt")),
                sequence: name,
                gt,
            });
        }
    }
    Ok(out)
}

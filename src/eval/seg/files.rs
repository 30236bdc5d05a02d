//! Folders of class maps: frame numbers and series from file names, choosing a series, pairing
//! ground truth with predictions.

use super::data::{SegError, SegOptions};
use std::path::{Path, PathBuf};

/// One PNG of a folder: its frame number and series (the name with the frame digits as `#`).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) frame: u64,
    pub(super) series: String,
    pub(super) path: PathBuf,
}

/// The frame number of a file stem (its last run of ASCII digits) and its series.
pub(super) fn parse_stem(stem: &str) -> Option<(u64, String)> {
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let frame = stem[start..end].parse().ok()?;
    Some((frame, format!("{}#{}", &stem[..start], &stem[end..])))
}

/// `(stream, head)` of a series in the mask sink's pattern `{stream}-{head}-#`.
pub(super) fn stream_head(series: &str) -> Option<(&str, &str)> {
    let s = series.strip_suffix("-#")?;
    let (stream, head) = s.rsplit_once('-')?;
    (!stream.is_empty() && !head.is_empty()).then_some((stream, head))
}

pub(super) fn list_pngs(flag: &'static str, dir: &Path) -> Result<Vec<Entry>, SegError> {
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
pub(super) fn choose_series(
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

pub(super) fn frame_span(e: &[Entry], series: &str) -> String {
    match (e.first(), e.last()) {
        (Some(a), Some(b)) if e.len() > 1 => {
            format!("{}..{} ({} files {series})", a.frame, b.frame, e.len())
        }
        (Some(a), _) => format!("{} (1 file {series})", a.frame),
        _ => "none".into(),
    }
}

//! The truth and a run's results as plain data.

use super::AdasEvalError;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One frame's truth.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TruthFrame {
    pub t: f64,
    pub offset_m: f64,
    /// `(id, gap m, ttc s)`.
    pub lead: Option<(u64, f64, Option<f64>)>,
    /// The true lead's box on this frame, when it is in the box truth.
    pub lead_box: Option<[f64; 4]>,
    pub scenario: Option<String>,
}

/// A true event.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueEvent {
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
    pub critical_s: f64,
    pub ttc2_s: Option<f64>,
    pub scenario: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub frames: Vec<TruthFrame>,
    pub events: Vec<TrueEvent>,
}

impl Truth {
    /// Half the shortest step between truth frames (at most 0.5 s): a result pairs with the
    /// truth frame it is this near.
    pub fn half_frame(&self) -> f64 {
        self.frames
            .windows(2)
            .map(|w| w[1].t - w[0].t)
            .fold(f64::MAX, f64::min)
            .min(1.0)
            / 2.0
    }
}

/// Pairs frames by time: walks a time-sorted list forward and finds, for each time asked (in
/// non-decreasing order), the item within `half` seconds of it, if any.
pub struct ByTime<'a, T> {
    items: &'a [T],
    time: fn(&T) -> f64,
    half: f64,
    next: usize,
}

impl<'a, T> ByTime<'a, T> {
    pub fn new(items: &'a [T], time: fn(&T) -> f64, half: f64) -> Self {
        ByTime {
            items,
            time,
            half,
            next: 0,
        }
    }

    pub fn at(&mut self, t: f64) -> Option<&'a T> {
        while self.next + 1 < self.items.len()
            && (self.time)(&self.items[self.next + 1]) <= t + self.half
        {
            self.next += 1;
        }
        self.items
            .get(self.next)
            .filter(|i| ((self.time)(i) - t).abs() <= self.half)
    }
}

/// One frame's results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PredFrame {
    pub t: f64,
    pub offset_m: Option<f64>,
    pub lane: bool,
    /// `(gap m, ttc s, box)`.
    pub lead: Option<(f64, Option<f64>, [f64; 4])>,
}

/// A warning as raised.
#[derive(Debug, Clone, PartialEq)]
pub struct PredWarning {
    pub kind: String,
    /// When it was raised (the frame that decided its start).
    pub raised_s: f64,
    pub start_s: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Pred {
    pub frames: Vec<PredFrame>,
    pub warnings: Vec<PredWarning>,
}

fn bad(path: &Path, why: impl Into<String>) -> AdasEvalError {
    AdasEvalError::File {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

fn lines(path: &Path) -> Result<Vec<(usize, Value)>, AdasEvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i + 1, v))
                .map_err(|e| bad(path, format!("line {}: not JSON: {e}", i + 1)))
        })
        .collect()
}

fn bbox(v: &Value) -> Option<[f64; 4]> {
    let a = v.as_array()?;
    (a.len() == 4).then(|| [0, 1, 2, 3].map(|i| a[i].as_f64().unwrap_or(0.0)))
}

/// `<drive>.adas.jsonl` with `<drive>.events.jsonl` (required) and `<drive>.jsonl` (optional).
pub fn read_truth(path: &Path) -> Result<Truth, AdasEvalError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".adas.jsonl"))
        .ok_or_else(|| {
            bad(
                path,
                "is not a `<drive>.adas.jsonl` truth file; give the one `perceptd sample-drive` wrote in gt/",
            )
        })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let sibling = |ext: &str| -> PathBuf { dir.join(format!("{name}.{ext}")) };
    // The box truth: each frame's boxes by object id.
    let mut boxes: HashMap<(u64, u64), [f64; 4]> = HashMap::new();
    let det = sibling("jsonl");
    if det.is_file() {
        for (_, v) in lines(&det)? {
            let f = v["frame"].as_u64().unwrap_or(0);
            for o in v["objects"].as_array().into_iter().flatten() {
                if let (Some(id), Some(b)) = (o["id"].as_u64(), bbox(&o["bbox"])) {
                    boxes.insert((f, id), b);
                }
            }
        }
    }
    let mut frames = vec![];
    for (n, v) in lines(path)? {
        let t = v["t"]
            .as_f64()
            .ok_or_else(|| bad(path, format!("line {n}: no `t`")))?;
        let frame = v["frame"].as_u64().unwrap_or(frames.len() as u64);
        let lead = v["lead"].as_object().map(|l| {
            (
                l["id"].as_u64().unwrap_or(0),
                l["distance_m"].as_f64().unwrap_or(f64::NAN),
                l["ttc_s"].as_f64(),
            )
        });
        frames.push(TruthFrame {
            t,
            offset_m: v["offset_m"].as_f64().unwrap_or(f64::NAN),
            lead_box: lead.and_then(|l| boxes.get(&(frame, l.0)).copied()),
            lead,
            scenario: v["scenario"].as_str().map(String::from),
        });
    }
    let ev = sibling("events.jsonl");
    if !ev.is_file() {
        return Err(bad(
            &ev,
            "is missing; the truth's events are written beside it by `perceptd sample-drive`",
        ));
    }
    let mut events = vec![];
    for (n, v) in lines(&ev)? {
        let num = |k: &str| {
            v[k].as_f64()
                .ok_or_else(|| bad(&ev, format!("line {n}: no `{k}`")))
        };
        events.push(TrueEvent {
            kind: v["kind"].as_str().unwrap_or("?").to_string(),
            start_s: num("start_s")?,
            end_s: num("end_s")?,
            critical_s: num("critical_s")?,
            ttc2_s: v["ttc2_s"].as_f64(),
            scenario: v["scenario"].as_str().map(String::from),
        });
    }
    Ok(Truth { frames, events })
}

/// A run's JSONL: each record's `adas` field (records without one count as frames with
/// nothing known).
pub fn read_pred(path: &Path) -> Result<Pred, AdasEvalError> {
    let mut out = Pred::default();
    let mut any = false;
    for (n, v) in lines(path)? {
        let t = v["pts_ns"].as_f64().map(|p| p / 1e9).ok_or_else(|| {
            bad(
                path,
                format!("line {n}: no `pts_ns`; the adas evaluation needs frame times"),
            )
        })?;
        let a = &v["adas"];
        any |= a.is_object();
        let lane = a["lane"].as_object();
        out.frames.push(PredFrame {
            t,
            lane: lane.is_some(),
            offset_m: lane.and_then(|l| l["offset_m"].as_f64()),
            lead: a["lead"].as_object().and_then(|l| {
                Some((
                    l["distance_m"].as_f64()?,
                    l["ttc_s"].as_f64(),
                    bbox(&l["bbox"])?,
                ))
            }),
        });
        for e in a["events"].as_array().into_iter().flatten() {
            if e["edge"] == "start" {
                out.warnings.push(PredWarning {
                    kind: e["kind"].as_str().unwrap_or("?").to_string(),
                    raised_s: e["at_pts_s"].as_f64().unwrap_or(t),
                    start_s: e["start_pts_s"].as_f64().unwrap_or(t),
                });
            }
        }
    }
    if !any {
        return Err(bad(
            path,
            "has no `adas` results; run a pipeline with a `type: adas` stage and a `jsonl` sink",
        ));
    }
    Ok(out)
}

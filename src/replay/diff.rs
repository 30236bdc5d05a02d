//! `perceptd diff RUN_A RUN_B`: two replays of the same drives side by side: speed, accuracy
//! (when both were evaluated), detections per class, and the frames whose results disagree most.
//!
//! Two frames' detections are matched greedily by IoU (highest first) between boxes of the same
//! label, at IoU >= [`MATCH_IOU`]; every box left unmatched on either side is a disagreement.

use super::report::{self, DrawBox};
use super::svg::{self, escape};
use super::{DriveSummary, ReplayError, RunSummary, fmt_opt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const MATCH_IOU: f32 = 0.5;
/// Frames listed (and shown) per drive.
const WORST: usize = 6;

#[derive(Debug, Clone)]
pub struct FrameDiff {
    pub frame: u64,
    pub only_a: usize,
    pub only_b: usize,
}

#[derive(Debug, Clone)]
pub struct DriveDiff {
    pub drive: String,
    pub a: DriveSummary,
    pub b: DriveSummary,
    /// Boxes without a counterpart, both sides together.
    pub disagreements: u64,
    pub frames_differing: u64,
    pub frames_compared: u64,
    /// The frames that differ most, most first.
    pub worst: Vec<FrameDiff>,
}

pub struct DiffReport {
    pub a_dir: PathBuf,
    pub b_dir: PathBuf,
    pub a: RunSummary,
    pub b: RunSummary,
    pub drives: Vec<DriveDiff>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

type Dets = Vec<(String, [f32; 4])>;

fn read_frames(path: &Path) -> Result<BTreeMap<u64, Dets>, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|error| ReplayError::Io {
        path: path.into(),
        error,
    })?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| ReplayError::Input {
            path: path.into(),
            why: format!("line {}: not JSON ({e})", i + 1),
        })?;
        let frame = v["frame"].as_u64().ok_or_else(|| ReplayError::Input {
            path: path.into(),
            why: format!("line {}: no `frame`", i + 1),
        })?;
        let dets = v["detections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let b: Vec<f32> = d["bbox"]
                    .as_array()?
                    .iter()
                    .filter_map(|x| x.as_f64().map(|x| x as f32))
                    .collect();
                (b.len() == 4).then(|| {
                    (
                        d["label"].as_str().unwrap_or("?").to_string(),
                        [b[0], b[1], b[2], b[3]],
                    )
                })
            })
            .collect();
        out.insert(frame, dets);
    }
    Ok(out)
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Unmatched boxes on each side of one frame.
pub fn compare_frame(a: &Dets, b: &Dets) -> (usize, usize) {
    let mut pairs: Vec<(f32, usize, usize)> = vec![];
    for (i, (la, ba)) in a.iter().enumerate() {
        for (j, (lb, bb)) in b.iter().enumerate() {
            if la == lb {
                let v = iou(ba, bb);
                if v >= MATCH_IOU {
                    pairs.push((v, i, j));
                }
            }
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
    let (mut ua, mut ub) = (vec![false; a.len()], vec![false; b.len()]);
    let mut matched = 0;
    for (_, i, j) in pairs {
        if !ua[i] && !ub[j] {
            ua[i] = true;
            ub[j] = true;
            matched += 1;
        }
    }
    (a.len() - matched, b.len() - matched)
}

pub fn diff(a_dir: &Path, b_dir: &Path) -> Result<DiffReport, ReplayError> {
    let a = RunSummary::read(a_dir)?;
    let b = RunSummary::read(b_dir)?;
    let names_a: BTreeSet<&str> = a.drives.iter().map(|d| d.drive.as_str()).collect();
    let names_b: BTreeSet<&str> = b.drives.iter().map(|d| d.drive.as_str()).collect();
    let mut drives = vec![];
    for da in &a.drives {
        let Some(db) = b.drives.iter().find(|d| d.drive == da.drive) else {
            continue;
        };
        let fa = read_frames(&a_dir.join(&da.drive).join(&da.jsonl))?;
        let fb = read_frames(&b_dir.join(&db.drive).join(&db.jsonl))?;
        let frames: BTreeSet<u64> = fa.keys().chain(fb.keys()).copied().collect();
        let empty = Dets::new();
        let mut per = vec![];
        for f in &frames {
            let (oa, ob) = compare_frame(fa.get(f).unwrap_or(&empty), fb.get(f).unwrap_or(&empty));
            if oa + ob > 0 {
                per.push(FrameDiff {
                    frame: *f,
                    only_a: oa,
                    only_b: ob,
                });
            }
        }
        let disagreements = per.iter().map(|d| (d.only_a + d.only_b) as u64).sum();
        let frames_differing = per.len() as u64;
        per.sort_by(|x, y| {
            (y.only_a + y.only_b)
                .cmp(&(x.only_a + x.only_b))
                .then(x.frame.cmp(&y.frame))
        });
        per.truncate(WORST);
        drives.push(DriveDiff {
            drive: da.drive.clone(),
            a: da.clone(),
            b: db.clone(),
            disagreements,
            frames_differing,
            frames_compared: frames.len() as u64,
            worst: per,
        });
    }
    Ok(DiffReport {
        a_dir: a_dir.into(),
        b_dir: b_dir.into(),
        only_in_a: names_a
            .difference(&names_b)
            .map(|s| s.to_string())
            .collect(),
        only_in_b: names_b
            .difference(&names_a)
            .map(|s| s.to_string())
            .collect(),
        a,
        b,
        drives,
    })
}

fn pct(a: f64, b: f64) -> String {
    if a.abs() > 1e-12 {
        format!("{:+.1} %", (b - a) / a * 100.0)
    } else {
        "n/a".into()
    }
}

/// `(label, key, json pointer)` of the accuracy metrics compared when both runs have them.
const METRICS: [(&str, &str, &str); 5] = [
    ("mAP@0.5", "det", "map50"),
    ("mAP@0.5:0.95", "det", "map"),
    ("mIoU", "seg", "miou"),
    ("IDF1", "mot", "idf1"),
    ("MOTA", "mot", "mota"),
];

fn metric(d: &DriveSummary, group: &str, key: &str) -> Option<f64> {
    d.eval.as_ref()?.get(group)?.get(key)?.as_f64()
}

impl DiffReport {
    /// No drive's results differ (speed aside).
    pub fn identical(&self) -> bool {
        self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self
                .drives
                .iter()
                .all(|d| d.disagreements == 0 && d.a.frames == d.b.frames)
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "A: {} ({}), B: {} ({}); {} drive(s) in common",
            self.a_dir.display(),
            self.a.pipeline,
            self.b_dir.display(),
            self.b.pipeline,
            self.drives.len()
        );
        for n in &self.only_in_a {
            let _ = writeln!(s, "  drive {n} only in A");
        }
        for n in &self.only_in_b {
            let _ = writeln!(s, "  drive {n} only in B");
        }
        for d in &self.drives {
            let _ = writeln!(s, "\n{}: frames {} -> {}", d.drive, d.a.frames, d.b.frames);
            let _ = writeln!(
                s,
                "  frames/s {:.2} -> {:.2} ({}); latency p50 {:.1} -> {:.1} ms, p99 {:.1} -> {:.1} ms",
                d.a.fps,
                d.b.fps,
                pct(d.a.fps, d.b.fps),
                d.a.latency_p50_ms,
                d.b.latency_p50_ms,
                d.a.latency_p99_ms,
                d.b.latency_p99_ms
            );
            for (label, g, k) in METRICS {
                if let (Some(x), Some(y)) = (metric(&d.a, g, k), metric(&d.b, g, k)) {
                    let _ = writeln!(s, "  {label} {x:.4} -> {y:.4} ({:+.4})", y - x);
                }
            }
            let labels: BTreeSet<&String> =
                d.a.detections.keys().chain(d.b.detections.keys()).collect();
            for l in labels {
                let x = d.a.detections.get(l).copied().unwrap_or(0);
                let y = d.b.detections.get(l).copied().unwrap_or(0);
                if x != y {
                    let _ = writeln!(
                        s,
                        "  detections {l}: {x} -> {y} ({:+})",
                        y as i64 - x as i64
                    );
                }
            }
            if d.disagreements == 0 && d.a.frames == d.b.frames {
                let _ = writeln!(s, "  no differences in results");
            } else {
                let _ = writeln!(
                    s,
                    "  {} box(es) without a counterpart in {} of {} frames; most:",
                    d.disagreements, d.frames_differing, d.frames_compared
                );
                for w in &d.worst {
                    let _ = writeln!(
                        s,
                        "    frame {}: {} only in A, {} only in B",
                        w.frame, w.only_a, w.only_b
                    );
                }
            }
        }
        if self.identical() {
            let _ = writeln!(
                s,
                "\nno differences: every drive has the same results in A and B"
            );
        }
        s
    }

    pub fn html(&self) -> String {
        let mut body = String::new();
        let _ = write!(
            body,
            "<h1>Diff: A {} vs B {}</h1><p>A: {} &nbsp; B: {}. Boxes match at IoU &ge; {MATCH_IOU} with the same label; thumbnails show A's boxes in blue, B's in orange.</p>",
            escape(&self.a.pipeline),
            escape(&self.b.pipeline),
            escape(&self.a_dir.display().to_string()),
            escape(&self.b_dir.display().to_string())
        );
        if self.identical() {
            body.push_str(
                "<p><b>No differences</b>: every drive has the same results in A and B.</p>",
            );
        }
        for d in &self.drives {
            let _ = write!(
                body,
                "<h2>{}</h2><table><tr><th></th><th>A</th><th>B</th><th>change</th></tr>\
                 <tr><td>frames</td><td>{}</td><td>{}</td><td></td></tr>\
                 <tr><td>frames/s</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>\
                 <tr><td>latency p50 ms</td><td>{:.1}</td><td>{:.1}</td><td>{}</td></tr>\
                 <tr><td>latency p99 ms</td><td>{:.1}</td><td>{:.1}</td><td>{}</td></tr>",
                escape(&d.drive),
                d.a.frames,
                d.b.frames,
                d.a.fps,
                d.b.fps,
                pct(d.a.fps, d.b.fps),
                d.a.latency_p50_ms,
                d.b.latency_p50_ms,
                pct(d.a.latency_p50_ms, d.b.latency_p50_ms),
                d.a.latency_p99_ms,
                d.b.latency_p99_ms,
                pct(d.a.latency_p99_ms, d.b.latency_p99_ms)
            );
            for (label, g, k) in METRICS {
                let (x, y) = (metric(&d.a, g, k), metric(&d.b, g, k));
                if x.is_some() || y.is_some() {
                    let ch = match (x, y) {
                        (Some(x), Some(y)) => format!("{:+.4}", y - x),
                        _ => String::new(),
                    };
                    let show =
                        |v: Option<f64>| fmt_opt(&v.map_or(serde_json::Value::Null, |v| v.into()));
                    let _ = write!(
                        body,
                        "<tr><td>{label}</td><td>{}</td><td>{}</td><td>{ch}</td></tr>",
                        show(x),
                        show(y)
                    );
                }
            }
            let _ = write!(
                body,
                "<tr><td>boxes without counterpart</td><td colspan=\"3\">{} in {} of {} frames</td></tr></table>",
                d.disagreements, d.frames_differing, d.frames_compared
            );
            let labels: Vec<String> =
                d.a.detections
                    .keys()
                    .chain(d.b.detections.keys())
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
            let count = |s: &DriveSummary| {
                labels
                    .iter()
                    .map(|l| Some(*s.detections.get(l).unwrap_or(&0) as f64))
                    .collect::<Vec<_>>()
            };
            body.push_str("<div class=\"charts\">");
            body.push_str(&svg::bars(
                "Detections per class",
                "detections",
                &labels,
                &[("A".into(), count(&d.a)), ("B".into(), count(&d.b))],
            ));
            let stages: Vec<String> = d.a.stages.iter().map(|s| s.name.clone()).collect();
            let p99 = |s: &DriveSummary| {
                stages
                    .iter()
                    .map(|n| s.stages.iter().find(|x| &x.name == n).map(|x| x.p99_ms))
                    .collect::<Vec<_>>()
            };
            body.push_str(&svg::bars(
                "Stage p99 (ms)",
                "ms",
                &stages,
                &[("A".into(), p99(&d.a)), ("B".into(), p99(&d.b))],
            ));
            body.push_str(&svg::lines(
                "Frames/s over time",
                "seconds",
                "frames/s",
                &[
                    ("A".into(), report::fps_series(&d.a)),
                    ("B".into(), report::fps_series(&d.b)),
                ],
            ));
            body.push_str("</div>");
            if !d.worst.is_empty() {
                let frames: BTreeSet<u64> = d.worst.iter().map(|w| w.frame).collect();
                let pa = report::jsonl_boxes(&self.a_dir.join(&d.drive).join(&d.a.jsonl), &frames);
                let pb = report::jsonl_boxes(&self.b_dir.join(&d.drive).join(&d.b.jsonl), &frames);
                let boxes = |m: &report::FrameBoxes, f: u64, colour: [f64; 3], tag: &str| {
                    m.get(&f)
                        .into_iter()
                        .flatten()
                        .map(|(l, sc, b)| DrawBox {
                            bbox: *b,
                            caption: format!("{tag} {l} {sc:.2}"),
                            colour,
                        })
                        .collect::<Vec<_>>()
                };
                let wanted: BTreeMap<u64, Vec<DrawBox>> = frames
                    .iter()
                    .map(|&f| {
                        let mut v = boxes(&pa, f, [178.0, 114.0, 0.0], "A");
                        v.extend(boxes(&pb, f, [0.0, 159.0, 230.0], "B"));
                        (f, v)
                    })
                    .collect();
                let thumbs = report::thumbnails(&d.a.input, &wanted);
                body.push_str("<h3>Frames where A and B disagree most</h3><div class=\"strip\">");
                for w in &d.worst {
                    let cap = format!(
                        "frame {}: {} only in A, {} only in B",
                        w.frame, w.only_a, w.only_b
                    );
                    match thumbs.get(&w.frame) {
                        Some(uri) => {
                            let _ = write!(
                                body,
                                "<figure><img src=\"{uri}\" alt=\"frame {}\"><figcaption>{}</figcaption></figure>",
                                w.frame,
                                escape(&cap)
                            );
                        }
                        None => {
                            let _ = write!(body, "<p>{} (not decoded)</p>", escape(&cap));
                        }
                    }
                }
                body.push_str("</div>");
            }
        }
        report::page("perceptd diff", &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_by_label_and_iou() {
        let a: Dets = vec![
            ("car".into(), [0.0, 0.0, 10.0, 10.0]),
            ("car".into(), [50.0, 50.0, 60.0, 60.0]),
        ];
        let b: Dets = vec![
            ("car".into(), [1.0, 1.0, 10.0, 10.0]),
            ("person".into(), [50.0, 50.0, 60.0, 60.0]),
        ];
        assert_eq!(compare_frame(&a, &a), (0, 0));
        assert_eq!(compare_frame(&a, &b), (1, 1));
        assert_eq!(compare_frame(&a, &vec![]), (2, 0));
    }
}

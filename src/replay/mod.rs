//! `perceptd replay`: a pipeline over one recorded drive or a folder of them, lossless and as
//! fast as it goes, each drive's outputs in its own folder, a summary per drive and per run
//! (`run.json`), optional evaluation against ground truth, and `report.html`.
//!
//! Determinism: the JSONL holds no wall-clock values, frames are never dropped (every edge
//! blocks), and ONNX Runtime's CPU provider gives the same results for the same input and thread
//! count, so two runs of the same build write identical JSONL. GPU providers may not (cuDNN and
//! TensorRT pick kernels at run time).

pub mod diff;
pub mod progress;
pub mod report;
mod summary;
pub mod svg;

pub use summary::{
    DriveSummary, ReplayError, RunSummary, StageStats, WorstFrame, fmt_opt, hist_edges_ms,
    seg_class_ious, switches_per_100,
};

use crate::config::{self, Pace, PipelineSpec, SourceKind, SourceMode, WhenFull};
use crate::graph::{PipelineError, Prepared, RunReport, quantile};
use crate::kinds::SinkSpec;
use crate::telemetry::Metrics;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The variable a replay pipeline's source path may use for the drive.
pub const DRIVE_VAR: &str = "PERCEPTD_DRIVE";

/// Video files a folder replay picks up.
pub const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "mkv", "mov", "avi", "webm", "ts", "m4v", "mts"];

pub struct ReplayOptions {
    pub pipeline: PathBuf,
    pub input: PathBuf,
    pub out: PathBuf,
    pub gt: Option<PathBuf>,
    pub progress: progress::Style,
    /// Write report.html (on by default).
    pub report: bool,
    /// Serve `/metrics` of the drive being replayed here (the pipeline's own
    /// `runtime.metrics_addr` is not used: a replay is a batch job).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// The drives to replay: the file, or every video file of the folder (sorted).
pub fn drives(input: &Path) -> Result<Vec<PathBuf>, ReplayError> {
    if input.is_file() {
        return Ok(vec![input.to_path_buf()]);
    }
    let rd = std::fs::read_dir(input).map_err(|e| ReplayError::Input {
        path: input.into(),
        why: format!("no such file or folder ({e}); give a recorded drive or a folder of them"),
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(ReplayError::Input {
            path: input.into(),
            why: format!(
                "no video files ({}) in this folder",
                VIDEO_EXTENSIONS.join(", ")
            ),
        });
    }
    Ok(v)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "drive".into())
}

/// The pipeline bent to one drive: its single source reads the file as fast as it decodes,
/// every edge blocks (lossless), every output goes to `dir`, and there is always a JSONL.
pub fn spec_for_drive(
    base: &PipelineSpec,
    drive: &Path,
    dir: &Path,
) -> Result<PipelineSpec, ReplayError> {
    let mut spec = base.clone();
    if spec.sources.len() != 1 {
        return Err(ReplayError::Input {
            path: drive.into(),
            why: format!(
                "replay needs a pipeline with one source to stand for the drive; `{}` has {}",
                base.name,
                spec.sources.len()
            ),
        });
    }
    let src = &mut spec.sources[0];
    src.kind = SourceKind::File(drive.to_path_buf());
    src.mode = SourceMode::Replay;
    src.pace = Pace::Fast;
    src.reconnect = None;
    spec.metrics_addr = None;
    spec.edges.default.when_full = WhenFull::Block;
    for e in spec.edges.into.values_mut() {
        e.when_full = WhenFull::Block;
    }
    let into = |p: &Path| dir.join(p.file_name().unwrap_or_else(|| std::ffi::OsStr::new("out")));
    let mut sinks = vec![];
    for mut s in spec.sinks.drain(..) {
        if s.get().live_only() {
            tracing::info!(
                sink = s.get().kind(),
                "replay: a live sink is left out (nothing watches a replay)"
            );
            continue;
        }
        s.get_mut().relocate(&into);
        sinks.push(s);
    }
    if !sinks.iter().any(|s| matches!(s, SinkSpec::Jsonl(_))) {
        sinks.insert(
            0,
            SinkSpec::Jsonl(crate::sink::jsonl::Spec {
                path: dir.join("results.jsonl"),
            }),
        );
    }
    spec.sinks = sinks;
    Ok(spec)
}

/// The class names of the pipeline's segmentation head, when it has exactly one and names its
/// classes (with several, each mask file is a head's and the names differ).
fn seg_class_names(spec: &PipelineSpec) -> Option<Vec<String>> {
    let mut heads = spec
        .models
        .values()
        .filter_map(|m| m.heads.as_ref())
        .flatten();
    match (heads.next(), heads.next()) {
        (Some(h), None) => h.classes.clone(),
        _ => None,
    }
}

fn file_name(spec: &PipelineSpec, pick: impl Fn(&SinkSpec) -> bool) -> Option<String> {
    let stream = &spec.sources[0].stream;
    spec.sinks.iter().find(|s| pick(s)).map(|s| {
        s.path_for(stream)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// Runs the replay; the summary is also written to `OUT/run.json` (and `report.html`).
pub fn replay(opts: &ReplayOptions, stop: Arc<AtomicBool>) -> Result<RunSummary, ReplayError> {
    let inputs = drives(&opts.input)?;
    // The pipeline's source stands for the drive: `${PERCEPTD_DRIVE}` names the drive being
    // replayed (the first one while the file is checked).
    let first = inputs[0].display().to_string();
    let base = config::load_file_with(&opts.pipeline, &|k| {
        if k == DRIVE_VAR {
            Some(first.clone())
        } else {
            std::env::var(k).ok()
        }
    })
    .map_err(Box::new)?;
    if let Some(gt) = &opts.gt
        && !gt.exists()
    {
        return Err(ReplayError::Input {
            path: gt.clone(),
            why: "--gt: no such file or folder".into(),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &inputs {
        if !seen.insert(stem(d)) {
            return Err(ReplayError::Input {
                path: d.clone(),
                why: "two drives share this name (file stem); their outputs would collide".into(),
            });
        }
    }
    std::fs::create_dir_all(&opts.out).map_err(|error| ReplayError::Io {
        path: opts.out.clone(),
        error,
    })?;
    let mut run = RunSummary {
        pipeline: base.name.clone(),
        pipeline_file: opts.pipeline.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        frames: 0,
        elapsed_s: 0.0,
        fps: 0.0,
        drives: vec![],
    };
    // One server for the whole run; it shows the registry of the drive being replayed.
    let current = Arc::new(std::sync::Mutex::new(Arc::new(Metrics::new())));
    let _server = match opts.metrics_addr {
        Some(addr) => Some(serve_current(addr, current.clone())?),
        None => None,
    };
    let n = inputs.len();
    for (i, drive) in inputs.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return Err(ReplayError::Interrupted);
        }
        let name = stem(drive);
        let dir = opts.out.join(&name);
        let spec = spec_for_drive(&base, drive, &dir)?;
        let total = crate::source::estimate_frames(&spec.sources[0]);
        let metrics = Arc::new(Metrics::new());
        *current.lock().expect("metrics lock") = metrics.clone();
        let fail = |source: PipelineError| ReplayError::Pipeline {
            drive: name.clone(),
            source: Box::new(source),
        };
        let prepared = Prepared::new(&spec, metrics, stop.clone()).map_err(fail)?;
        let reporter = progress::Reporter::start(
            prepared.progress(),
            opts.progress,
            format!("{}/{n} {name}", i + 1),
            total,
        );
        let report = prepared.run().map_err(fail)?;
        let timeline = reporter.finish();
        let mut summary = summarise(&spec, drive, &name, &report, timeline, &dir)?;
        if let Some(gt) = &opts.gt {
            evaluate_drive(&mut summary, gt, n == 1, &dir)?;
        }
        if summary.worst.is_empty() {
            summary.worst = slowest_frames(&report, 6);
        }
        write_json(&dir.join("summary.json"), &summary)?;
        run.frames += summary.frames;
        run.elapsed_s += summary.elapsed_s;
        run.drives.push(summary);
        if stop.load(Ordering::Relaxed) {
            // Finalised outputs of the interrupted drive stay; nothing more starts.
            break;
        }
    }
    run.fps = run.frames as f64 / run.elapsed_s.max(1e-9);
    write_json(&opts.out.join("run.json"), &run)?;
    if opts.report {
        let html = report::replay_html(&run, &opts.out);
        let path = opts.out.join("report.html");
        std::fs::write(&path, html).map_err(|error| ReplayError::Io { path, error })?;
    }
    if stop.load(Ordering::Relaxed) {
        return Err(ReplayError::Interrupted);
    }
    Ok(run)
}

fn serve_current(
    addr: std::net::SocketAddr,
    current: Arc<std::sync::Mutex<Arc<Metrics>>>,
) -> Result<crate::telemetry::HttpServer, ReplayError> {
    let http = crate::telemetry::HttpServer::start(
        addr,
        "/metrics",
        Box::new(move |path, _query| {
            (path == "/metrics").then(|| {
                let m = current.lock().expect("metrics lock").clone();
                crate::telemetry::Reply::metrics(m.render())
            })
        }),
    )?;
    tracing::info!(addr = %http.addr, "serving metrics on http://{}/metrics", http.addr);
    Ok(http)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), ReplayError> {
    let text = serde_json::to_string_pretty(v).expect("summaries serialise");
    std::fs::write(path, text + "\n").map_err(|error| ReplayError::Io {
        path: path.into(),
        error,
    })
}

fn summarise(
    spec: &PipelineSpec,
    drive: &Path,
    name: &str,
    report: &RunReport,
    timeline: Vec<(f32, u64)>,
    dir: &Path,
) -> Result<DriveSummary, ReplayError> {
    let stages = report
        .stages
        .iter()
        .map(|s| StageStats {
            name: s.name.clone(),
            frames: s.frames,
            p50_ms: quantile(&s.durations, 0.5) * 1e3,
            p99_ms: quantile(&s.durations, 0.99) * 1e3,
            mean_ms: s.durations.iter().map(|&d| d as f64).sum::<f64>() * 1e3
                / s.durations.len().max(1) as f64,
            histogram: summary::histogram(&s.durations),
        })
        .collect();
    let jsonl =
        file_name(spec, |s| matches!(s, SinkSpec::Jsonl(_))).expect("replay adds a JSONL sink");
    let mut detections = BTreeMap::new();
    let path = dir.join(&jsonl);
    let text = std::fs::read_to_string(&path).map_err(|error| ReplayError::Io { path, error })?;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        for d in v["detections"].as_array().into_iter().flatten() {
            *detections
                .entry(d["label"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
        }
    }
    Ok(DriveSummary {
        drive: name.into(),
        // Absolute, so that diff and the report find the video from any folder.
        input: drive.canonicalize().unwrap_or_else(|_| drive.into()),
        frames: report.frames,
        elapsed_s: report.elapsed.as_secs_f64(),
        fps: report.fps(),
        latency_p50_ms: quantile(&report.latencies, 0.5) * 1e3,
        latency_p99_ms: quantile(&report.latencies, 0.99) * 1e3,
        stages,
        detections,
        timeline,
        jsonl,
        video: file_name(spec, |s| matches!(s, SinkSpec::Video(_))),
        masks: file_name(spec, |s| matches!(s, SinkSpec::Mask(_))),
        seg_classes: seg_class_names(spec),
        mot: file_name(spec, |s| matches!(s, SinkSpec::Mot(_))),
        eval: None,
        det_gt: None,
        worst: vec![],
    })
}

/// The frames that took longest from source to sinks (frames leave a replay in order).
fn slowest_frames(report: &RunReport, n: usize) -> Vec<WorstFrame> {
    let mut v: Vec<(usize, f32)> = report.latencies.iter().copied().enumerate().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(n)
        .map(|(i, l)| WorstFrame {
            frame: i as u64,
            score: l as f64 * 1e3,
            why: format!("{:.1} ms from source to sinks", l * 1e3),
        })
        .collect()
}

/// Ground truth for one drive: with one drive `--gt` may be the file itself; with several it is
/// a folder holding `<drive>.jsonl` / `<drive>.json` (detection), `<drive>/` (class-map PNGs),
/// `<drive>.txt` (MOTChallenge).
fn evaluate_drive(
    summary: &mut DriveSummary,
    gt: &Path,
    single: bool,
    dir: &Path,
) -> Result<(), ReplayError> {
    let name = summary.drive.clone();
    let err = |why: String| ReplayError::Eval {
        drive: name.clone(),
        why,
    };
    let mut det_gt = None;
    let mut seg_gt = None;
    let mut mot_gt = None;
    if gt.is_file() {
        if !single {
            return Err(err(format!(
                "--gt {} is a file but there are several drives; give a folder with <drive>.jsonl, <drive>.json, <drive>.txt or <drive>/ per drive",
                gt.display()
            )));
        }
        match gt.extension().and_then(|e| e.to_str()) {
            Some("txt") => mot_gt = Some(gt.to_path_buf()),
            _ => det_gt = Some(gt.to_path_buf()),
        }
    } else {
        for ext in ["jsonl", "json"] {
            let p = gt.join(format!("{name}.{ext}"));
            if p.is_file() {
                det_gt = Some(p);
                break;
            }
        }
        let p = gt.join(format!("{name}.txt"));
        if p.is_file() {
            mot_gt = Some(p);
        }
        let p = gt.join(&name);
        if p.is_dir() {
            seg_gt = Some(p);
        } else if single && det_gt.is_none() && mot_gt.is_none() {
            // One drive: the folder itself may be its masks.
            seg_gt = Some(gt.to_path_buf());
        }
    }
    let mut eval = serde_json::Map::new();
    if let Some(g) = &det_gt {
        let pred = dir.join(&summary.jsonl);
        let r = crate::eval::det::evaluate_paths(g, &pred).map_err(|e| err(e.to_string()))?;
        summary.worst = crate::eval::det::worst_frames(g, &pred, 6)
            .map_err(|e| err(e.to_string()))?
            .into_iter()
            .map(|(frame, fp, fneg)| WorstFrame {
                frame,
                score: (fp + fneg) as f64,
                why: format!("{fp} false positive(s), {fneg} miss(es) at IoU 0.5"),
            })
            .collect();
        eval.insert("det".into(), r.to_json());
        summary.det_gt = Some(g.clone());
    }
    if let Some(g) = &seg_gt {
        let Some(masks) = &summary.masks else {
            return Err(err(format!(
                "{} holds masks, but the pipeline has no `mask` sink to compare with",
                g.display()
            )));
        };
        let opts = crate::eval::seg::SegOptions {
            classes: summary.seg_classes.clone(),
            ..Default::default()
        };
        let r = crate::eval::seg::evaluate_dirs(g, &dir.join(masks), &opts)
            .map_err(|e| err(e.to_string()))?;
        eval.insert("seg".into(), r.to_json());
    }
    if let Some(g) = &mot_gt {
        let Some(mot) = &summary.mot else {
            return Err(err(format!(
                "{} is MOTChallenge ground truth, but the pipeline has no `mot` sink",
                g.display()
            )));
        };
        let gtf = crate::eval::mot::MotFile::read(g).map_err(|e| err(e.to_string()))?;
        let pf = crate::eval::mot::MotFile::read(&dir.join(mot)).map_err(|e| err(e.to_string()))?;
        let c = crate::eval::mot::evaluate(&gtf, &pf).map_err(|e| err(e.to_string()))?;
        eval.insert("mot".into(), c.to_json());
    }
    let adas_gt = gt.join(format!("{name}.adas.jsonl"));
    if gt.is_dir() && adas_gt.is_file() && has_adas(&dir.join(&summary.jsonl)) {
        let (r, timeline) =
            crate::eval::adas::evaluate_with_timeline(&adas_gt, &dir.join(&summary.jsonl))
                .map_err(|e| err(e.to_string()))?;
        eval.insert("adas".into(), r.to_json());
        eval.insert("adas_timeline".into(), timeline);
    }
    if eval.is_empty() {
        return Err(err(format!(
            "nothing in {} for this drive (looked for {name}.jsonl, {name}.json, {name}.txt, {name}/)",
            gt.display()
        )));
    }
    summary.eval = Some(serde_json::Value::Object(eval));
    Ok(())
}

/// Whether a run's JSONL carries driver-assistance results (its first record says).
fn has_adas(jsonl: &Path) -> bool {
    use std::io::BufRead;
    std::fs::File::open(jsonl)
        .ok()
        .and_then(|f| std::io::BufReader::new(f).lines().next())
        .and_then(|l| l.ok())
        .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .is_some_and(|v| v.get("adas").is_some())
}

/// The end-of-run summary for the terminal.
pub fn render_summary(run: &RunSummary) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} drive(s), {} frames in {:.2} s ({:.2} frames/s)",
        run.pipeline,
        run.drives.len(),
        run.frames,
        run.elapsed_s,
        run.fps
    );
    for d in &run.drives {
        let _ = writeln!(
            s,
            "\n{}: {} frames, {:.2} frames/s, latency p50 {:.1} ms p99 {:.1} ms",
            d.drive, d.frames, d.fps, d.latency_p50_ms, d.latency_p99_ms
        );
        let _ = writeln!(
            s,
            "  {:<24} {:>7} {:>9} {:>9}",
            "stage", "frames", "p50 ms", "p99 ms"
        );
        for st in &d.stages {
            let _ = writeln!(
                s,
                "  {:<24} {:>7} {:>9.2} {:>9.2}",
                st.name, st.frames, st.p50_ms, st.p99_ms
            );
        }
        if !d.detections.is_empty() {
            let per: Vec<String> = d
                .detections
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  detections: {}", per.join(", "));
        }
        if let Some(e) = &d.eval {
            if let Some(det) = e.get("det") {
                let _ = writeln!(
                    s,
                    "  detection: mAP@0.5 {} mAP@0.5:0.95 {}",
                    fmt_opt(&det["map50"]),
                    fmt_opt(&det["map"])
                );
            }
            if let Some(seg) = e.get("seg") {
                let _ = write!(s, "  segmentation: mIoU {}", fmt_opt(&seg["miou"]));
                let classes = seg_class_ious(seg);
                if !classes.is_empty() {
                    let _ = write!(s, " (IoU");
                    for (i, (name, iou)) in classes.iter().enumerate() {
                        let _ = write!(s, "{} {name} {iou}", if i > 0 { "," } else { "" });
                    }
                    s.push(')');
                }
                s.push('\n');
            }
            if let Some(a) = e.get("adas") {
                let w = &a["warnings"];
                let pr = |k: &str| {
                    format!(
                        "{} P {} R {} ({} true, {} raised)",
                        k.replace('_', " "),
                        fmt_opt(&w[k]["precision"]),
                        fmt_opt(&w[k]["recall"]),
                        w[k]["true_events"],
                        w[k]["warnings"]
                    )
                };
                let _ = writeln!(
                    s,
                    "  adas: {}; {}; {}",
                    pr("forward_collision"),
                    pr("lane_departure"),
                    pr("pedestrian_in_path")
                );
                let _ = writeln!(
                    s,
                    "  adas: FCW on time (by TTC 2 s) {}; lane found {}, offset MAE {} m; lead identified {}, distance error {}, TTC error {} (medians, relative)",
                    fmt_opt(&w["forward_collision"]["on_time"]),
                    fmt_opt(&a["lane_found"]),
                    fmt_opt(&a["offset_mae_m"]),
                    fmt_opt(&a["lead_identified"]),
                    fmt_opt(&a["distance_median_rel_err"]),
                    fmt_opt(&a["ttc_median_rel_err"])
                );
            }
            if let Some(mot) = e.get("mot") {
                let _ = writeln!(
                    s,
                    "  tracking: IDF1 {} MOTA {}, {} ID switches ({} per 100 tracks)",
                    fmt_opt(&mot["idf1"]),
                    fmt_opt(&mot["mota"]),
                    fmt_opt(&mot["num_switches"]),
                    fmt_opt(&switches_per_100(mot))
                );
            }
        }
    }
    s
}

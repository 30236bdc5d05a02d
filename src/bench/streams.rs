//! `perceptd bench streams`: how many live cameras one machine holds. N copies of a live-paced
//! source (GStreamer's `videotestsrc is-live=true`, frames at the frame rate as from a camera,
//! dropped at the entrance when the pipeline is behind) go through FastestDet, ByteTrack and an
//! annotated H.264 MP4 per stream, for N = 1, 2, 4, ...; for each N it reports the frames per
//! second each stream achieved, the frames dropped, the end-to-end p99 latency and the CPU per
//! stream, with cross-stream batching off and on. The headline is the largest N held: every
//! stream at the frame rate (within 2 %) with no drop.
//!
//! Each N runs a warm-up second first; frames, drops and CPU are counted over the `seconds`
//! after it, from the pipeline's own Prometheus counters.

use super::cpu;
use crate::config::ConfigError;
use crate::graph::{PipelineError, Prepared, quantile};
use crate::telemetry::Metrics;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A stream holds when it achieves this share of the frame rate, with no drop.
pub const HELD_SHARE: f64 = 0.98;
/// Discarded before counting (s): sessions warm up, encoders start.
const WARMUP: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    #[error("the benchmark's pipeline does not check: {0}")]
    Config(String),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error(
        "{0}: not a JSON report of `perceptd bench streams` ({1}); remove it or pass another --json"
    )]
    Previous(PathBuf, String),
    #[error("{0}")]
    Usage(String),
}

/// `perceptd bench streams`' arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamsArgs {
    /// FastestDet's ONNX file (default: $PERCEPTD_ASSETS/FastestDet.onnx).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Its class names (default: $PERCEPTD_ASSETS/coco.names).
    #[arg(long)]
    pub classes: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    pub max_streams: usize,
    /// Seconds counted per N (after a warm-up second).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 25)]
    pub fps: u32,
    #[arg(long, default_value_t = 960)]
    pub width: u32,
    #[arg(long, default_value_t = 540)]
    pub height: u32,
    /// Cross-stream batching: off, on or both.
    #[arg(long, value_enum, default_value_t = Batching::Both)]
    pub batching: Batching,
    /// Where the annotated MP4s go.
    #[arg(long, default_value = "out/bench-streams")]
    pub out: PathBuf,
    /// The JSON report (default: OUT/streams.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else the setup command's install path).
    #[arg(long)]
    pub onnxruntime: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Batching {
    Off,
    On,
    Both,
}

impl StreamsArgs {
    /// The options, the model and classes defaulting to `$PERCEPTD_ASSETS`'s, checked.
    pub fn options(self) -> Result<StreamsOptions, StreamsError> {
        let asset = |p: Option<PathBuf>, flag: &str, name: &str| -> Result<PathBuf, StreamsError> {
            let p = match p {
                Some(p) => p,
                None => std::env::var_os("PERCEPTD_ASSETS")
                    .map(|a| PathBuf::from(a).join(name))
                    .ok_or_else(|| {
                        StreamsError::Usage(format!(
                            "no {flag} and PERCEPTD_ASSETS is unset: point PERCEPTD_ASSETS at the shared assets folder ({name}) or give {flag}"
                        ))
                    })?,
            };
            if !p.is_file() {
                return Err(StreamsError::Usage(format!(
                    "{flag} {}: no such file; give FastestDet's ONNX file and its class names (the shared assets folder has both)",
                    p.display()
                )));
            }
            Ok(p)
        };
        if self.max_streams == 0 || self.seconds <= 0.0 || self.fps == 0 {
            return Err(StreamsError::Usage(
                "--max-streams, --seconds and --fps must be above 0".into(),
            ));
        }
        Ok(StreamsOptions {
            model: asset(self.model, "--model", "FastestDet.onnx")?,
            classes: asset(self.classes, "--classes", "coco.names")?,
            onnxruntime: self
                .onnxruntime
                .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)),
            max_streams: self.max_streams,
            seconds: self.seconds,
            fps: self.fps,
            width: self.width,
            height: self.height,
            batching: match self.batching {
                Batching::Off => vec![false],
                Batching::On => vec![true],
                Batching::Both => vec![false, true],
            },
            json: self.json.unwrap_or_else(|| self.out.join("streams.json")),
            out: self.out,
        })
    }
}

/// One line as a count is done.
pub fn progress_line(p: &Point) -> String {
    format!(
        "{} stream(s), batching {}: min {:.2} fps, {} dropped, p99 {:.1} ms",
        p.streams,
        if p.batching { "on" } else { "off" },
        p.min_fps(),
        p.drops,
        p.p99_latency_s * 1e3
    )
}

/// The whole benchmark: every count, the JSON report written (the last one shown beside); the
/// table.
pub fn bench(o: &StreamsOptions, progress: impl FnMut(&Point)) -> Result<String, StreamsError> {
    let last = previous(&o.json)?;
    let points = run(o, progress)?;
    let json = serde_json::to_string_pretty(&to_json(o, &points)).expect("plain JSON");
    std::fs::write(&o.json, json + "\n").map_err(|err| StreamsError::Io {
        path: o.json.clone(),
        err,
    })?;
    Ok(format!(
        "{}report: {}\n",
        render(o, &points, last.as_ref()),
        o.json.display()
    ))
}

/// What to run.
#[derive(Debug, Clone)]
pub struct StreamsOptions {
    /// FastestDet's ONNX file and its class names.
    pub model: PathBuf,
    pub classes: PathBuf,
    /// `libonnxruntime.so`; `None`: the default.
    pub onnxruntime: Option<PathBuf>,
    /// Up to this many streams (1, 2, 4, ... and this one).
    pub max_streams: usize,
    /// Counted per N, after the warm-up.
    pub seconds: f64,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    /// Cross-stream batching: each setting measured, in this order.
    pub batching: Vec<bool>,
    /// Where the annotated MP4s go (overwritten for each N).
    pub out: PathBuf,
    /// The JSON report.
    pub json: PathBuf,
}

/// One N, one batching setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub streams: usize,
    pub batching: bool,
    /// Frames per inference call the detector ran with (1 when its model takes one image per
    /// call, whatever batching asked).
    pub batch: usize,
    /// Frames per second each stream achieved (its video sink's frames over the window).
    pub fps: Vec<f64>,
    /// Frames dropped on any edge over the window, all streams.
    pub drops: u64,
    /// Source to sinks done, seconds, over the whole run.
    pub p50_latency_s: f64,
    pub p99_latency_s: f64,
    /// Process CPU over the window, in cores, per stream.
    pub cpu_per_stream: f64,
}

impl Point {
    pub fn min_fps(&self) -> f64 {
        self.fps.iter().copied().fold(f64::INFINITY, f64::min)
    }
    /// Every stream at the frame rate, nothing dropped.
    pub fn held(&self, fps: u32) -> bool {
        self.drops == 0 && self.min_fps() >= HELD_SHARE * fps as f64
    }
}

/// The pipeline file for `n` streams.
pub fn pipeline_yaml(o: &StreamsOptions, n: usize, batching: bool) -> String {
    let q = |p: &Path| format!("\"{}\"", p.display().to_string().replace('"', "\\\""));
    let mut y = String::new();
    let ort = o
        .onnxruntime
        .as_ref()
        .map(|p| format!(", onnxruntime: {}", q(p)))
        .unwrap_or_default();
    let _ = writeln!(
        y,
        "name: bench-streams\nruntime: {{metrics_addr: \"off\"{ort}}}\nsources:"
    );
    for i in 0..n {
        let _ = writeln!(
            y,
            "  cam{i}: {{type: test, mode: live, pattern: ball, width: {}, height: {}, fps: {}}}",
            o.width, o.height, o.fps
        );
    }
    let batch = if batching {
        format!(", batch_size: {n}, max_batch_wait_ms: 5")
    } else {
        String::new()
    };
    let _ = writeln!(
        y,
        "models:\n  det: {{path: {}, format: fastestdet, classes: {}, score_threshold: 0.5, threads: 1{batch}}}",
        q(&o.model),
        q(&o.classes)
    );
    let _ = writeln!(
        y,
        "stages:\n  - {{type: detect, model: det}}\n  - {{type: track}}\nsinks:\n  - {{type: video, path: {}}}",
        q(&o.out.join("{stream}.mp4"))
    );
    y
}

/// The sum of the samples of `name` whose labels include `labels`, in a Prometheus text page.
pub fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name).is_some_and(|r| r.starts_with('{'))
                && labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Runs `n` streams for the warm-up and `o.seconds`; what they achieved.
pub fn measure(o: &StreamsOptions, n: usize, batching: bool) -> Result<Point, StreamsError> {
    std::fs::create_dir_all(&o.out).map_err(|err| StreamsError::Io {
        path: o.out.clone(),
        err,
    })?;
    let yaml = pipeline_yaml(o, n, batching);
    let spec =
        crate::config::load_str(&yaml, &o.out, &|_| None).map_err(|e: Vec<ConfigError>| {
            StreamsError::Config(
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let prepared = Prepared::new(&spec, metrics.clone(), stop.clone())?;
    let batch = crate::model::Detector::load(&spec.models["det"], None)
        .map_err(PipelineError::from)?
        .max_batch;
    let run = std::thread::spawn(move || prepared.run());
    let streams: Vec<String> = (0..n).map(|i| format!("cam{i}")).collect();
    let snapshot = || {
        let page = metrics.render();
        let frames: Vec<f64> = streams
            .iter()
            .map(|s| {
                sample(
                    &page,
                    "perceptd_frames_total",
                    &[("stream", s), ("stage", "video")],
                )
            })
            .collect();
        let drops = sample(&page, "perceptd_frames_dropped_total", &[]);
        (Instant::now(), frames, drops, cpu::process_seconds())
    };
    std::thread::sleep(WARMUP);
    let (t0, f0, d0, c0) = snapshot();
    std::thread::sleep(Duration::from_secs_f64(o.seconds));
    let (t1, f1, d1, c1) = snapshot();
    stop.store(true, Ordering::SeqCst);
    let report = run.join().expect("the pipeline thread does not panic")?;
    let secs = (t1 - t0).as_secs_f64().max(1e-9);
    Ok(Point {
        streams: n,
        batching,
        batch,
        fps: f0.iter().zip(&f1).map(|(a, b)| (b - a) / secs).collect(),
        drops: (d1 - d0).max(0.0) as u64,
        p50_latency_s: quantile(&report.latencies, 0.5),
        p99_latency_s: quantile(&report.latencies, 0.99),
        cpu_per_stream: (c1 - c0) / secs / n as f64,
    })
}

/// The stream counts tried: 1, 2, 4, ... up to `max`, and `max` itself.
pub fn counts(max: usize) -> Vec<usize> {
    let mut v = vec![];
    let mut n = 1;
    while n < max {
        v.push(n);
        n *= 2;
    }
    v.push(max.max(1));
    v
}

/// Every count for every batching setting: 1, 2, 4, ... until one is not held, then halving
/// the gap between the last held and the first not held, so the largest held is found exactly.
pub fn run(
    o: &StreamsOptions,
    mut progress: impl FnMut(&Point),
) -> Result<Vec<Point>, StreamsError> {
    let mut points = vec![];
    for &batching in &o.batching {
        let mut measure_at = |n: usize, points: &mut Vec<Point>| -> Result<bool, StreamsError> {
            let p = measure(o, n, batching)?;
            progress(&p);
            let held = p.held(o.fps);
            points.push(p);
            Ok(held)
        };
        let (mut ok, mut bad) = (0, None);
        for n in counts(o.max_streams) {
            if measure_at(n, &mut points)? {
                ok = n;
            } else {
                bad = Some(n);
                break;
            }
        }
        while let Some(b) = bad.filter(|b| b - ok > 1) {
            let mid = (ok + b) / 2;
            if measure_at(mid, &mut points)? {
                ok = mid;
            } else {
                bad = Some(mid);
            }
        }
    }
    points.sort_by_key(|p| (p.batching, p.streams));
    Ok(points)
}

/// The largest count held with `batching`.
pub fn headline(points: &[Point], fps: u32, batching: bool) -> Option<usize> {
    points
        .iter()
        .filter(|p| p.batching == batching && p.held(fps))
        .map(|p| p.streams)
        .max()
}

pub fn to_json(o: &StreamsOptions, points: &[Point]) -> Value {
    let pts: Vec<Value> = points
        .iter()
        .map(|p| {
            json!({
                "streams": p.streams,
                "batching": p.batching,
                "batch": p.batch,
                "fps": p.fps,
                "min_fps": p.min_fps(),
                "drops": p.drops,
                "p50_latency_s": p.p50_latency_s,
                "p99_latency_s": p.p99_latency_s,
                "cpu_per_stream": p.cpu_per_stream,
                "held": p.held(o.fps),
            })
        })
        .collect();
    json!({
        "bench": "streams",
        "fps": o.fps,
        "width": o.width,
        "height": o.height,
        "seconds": o.seconds,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "held": {
            "batching_off": headline(points, o.fps, false),
            "batching_on": headline(points, o.fps, true),
        },
        "points": pts,
    })
}

/// The table, and beside each row the same row of `previous` (a report this wrote before).
pub fn render(o: &StreamsOptions, points: &[Point], previous: Option<&Value>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} fps live sources, {}x{}, FastestDet + ByteTrack + annotated MP4 per stream; {:.0} s counted per row",
        o.fps, o.width, o.height, o.seconds
    );
    let _ = writeln!(
        s,
        "{:>7} {:>8} {:>5} {:>8} {:>7} {:>9} {:>9} {:>10}  held{}",
        "streams",
        "batching",
        "batch",
        "min fps",
        "drops",
        "p50 ms",
        "p99 ms",
        "CPU/stream",
        if previous.is_some() {
            "  (last run: min fps, p99 ms)"
        } else {
            ""
        }
    );
    for p in points {
        let last = previous.and_then(|v| {
            v["points"].as_array()?.iter().find(|q| {
                q["streams"].as_u64() == Some(p.streams as u64)
                    && q["batching"].as_bool() == Some(p.batching)
            })
        });
        let _ = writeln!(
            s,
            "{:>7} {:>8} {:>5} {:>8.2} {:>7} {:>9.1} {:>9.1} {:>10.2}  {}{}",
            p.streams,
            if p.batching { "on" } else { "off" },
            p.batch,
            p.min_fps(),
            p.drops,
            p.p50_latency_s * 1e3,
            p.p99_latency_s * 1e3,
            p.cpu_per_stream,
            if p.held(o.fps) { "yes" } else { "no" },
            last.map_or(String::new(), |q| format!(
                "  ({:.2}, {:.1})",
                q["min_fps"].as_f64().unwrap_or(f64::NAN),
                q["p99_latency_s"].as_f64().unwrap_or(f64::NAN) * 1e3
            ))
        );
    }
    for b in [false, true] {
        if o.batching.contains(&b) {
            let _ = writeln!(
                s,
                "held at {} fps with no drop, batching {}: {}",
                o.fps,
                if b { "on" } else { "off" },
                headline(points, o.fps, b).map_or("none".into(), |n| format!("{n} streams"))
            );
        }
    }
    s
}

/// A report written before at `path`, when there is one.
pub fn previous(path: &Path) -> Result<Option<Value>, StreamsError> {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let v: Value = serde_json::from_str(&t)
                .map_err(|e| StreamsError::Previous(path.into(), e.to_string()))?;
            if v["bench"] != "streams" {
                return Err(StreamsError::Previous(
                    path.into(),
                    "no \"bench\": \"streams\"".into(),
                ));
            }
            Ok(Some(v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StreamsError::Io {
            path: path.into(),
            err,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_double_up_to_the_maximum() {
        assert_eq!(counts(1), vec![1]);
        assert_eq!(counts(4), vec![1, 2, 4]);
        assert_eq!(counts(6), vec![1, 2, 4, 6]);
    }

    #[test]
    fn a_point_holds_only_at_the_frame_rate_with_no_drop() {
        let p = Point {
            streams: 2,
            batching: false,
            batch: 1,
            fps: vec![25.0, 24.6],
            drops: 0,
            p50_latency_s: 0.01,
            p99_latency_s: 0.02,
            cpu_per_stream: 0.3,
        };
        assert!(p.held(25));
        assert!(
            !Point {
                drops: 1,
                ..p.clone()
            }
            .held(25)
        );
        assert!(
            !Point {
                fps: vec![25.0, 24.0],
                ..p.clone()
            }
            .held(25)
        );
        assert_eq!(headline(std::slice::from_ref(&p), 25, false), Some(2));
        assert_eq!(headline(&[p], 25, true), None);
    }

    #[test]
    fn samples_are_summed_over_matching_labels_only() {
        let page = "perceptd_frames_total{pipeline=\"b\",stream=\"cam0\",stage=\"video\"} 10\n\
                    perceptd_frames_total{pipeline=\"b\",stream=\"cam1\",stage=\"video\"} 7\n\
                    perceptd_frames_total_x{stream=\"cam0\",stage=\"video\"} 99\n";
        assert_eq!(
            sample(page, "perceptd_frames_total", &[("stream", "cam0")]),
            10.0
        );
        assert_eq!(sample(page, "perceptd_frames_total", &[]), 17.0);
    }
}

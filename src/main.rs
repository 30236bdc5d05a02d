//! The command line: parses arguments, calls the library, maps errors to exit codes
//! (0 success, 1 runtime failure, 2 bad usage or invalid configuration).

use anyhow::Context;
use clap::{Parser, Subcommand};
use perceptd::config::{self, ConfigError, ConfigErrors, PipelineSpec};
use perceptd::graph::{PipelineError, Prepared, quantile};
use perceptd::model::ModelError;
use perceptd::model::session::RuntimeError;
use perceptd::telemetry::{Metrics, MetricsServer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "perceptd",
    version,
    about = "Perception on video streams: GStreamer in, ONNX Runtime, annotated video, JSON Lines and Prometheus metrics out"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every pipeline of a config folder as a daemon (systemd Type=notify).
    ///
    /// Every *.yaml / *.yml in the folder is one pipeline, except perceptd.yaml, the daemon's
    /// own file (http.address, log.level, shutdown.drain_timeout_s, watchdog.stall_s).
    /// Serves /metrics, /healthz and /readyz (default 127.0.0.1:9464). SIGHUP reloads the
    /// folder (only changed pipelines restart); SIGTERM / SIGINT drain within the deadline, a
    /// second one stops at once. Exit code 2 when the folder is invalid at start.
    ///
    /// Example: perceptd serve --config-dir /etc/perceptd
    Serve {
        /// The config folder.
        #[arg(long, default_value = perceptd::daemon::config::DEFAULT_DIR)]
        config_dir: PathBuf,
    },
    /// Run a pipeline until its source ends or SIGINT / SIGTERM arrives.
    ///
    /// Outputs are finalised on a signal too: the MP4 plays, the JSONL holds every frame done.
    /// A second signal stops at once.
    ///
    /// Example: perceptd run pipelines/examples/fastestdet-drive.yaml --metrics-addr 127.0.0.1:9464
    Run {
        /// The pipeline file (YAML).
        pipeline: PathBuf,
        /// Serve /metrics here (overrides runtime.metrics_addr; `off` disables).
        #[arg(long)]
        metrics_addr: Option<String>,
        /// Keep serving /metrics this many seconds after the pipeline ends (for a last scrape).
        #[arg(long, default_value_t = 0.0, value_parser = parse_linger)]
        linger: f64,
    },
    /// Check a pipeline file: every error at once, each with its key, line and fix.
    ///
    /// Besides the file itself, loads each model (checking its outputs against `format`) and
    /// reads one frame from the source. Exit code 2 when anything is wrong.
    ///
    /// Example: perceptd check pipelines/examples/fastestdet-drive.yaml
    Check {
        pipeline: PathBuf,
        /// Only check the file (no ONNX Runtime, no source).
        #[arg(long)]
        offline: bool,
    },
    /// Work with model files.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Run a pipeline as fast as its source goes, then time each model's bare Session::run.
    ///
    /// Prints frames/s, p50 / p99 per stage and end to end, and the pipeline / raw-session ratio.
    ///
    /// Example: perceptd bench pipelines/examples/fastestdet-drive.yaml
    ///
    /// `perceptd bench streams`: how many 25 fps live cameras this machine holds (see
    /// `perceptd bench streams --help`).
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        cmd: Option<BenchCmd>,
        #[arg(required = true)]
        pipeline: Option<PathBuf>,
        /// Serve /metrics here while it runs (default: off).
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// Run a pipeline over a recorded drive or a folder of them, lossless and as fast as it goes.
    ///
    /// Each drive's outputs go to OUT/<drive>/ (the pipeline's sinks, always a JSONL), with
    /// summary.json; OUT/run.json sums up and OUT/report.html shows charts and the frames to look
    /// at. With --gt, each drive is evaluated: --gt is the ground-truth file for one drive, or a
    /// folder of <drive>.jsonl / <drive>.json (detection), <drive>/ (class-map PNGs) and
    /// <drive>.txt (MOTChallenge). Two runs of the same build write identical JSONL (CPU).
    ///
    /// Example: perceptd replay pipelines/examples/fastestdet-drive.yaml --input drives/ --out runs/a
    Replay {
        pipeline: PathBuf,
        /// A recorded drive, or a folder of them (mp4, mkv, mov, avi, webm, ts, m4v, mts).
        #[arg(long)]
        input: PathBuf,
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// Ground truth: evaluate each drive.
        #[arg(long)]
        gt: Option<PathBuf>,
        /// Progress display: a bar on a terminal, lines otherwise (auto), or off.
        #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
        progress: ProgressArg,
        /// Do not write report.html.
        #[arg(long)]
        no_report: bool,
        /// Serve /metrics of the drive being replayed at HOST:PORT (default: off).
        #[arg(long)]
        metrics_addr: Option<SocketAddr>,
    },
    /// Compare two replays of the same drives: speed, accuracy, detections, disagreeing frames.
    ///
    /// Prints the differences and writes report.html (default: RUN_B/diff/report.html).
    /// Exit code 0 whether or not they differ.
    ///
    /// Example: perceptd diff runs/a runs/b
    Diff {
        run_a: PathBuf,
        run_b: PathBuf,
        /// Folder for report.html.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Generate a sample drive: a road scene with traffic and people, as an MP4 with exact
    /// ground truth for detection, tracking and segmentation.
    ///
    /// Writes OUT/<name>.mp4, OUT/gt/<name>.jsonl (boxes with ids), OUT/gt/<name>.txt
    /// (MOTChallenge), OUT/gt/<name>/NNNNNN.png (class maps: background, road, lane, vehicle,
    /// person), OUT/classes.txt, OUT/labels.txt (car, truck, bus, person), OUT/sample.json and
    /// OUT/README.txt; with --images also OUT/images/<name>/NNNNNN.png (lossless RGB frames).
    /// The same seed and options give the same files byte for byte. Evaluate a pipeline on it
    /// with `perceptd replay PIPELINE --input OUT/<name>.mp4 --gt OUT/gt --out runs/a` (the
    /// pipeline needs `mask` and `mot` sinks for the class maps and tracks; give
    /// `--gt OUT/gt/<name>.jsonl` to evaluate detection alone).
    ///
    /// Example: perceptd sample-drive --seed 7 --out drives/sample
    SampleDrive {
        /// The drive's seed: one seed, one drive.
        #[arg(long)]
        seed: u64,
        /// Output folder (created; files of the same drive name are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Frames to generate (40 s at 30 fps: room for several driver-assistance moments).
        #[arg(long, default_value_t = 1200)]
        frames: u64,
        /// Frame width in pixels (even).
        #[arg(long, default_value_t = 960)]
        width: u32,
        /// Frame height in pixels (even).
        #[arg(long, default_value_t = 540)]
        height: u32,
        /// Frames per second (those dividing 600 sample the same drive).
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// The drive's name (its files' names).
        #[arg(long, default_value = "drive")]
        name: String,
        /// Also write every frame as a lossless PNG (for training).
        #[arg(long)]
        images: bool,
    },
    /// Evaluate results against ground truth.
    Eval {
        #[command(subcommand)]
        cmd: EvalCmd,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum IouTypeArg {
    Bbox,
    Segm,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProgressArg {
    Auto,
    Bar,
    Lines,
    Off,
}

#[derive(Subcommand)]
enum EvalCmd {
    /// Driver assistance: warning precision and recall per kind (a warning matches a true event
    /// when it is raised between 2 s before the true onset and the critical moment), lead time,
    /// forward-collision warnings raised by true TTC 2 s, and the errors of lead distance, time
    /// to collision and lateral offset, of a run's JSONL (`adas` fields) against a sample
    /// drive's truth. Exit code 2 on bad input.
    ///
    /// Example: perceptd eval adas --gt drives/gt/drive.adas.jsonl --pred runs/a/drive/results.jsonl
    Adas {
        /// `<drive>.adas.jsonl` (with `<drive>.events.jsonl` beside it).
        #[arg(long)]
        gt: PathBuf,
        #[arg(long)]
        pred: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Detection: COCO-style AP per class, mAP@0.5 and mAP@0.5:0.95 (as pycocotools computes
    /// them) of a perceptd JSONL run against ground truth (perceptd's ground-truth JSONL, or COCO
    /// JSON annotations). Exit code 2 on bad input.
    ///
    /// With `--iou-type segm`, matches are scored on instance masks (COCO RLE: the `mask` of
    /// perceptd's detections from a model with a mask head; `mask` of ground-truth objects, or
    /// COCO's RLE `segmentation`), as pycocotools' iouType="segm".
    ///
    /// Example: perceptd eval det --gt drive.gt.jsonl --pred runs/a/drive/results.jsonl
    Det {
        #[arg(long)]
        gt: PathBuf,
        #[arg(long)]
        pred: PathBuf,
        /// What a match is scored on: boxes, or instance masks.
        #[arg(long, value_enum, default_value = "bbox")]
        iou_type: IouTypeArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Segmentation: per-class IoU and mIoU of class-map PNGs (the `mask` sink's) against
    /// ground-truth PNGs (pixel = class index; a file's frame is the last number in its name).
    ///
    /// Example: perceptd eval seg --gt gt/masks --pred runs/a/drive/masks --head lanes
    Seg {
        #[arg(long)]
        gt: PathBuf,
        #[arg(long)]
        pred: PathBuf,
        /// The segmentation head, when the folder holds several.
        #[arg(long)]
        head: Option<String>,
        /// The stream, when the folder holds several.
        #[arg(long)]
        stream: Option<String>,
        /// Class names, one per line, in index order.
        #[arg(long)]
        classes: Option<PathBuf>,
        /// Ground-truth pixel value to ignore (default 255).
        #[arg(long, default_value_t = 255)]
        ignore: u8,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Multi-object tracking: CLEAR-MOT (MOTA, MOTP) and identity (IDF1, IDP, IDR) metrics of
    /// MOTChallenge files, as py-motmetrics' eval_motchallenge.py computes them by default.
    ///
    /// Files are `frame,id,x,y,w,h,conf,...` per line. Ground-truth rows with conf < 1 are
    /// ignored; a match needs IoU >= 0.5. MOTP is the mean 1 - IoU of matches (lower is better).
    /// Exit code 2 on bad input.
    ///
    /// Example: perceptd eval mot --gt MOT17/train --pred results/ --json
    Mot {
        /// Ground truth: a file, or a folder with <sequence>.txt or <sequence>/gt/gt.txt.
        #[arg(long)]
        gt: PathBuf,
        /// Predictions: a file (one sequence, named after its stem), or a folder of <sequence>.txt.
        #[arg(long)]
        pred: PathBuf,
        /// Print JSON ({"sequences": {name: metrics}, "overall": metrics}; ratios as fractions).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// N live-paced sources (videotestsrc, frames at the frame rate, dropped when behind)
    /// through FastestDet, ByteTrack and an annotated MP4 each, for N = 1, 2, 4, ... up to
    /// --max-streams, with cross-stream batching off and on: per N the frames/s each stream
    /// achieved, drops, p50 / p99 latency and CPU per stream; the largest N held at the frame
    /// rate with no drop. Written as JSON to --json; a report already there is shown beside.
    ///
    /// Example: PERCEPTD_ASSETS=../shared/assets perceptd bench streams --max-streams 8
    Streams(perceptd::bench::streams::StreamsArgs),
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Print a model's inputs, outputs, metadata and the output layout perceptd would use.
    ///
    /// Example: perceptd models inspect $PERCEPTD_ASSETS/FastestDet.onnx
    Inspect {
        model: PathBuf,
        /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else the setup command's install path).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
    },
}

fn parse_linger(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds from 0 to 86400")),
    }
}

/// An error with its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn usage(e: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: e.into(),
    }
}
fn runtime(e: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        error: e.into(),
    }
}

fn main() -> ExitCode {
    perceptd::pool::bound_malloc_arenas();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let logs = perceptd::telemetry::logs::init();
    let r = match cli.cmd {
        Cmd::Serve { config_dir } => cmd_serve(&config_dir, logs),
        Cmd::Run {
            pipeline,
            metrics_addr,
            linger,
        } => cmd_run(&pipeline, metrics_addr.as_deref(), linger),
        Cmd::Check { pipeline, offline } => cmd_check(&pipeline, offline),
        Cmd::Models {
            cmd: ModelsCmd::Inspect { model, onnxruntime },
        } => cmd_inspect(&model, onnxruntime),
        Cmd::Bench { cmd: Some(c), .. } => cmd_bench_streams(c),
        Cmd::Bench {
            pipeline,
            metrics_addr,
            ..
        } => cmd_bench(
            &pipeline.expect("clap requires it without a subcommand"),
            metrics_addr.as_deref(),
        ),
        Cmd::Eval {
            cmd: EvalCmd::Mot { gt, pred, json },
        } => cmd_eval_mot(&gt, &pred, json),
        Cmd::Eval {
            cmd:
                EvalCmd::Det {
                    gt,
                    pred,
                    iou_type,
                    json,
                },
        } => cmd_eval_det(&gt, &pred, iou_type, json),
        Cmd::Eval {
            cmd: EvalCmd::Adas { gt, pred, json },
        } => cmd_eval_adas(&gt, &pred, json),
        Cmd::Eval {
            cmd:
                EvalCmd::Seg {
                    gt,
                    pred,
                    head,
                    stream,
                    classes,
                    ignore,
                    json,
                },
        } => cmd_eval_seg(&gt, &pred, head, stream, classes.as_deref(), ignore, json),
        Cmd::Replay {
            pipeline,
            input,
            out,
            gt,
            progress,
            no_report,
            metrics_addr,
        } => cmd_replay(perceptd::replay::ReplayOptions {
            pipeline,
            input,
            out,
            gt,
            progress: match progress {
                ProgressArg::Auto => perceptd::replay::progress::Style::auto(),
                ProgressArg::Bar => perceptd::replay::progress::Style::Bar,
                ProgressArg::Lines => perceptd::replay::progress::Style::Lines,
                ProgressArg::Off => perceptd::replay::progress::Style::Off,
            },
            report: !no_report,
            metrics_addr,
        }),
        Cmd::Diff { run_a, run_b, out } => cmd_diff(&run_a, &run_b, out),
        Cmd::SampleDrive {
            seed,
            out,
            frames,
            width,
            height,
            fps,
            name,
            images,
        } => cmd_sample_drive(perceptd::sample::SampleOptions {
            seed,
            out,
            frames,
            width,
            height,
            fps,
            name,
            images,
            video: true,
        }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn load(path: &Path) -> Result<PipelineSpec, Failure> {
    config::load_file(path).map_err(usage)
}

/// Model and source errors that a user fixes in the file are exit code 2; the rest 1.
fn classify(e: PipelineError) -> Failure {
    match &e {
        PipelineError::Model(ModelError::Runtime(RuntimeError::Library { .. }))
        | PipelineError::Model(
            ModelError::Layout { .. } | ModelError::Input { .. } | ModelError::Classes { .. },
        ) => usage(e),
        _ => runtime(e),
    }
}

/// SIGINT / SIGTERM set `stop`; a second one exits at once.
fn install_signals() -> Result<Arc<AtomicBool>, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .map_err(runtime)?;
        signal_hook::flag::register(sig, stop.clone()).map_err(runtime)?;
    }
    Ok(stop)
}

fn metrics_server(
    spec: &PipelineSpec,
    flag: Option<&str>,
    metrics: &Arc<Metrics>,
) -> Result<Option<MetricsServer>, Failure> {
    let addr: Option<SocketAddr> = match flag {
        Some("off") => None,
        Some(a) => Some(a.parse().map_err(|_| {
            usage(anyhow::anyhow!(
                "--metrics-addr {a}: not HOST:PORT (e.g. 127.0.0.1:9464) or `off`"
            ))
        })?),
        None => spec.metrics_addr,
    };
    addr.map(|a| MetricsServer::start(a, metrics.clone()).map_err(runtime))
        .transpose()
}

fn cmd_run(path: &Path, metrics_addr: Option<&str>, linger: f64) -> Result<(), Failure> {
    let spec = load(path)?;
    let metrics = Arc::new(Metrics::new());
    let server = metrics_server(&spec, metrics_addr, &metrics)?;
    let stop = install_signals()?;
    let prepared = Prepared::new(&spec, metrics.clone(), stop.clone()).map_err(classify)?;
    tracing::info!(pipeline = %spec.name, "running");
    let report = prepared.run().map_err(classify)?;
    let interrupted = stop.load(Ordering::Relaxed);
    eprintln!(
        "{}: {} frames in {:.2} s ({:.2} frames/s), latency p50 {:.1} ms p99 {:.1} ms{}",
        spec.name,
        report.frames,
        report.elapsed.as_secs_f64(),
        report.fps(),
        quantile(&report.latencies, 0.5) * 1e3,
        quantile(&report.latencies, 0.99) * 1e3,
        if interrupted {
            " (stopped by signal; outputs finalised)"
        } else {
            ""
        }
    );
    for s in &spec.sinks {
        let frames = report
            .stages
            .iter()
            .find(|r| r.name == s.get().kind())
            .map_or(0, |r| r.frames);
        // Served sinks write nothing.
        if s.get().live_only() {
            continue;
        }
        if s.get().publishes() && frames > 0 {
            eprintln!("  published to {}", s.get().path().display());
            continue;
        }
        let written = s.get().wrote_output(frames);
        let s = s.get();
        if written {
            for src in &spec.sources {
                eprintln!(
                    "  wrote {}",
                    perceptd::stage::path_for(s.path(), &src.stream).display()
                );
                if !s.per_stream() {
                    break;
                }
            }
        } else {
            eprintln!(
                "  no frame reached {}, so it was not written",
                s.path().display()
            );
        }
    }
    if linger > 0.0 && server.is_some() {
        std::thread::sleep(Duration::from_secs_f64(linger));
    }
    if !report.stream_errors.is_empty() {
        // The other streams finished and every output is complete; the exit code still says
        // that a stream failed.
        return Err(runtime(anyhow::anyhow!(
            "{} stream(s) ended with an error:\n  {}",
            report.stream_errors.len(),
            report.stream_errors.join("\n  ")
        )));
    }
    Ok(())
}

fn cmd_serve(dir: &Path, logs: perceptd::telemetry::logs::Logs) -> Result<(), Failure> {
    match perceptd::daemon::serve(dir, Box::new(logs)) {
        Ok(()) => Ok(()),
        Err(e @ perceptd::daemon::DaemonError::Config { .. }) => Err(usage(e)),
        Err(e) => Err(runtime(e)),
    }
}

fn cmd_bench(path: &Path, metrics_addr: Option<&str>) -> Result<(), Failure> {
    let spec = load(path)?;
    let metrics = Arc::new(Metrics::new());
    let _server = metrics_server(&spec, Some(metrics_addr.unwrap_or("off")), &metrics)?;
    let stop = install_signals()?;
    let report = perceptd::bench::bench(&spec, metrics, stop).map_err(classify)?;
    print!("{}", report.render());
    Ok(())
}

fn cmd_bench_streams(cmd: BenchCmd) -> Result<(), Failure> {
    use perceptd::bench::streams::{self, StreamsError};
    let BenchCmd::Streams(args) = cmd;
    let bad_input =
        |e: &StreamsError| matches!(e, StreamsError::Usage(_) | StreamsError::Previous(..));
    let o = args.options().map_err(usage)?;
    let report = streams::bench(&o, |p| eprintln!("{}", streams::progress_line(p)));
    match report {
        Ok(table) => {
            print!("{table}");
            Ok(())
        }
        Err(StreamsError::Pipeline(e)) => Err(classify(e)),
        Err(e) if bad_input(&e) => Err(usage(e)),
        Err(e) => Err(runtime(e)),
    }
}

/// Every evaluation error is bad input (a file, a line, a missing sequence): exit code 2.
fn cmd_eval_mot(gt: &Path, pred: &Path, json: bool) -> Result<(), Failure> {
    let report = perceptd::eval::mot::evaluate_paths(gt, pred).map_err(usage)?;
    if json {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn cmd_eval_det(gt: &Path, pred: &Path, iou_type: IouTypeArg, json: bool) -> Result<(), Failure> {
    use perceptd::eval::det::IouType;
    let iou_type = match iou_type {
        IouTypeArg::Bbox => IouType::Bbox,
        IouTypeArg::Segm => IouType::Segm,
    };
    let report = perceptd::eval::det::evaluate_paths_as(gt, pred, iou_type).map_err(usage)?;
    if json {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn cmd_eval_adas(gt: &Path, pred: &Path, json: bool) -> Result<(), Failure> {
    let report = perceptd::eval::adas::evaluate_paths(gt, pred).map_err(usage)?;
    if json {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn cmd_eval_seg(
    gt: &Path,
    pred: &Path,
    head: Option<String>,
    stream: Option<String>,
    classes: Option<&Path>,
    ignore: u8,
    json: bool,
) -> Result<(), Failure> {
    let classes = classes
        .map(perceptd::eval::seg::read_class_names)
        .transpose()
        .map_err(usage)?;
    let opts = perceptd::eval::seg::SegOptions {
        head,
        stream,
        ignore: Some(ignore),
        classes,
    };
    let report = perceptd::eval::seg::evaluate_dirs(gt, pred, &opts).map_err(usage)?;
    if json {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn cmd_replay(opts: perceptd::replay::ReplayOptions) -> Result<(), Failure> {
    use perceptd::replay;
    let stop = install_signals()?;
    let (out, report) = (opts.out.clone(), opts.report);
    match replay::replay(&opts, stop) {
        Ok(run) => {
            eprint!("{}", replay::render_summary(&run));
            eprintln!(
                "
results in {}",
                out.display()
            );
            if report {
                eprintln!("report:   {}", out.join("report.html").display());
            }
            Ok(())
        }
        Err(e) if e.is_usage() => Err(usage(e)),
        Err(e) => Err(runtime(e)),
    }
}

fn cmd_diff(a: &Path, b: &Path, out: Option<PathBuf>) -> Result<(), Failure> {
    let d = perceptd::replay::diff::diff(a, b).map_err(usage)?;
    print!("{}", d.text());
    let dir = out.unwrap_or_else(|| b.join("diff"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {}", dir.display()))
        .map_err(runtime)?;
    let path = dir.join("report.html");
    std::fs::write(&path, d.html())
        .with_context(|| format!("writing {}", path.display()))
        .map_err(runtime)?;
    eprintln!("report: {}", path.display());
    Ok(())
}

fn cmd_sample_drive(opts: perceptd::sample::SampleOptions) -> Result<(), Failure> {
    let s = perceptd::sample::generate(&opts, |_| {})
        .map_err(|e| if e.is_usage() { usage(e) } else { runtime(e) })?;
    let secs = s.elapsed.as_secs_f64();
    eprintln!(
        "sample drive `{}` (seed {}): {} frames of {}x{} at {} fps in {secs:.1} s ({:.0} frames/s)",
        opts.name,
        opts.seed,
        s.frames,
        opts.width,
        opts.height,
        opts.fps,
        s.frames as f64 / secs.max(1e-9)
    );
    let counts: Vec<String> = perceptd::sample::LABELS
        .iter()
        .map(|l| {
            format!(
                "{l} {} ({} ids)",
                s.boxes.get(l).copied().unwrap_or(0),
                s.ids.get(l).copied().unwrap_or(0)
            )
        })
        .collect();
    eprintln!("  boxes: {}", counts.join(", "));
    if let Some(v) = &s.video {
        eprintln!("  wrote {}", v.display());
    }
    eprintln!("  wrote {}", s.det_gt.display());
    eprintln!("  wrote {}", s.mot_gt.display());
    eprintln!("  wrote {}/ (class maps)", s.masks.display());
    if let Some(i) = &s.images {
        eprintln!("  wrote {}/ (frames)", i.display());
    }
    if let Some(v) = &s.video {
        eprintln!(
            "evaluate a pipeline on it: perceptd replay PIPELINE --input {} --gt {} --out runs/{}",
            v.display(),
            s.gt_dir.display(),
            opts.name
        );
        eprintln!(
            "  (with `mask` and `mot` sinks in the pipeline; --gt {} for detection alone)",
            s.det_gt.display()
        );
    }
    Ok(())
}

fn cmd_check(path: &Path, offline: bool) -> Result<(), Failure> {
    let spec = load(path)?;
    if !offline {
        let errors = deep_check(&spec);
        if !errors.is_empty() {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let errors = errors
                .into_iter()
                .map(|(key, message)| ConfigError {
                    line: config::line_of(&text, &key),
                    key,
                    message,
                })
                .collect();
            return Err(usage(ConfigErrors {
                file: path.to_path_buf(),
                errors,
            }));
        }
    }
    println!(
        "{}: ok ({} source, {} model(s), {} stage(s), {} sink(s))",
        path.display(),
        1,
        spec.models.len(),
        spec.stages.len(),
        spec.sinks.len()
    );
    Ok(())
}

/// Loads every model and reads one frame; returns `(key, message)` for each failure.
fn deep_check(spec: &PipelineSpec) -> Vec<(String, String)> {
    let mut errors = vec![];
    if !spec.models.is_empty() {
        match perceptd::model::session::init(&spec.ort_library) {
            Err(e) => errors.push(("runtime.onnxruntime".to_string(), e.to_string())),
            Ok(()) => {
                perceptd::model::session::preload_libraries_once(&spec.cuda_libraries);
                for (name, m) in &spec.models {
                    let loaded = if m.format == config::DetectFormat::Segmentation {
                        perceptd::segment::Segmenter::load(m, None).map(|_| ())
                    } else {
                        perceptd::model::Detector::load(m, None).map(|_| ())
                    };
                    if let Err(e) = loaded {
                        let suffix = e.key_suffix();
                        let key = if suffix.is_empty() {
                            "runtime.onnxruntime".into()
                        } else {
                            format!("models.{name}.{suffix}")
                        };
                        errors.push((key, e.to_string()));
                    }
                }
            }
        }
    }
    for src in &spec.sources {
        if let Err(e) = perceptd::source::probe(src) {
            errors.push((format!("sources.{}", src.stream), e.to_string()));
        }
    }
    for (i, s) in spec.sinks.iter().enumerate() {
        if let Err(e) = s.get().deep_check() {
            errors.push((format!("sinks[{i}]"), e));
        }
    }
    errors
}

fn cmd_inspect(model: &Path, lib: Option<PathBuf>) -> Result<(), Failure> {
    let lib = match lib {
        Some(p) => config::OrtLibrary {
            path: p,
            origin: config::LibraryOrigin::PipelineFile,
        },
        None => match std::env::var("ORT_DYLIB_PATH")
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(p) => config::OrtLibrary {
                path: p.into(),
                origin: config::LibraryOrigin::EnvVar,
            },
            None => config::OrtLibrary {
                path: config::DEFAULT_ORT_LIBRARY.into(),
                origin: config::LibraryOrigin::Default,
            },
        },
    };
    if !model.is_file() {
        return Err(usage(anyhow::anyhow!(
            "{}: no such model file",
            model.display()
        )));
    }
    perceptd::model::session::init(&lib).map_err(usage)?;
    let (text, _) = perceptd::model::inspect::inspect(model)
        .with_context(|| format!("inspecting {}", model.display()))
        .map_err(runtime)?;
    print!("{text}");
    Ok(())
}

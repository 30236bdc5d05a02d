//! The running pipeline: one thread per stage, each owning its state, joined by bounded edges.
//! A stop request ends the source; every stage then drains what is queued and finishes (the MP4
//! is finalised, the JSONL complete) before `run` returns.

pub mod edge;
pub mod priority;
mod stages;

pub use stages::{Stage, StageError};

use crate::config::{PipelineSpec, SinkSpec, StageSpec};
use crate::frame::Frame;
use crate::model::{Detector, ModelError};
use crate::segment::Segmenter;
use crate::source::{Source, SourceError};
use crate::telemetry::Metrics;
use edge::{EdgeRx, EdgeTx};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("stage {stage}: {source}")]
    Stage {
        stage: String,
        source: Box<StageError>,
    },
    #[error("stage {0} panicked")]
    Panic(String),
}

/// Timings of one stage over a run.
#[derive(Debug, Clone, Default)]
pub struct StageReport {
    pub name: String,
    pub frames: u64,
    /// Seconds per frame, in arrival order.
    pub durations: Vec<f32>,
}

#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub frames: u64,
    pub elapsed: Duration,
    pub stages: Vec<StageReport>,
    /// Source capture to the last stage done, seconds.
    pub latencies: Vec<f32>,
    /// Models and the provider each runs on.
    pub providers: Vec<(String, &'static str)>,
}

impl RunReport {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `p`-quantile (0..1) of `v` by nearest rank; NaN when empty.
pub fn quantile(v: &[f32], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[i] as f64
}

/// Everything a pipeline needs, loaded and checked, before any frame flows: the source is open,
/// every model loaded and warmed up, every sink created.
pub struct Prepared {
    spec: PipelineSpec,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    source: Source,
    stages: Vec<Box<dyn Stage>>,
    providers: Vec<(String, &'static str)>,
}

impl Prepared {
    pub fn new(
        spec: &PipelineSpec,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<Prepared, PipelineError> {
        let mut stage_list: Vec<Box<dyn Stage>> = vec![];
        let mut providers = vec![];
        for st in &spec.stages {
            crate::model::session::init(&spec.ort_library).map_err(ModelError::from)?;
            crate::model::session::preload_libraries_once(&spec.cuda_libraries);
            match st {
                StageSpec::Segment { model } => {
                    let seg = Segmenter::load(&spec.models[model], Some(&metrics))?;
                    providers.push((
                        model.clone(),
                        crate::model::session::provider_name(seg.provider),
                    ));
                    stage_list.push(Box::new(stages::Preprocess::new(model, seg.input.clone())));
                    stage_list.push(Box::new(stages::Segment::new(model, seg)));
                }
                StageSpec::Detect { model } => {
                    let mspec = &spec.models[model];
                    let det = Detector::load(mspec, Some(&metrics))?;
                    providers.push((
                        model.clone(),
                        crate::model::session::provider_name(det.provider),
                    ));
                    stage_list.push(Box::new(stages::Preprocess::new(model, det.input.clone())));
                    stage_list.push(Box::new(stages::Detect::new(
                        model,
                        det,
                        mspec.max_batch_wait,
                    )));
                }
            }
        }
        // The source opens before any sink truncates its file: a source that cannot start
        // leaves the previous run's results in place.
        let source = Source::open(&spec.source, stop.clone(), spec.support_priority)?;
        let sink_err = |stage: &str, e: crate::sink::SinkError| PipelineError::Stage {
            stage: stage.into(),
            source: Box::new(StageError::Sink(e)),
        };
        for s in spec
            .sinks
            .iter()
            .filter(|s| matches!(s, SinkSpec::Jsonl { .. }))
        {
            stage_list.push(Box::new(
                stages::Jsonl::new(s.path(), &spec.name).map_err(|e| sink_err("jsonl", e))?,
            ));
        }
        for s in &spec.sinks {
            if let SinkSpec::Mask { path, every } = s {
                stage_list.push(Box::new(
                    stages::Mask::new(path, *every).map_err(|e| sink_err("mask", e))?,
                ));
            }
        }
        for s in &spec.sinks {
            if let SinkSpec::Video {
                path,
                speed_preset,
                bitrate_kbps,
            } = s
            {
                stage_list.push(Box::new(
                    stages::Video::new(path, speed_preset, *bitrate_kbps, spec.support_priority)
                        .map_err(|e| sink_err("video", e))?,
                ));
            }
        }
        Ok(Prepared {
            spec: spec.clone(),
            metrics,
            stop,
            source,
            stages: stage_list,
            providers,
        })
    }

    /// Runs to the end of the stream or until `stop` is set, then drains and finishes every stage.
    pub fn run(self) -> Result<RunReport, PipelineError> {
        let Prepared {
            spec,
            metrics,
            stop,
            mut source,
            stages,
            providers,
        } = self;
        let pipeline = spec.name.clone();
        let stream = spec.source.stream.clone();
        let started = Instant::now();

        let mut names: Vec<String> = vec!["source".into()];
        names.extend(stages.iter().map(|s| s.name().to_string()));
        // Edge i joins names[i] -> names[i+1].
        let mut txs: Vec<Option<EdgeTx<Frame>>> = vec![];
        let mut rxs: Vec<Option<EdgeRx<Frame>>> = vec![None];
        for i in 0..stages.len() {
            let edge_name = format!("{}->{}", names[i], names[i + 1]);
            let dropped = metrics
                .dropped
                .with_label_values(&[&pipeline, &stream, &edge_name, "full"]);
            let depth = metrics
                .queue_depth
                .with_label_values(&[&pipeline, &edge_name]);
            let e = spec.edges.into_stage(&names[i + 1]);
            let (tx, rx) = edge::edge(e.capacity, e.when_full, dropped, depth);
            txs.push(Some(tx));
            rxs.push(Some(rx));
        }
        txs.push(None);

        let last = stages.len();
        let mut handles: Vec<(String, JoinHandle<Result<StageReport, PipelineError>>)> = vec![];
        let latencies = Arc::new(std::sync::Mutex::new(Vec::<f32>::new()));

        // Source thread.
        {
            let tx = txs[0].take();
            let m = metrics.clone();
            let (p, s) = (pipeline.clone(), stream.clone());
            let stop = stop.clone();
            let lat = latencies.clone();
            let nice = spec.support_priority;
            let h = std::thread::Builder::new()
                .name("source".into())
                .spawn(move || {
                    priority::lower_current_thread(nice);
                    let hist = m.stage_duration.with_label_values(&[&p, &s, "source"]);
                    let count = m.frames.with_label_values(&[&p, &s, "source"]);
                    let e2e = m.frame_latency.with_label_values(&[&p, &s]);
                    let mut rep = StageReport {
                        name: "source".into(),
                        ..Default::default()
                    };
                    loop {
                        let t0 = Instant::now();
                        let Some(frame) = source.next_frame()? else {
                            break;
                        };
                        let d = t0.elapsed().as_secs_f32();
                        hist.observe(d as f64);
                        count.inc();
                        rep.durations.push(d);
                        rep.frames += 1;
                        match &tx {
                            Some(tx) => {
                                if tx.send(frame).is_err() {
                                    break;
                                }
                            }
                            None => {
                                let l = frame.captured.elapsed().as_secs_f32();
                                e2e.observe(l as f64);
                                lat.lock().expect("latency lock").push(l);
                            }
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    Ok(rep)
                })
                .expect("spawn source thread");
            handles.push(("source".into(), h));
        }

        for (i, mut stage) in stages.into_iter().enumerate() {
            let rx = rxs[i + 1].take().expect("edge into every stage");
            let tx = txs[i + 1].take();
            let m = metrics.clone();
            let (p, s) = (pipeline.clone(), stream.clone());
            let name = names[i + 1].clone();
            let is_last = i + 1 == last;
            let lat = latencies.clone();
            let nice = if stage.is_inference() {
                crate::config::SupportPriority::Normal
            } else {
                spec.support_priority
            };
            let h = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    priority::lower_current_thread(nice);
                    let hist = m.stage_duration.with_label_values(&[&p, &s, &name]);
                    let count = m.frames.with_label_values(&[&p, &s, &name]);
                    let e2e = m.frame_latency.with_label_values(&[&p, &s]);
                    let mut rep = StageReport {
                        name: name.clone(),
                        ..Default::default()
                    };
                    let fail = |e: StageError| PipelineError::Stage {
                        stage: name.clone(),
                        source: Box::new(e),
                    };
                    let (max_batch, max_wait) = stage
                        .batching()
                        .filter(|(n, _)| *n > 1)
                        .unwrap_or((1, Duration::ZERO));
                    let batch_hist =
                        (max_batch > 1).then(|| m.batch_size.with_label_values(&[&p, &s, &name]));
                    let mut batch: Vec<Frame> = Vec::with_capacity(max_batch);
                    let mut done: Vec<Frame> = Vec::with_capacity(max_batch);
                    let mut captured = Vec::with_capacity(max_batch);
                    let mut closed = false;
                    while !closed {
                        // One frame, then as many more as arrive before the batch's deadline.
                        let Some(first) = rx.recv() else {
                            break;
                        };
                        batch.push(first);
                        let deadline = Instant::now() + max_wait;
                        while batch.len() < max_batch {
                            match rx.recv_deadline(deadline) {
                                edge::Recv::Item(f) => batch.push(f),
                                edge::Recv::Timeout => break,
                                edge::Recv::Closed => {
                                    closed = true;
                                    break;
                                }
                            }
                        }
                        let n = batch.len();
                        captured.clear();
                        captured.extend(batch.iter().map(|f| f.captured));
                        let t0 = Instant::now();
                        let result = if max_batch == 1 {
                            let frame = batch.pop().expect("one frame");
                            stage.process(frame).map(|out| done.extend(out))
                        } else {
                            if let Some(h) = &batch_hist {
                                h.observe(n as f64);
                            }
                            stage.process_batch(&mut batch, &mut done)
                        };
                        if let Err(e) = result {
                            // Drop the receiver first so the source stops, then finish what was done.
                            drop(rx);
                            let _ = stage.finish();
                            return Err(fail(e));
                        }
                        // Each frame of a batch is charged its share of the call.
                        let d = t0.elapsed().as_secs_f32() / n as f32;
                        for c in &captured {
                            hist.observe(d as f64);
                            count.inc();
                            rep.durations.push(d);
                            rep.frames += 1;
                            if is_last {
                                let l = c.elapsed().as_secs_f32();
                                e2e.observe(l as f64);
                                lat.lock().expect("latency lock").push(l);
                            }
                        }
                        batch.clear();
                        let mut gone = false;
                        for frame in done.drain(..) {
                            if let Some(tx) = &tx
                                && tx.send(frame).is_err()
                            {
                                gone = true;
                                break;
                            }
                        }
                        if gone {
                            break;
                        }
                    }
                    drop(tx);
                    stage.finish().map_err(fail)?;
                    Ok(rep)
                })
                .expect("spawn stage thread");
            handles.push((names[i + 1].clone(), h));
        }

        let mut first_err = None;
        let mut report = RunReport {
            providers,
            ..Default::default()
        };
        for (name, h) in handles {
            match h.join() {
                Ok(Ok(rep)) => report.stages.push(rep),
                Ok(Err(e)) => {
                    tracing::error!(stage = %name, error = %e, "stage failed");
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(PipelineError::Panic(name));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        report.elapsed = started.elapsed();
        report.frames = report.stages.last().map_or(0, |s| s.frames);
        report.latencies = std::mem::take(&mut *latencies.lock().expect("latency lock"));
        Ok(report)
    }
}

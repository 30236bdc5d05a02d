//! `perceptd bench`: the whole pipeline as fast as its source goes, then — in the same process,
//! same input shape and threads — each model's bare `Session::run` throughput, and the ratio.
//!
//! The bare throughput is measured both before and after the pipeline (half the budget each)
//! and pooled, so a machine that gets busier or quieter during the run biases neither side.

pub mod cpu;
pub mod streams;

use crate::config::PipelineSpec;
use crate::graph::{PipelineError, Prepared, RunReport, quantile};
use crate::kinds::StageSpec;
use crate::model::{Detector, ModelError};
use crate::segment::Segmenter;
use crate::telemetry::Metrics;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Bare `Session::run` timings of one model.
#[derive(Debug, Clone)]
pub struct RawThroughput {
    pub model: String,
    /// Frames per run (the model's batch).
    pub batch: usize,
    /// Seconds per frame of each run, before the pipeline.
    pub before: Vec<f32>,
    /// Seconds per frame of each run, after the pipeline.
    pub after: Vec<f32>,
    /// Process CPU seconds over all these runs.
    pub cpu_secs: f64,
}

fn rate(times: &[f32]) -> f64 {
    times.len() as f64 / times.iter().map(|t| *t as f64).sum::<f64>().max(1e-9)
}

impl RawThroughput {
    pub fn all(&self) -> Vec<f32> {
        [self.before.as_slice(), self.after.as_slice()].concat()
    }
    /// Frames per second over every run.
    pub fn fps(&self) -> f64 {
        rate(&self.all())
    }
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub pipeline: RunReport,
    pub raw: Vec<RawThroughput>,
    /// CPU seconds per thread name during the pipeline run.
    pub cpu: cpu::CpuByThread,
    /// Process CPU seconds over the pipeline run.
    pub pipeline_cpu_secs: f64,
}

/// A model whose bare session is timed.
pub enum Timed {
    Detector(Box<Detector>),
    Segmenter(Segmenter),
}

impl Timed {
    pub fn name(&self) -> &str {
        match self {
            Timed::Detector(d) => &d.name,
            Timed::Segmenter(s) => &s.name,
        }
    }
    fn batch(&self) -> usize {
        match self {
            Timed::Detector(d) => d.max_batch,
            Timed::Segmenter(_) => 1,
        }
    }
    fn tensor_len(&self) -> usize {
        let g = match self {
            Timed::Detector(d) => d.input.probe_geometry(),
            Timed::Segmenter(s) => s.input.probe_geometry(),
        };
        3 * (g.dst_w * g.dst_h) as usize
    }
    fn run_raw(&mut self, tensor: &[f32], n: usize) -> Result<(), ModelError> {
        match self {
            Timed::Detector(d) => d.run_raw(tensor, n),
            Timed::Segmenter(s) => s.run_raw(tensor),
        }
    }
}

/// Times `Session::run` alone, at the model's batch size, for about `budget` (at least
/// `min_runs` runs); seconds per frame of each run.
pub fn time_runs(
    model: &mut Timed,
    budget: Duration,
    min_runs: usize,
) -> Result<Vec<f32>, ModelError> {
    let tensor = vec![0.5f32; model.tensor_len()];
    let n = model.batch();
    let mut times = vec![];
    let start = Instant::now();
    while times.len() < min_runs || start.elapsed() < budget {
        let t0 = Instant::now();
        model.run_raw(&tensor, n)?;
        times.push(t0.elapsed().as_secs_f32() / n as f32);
    }
    Ok(times)
}

pub fn bench(
    spec: &PipelineSpec,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<BenchReport, PipelineError> {
    let budget = Duration::from_secs(4);
    let mut dets = vec![];
    for st in spec.model_stages() {
        crate::model::session::init(&spec.ort_library).map_err(ModelError::from)?;
        crate::model::session::preload_libraries_once(&spec.cuda_libraries);
        let m = &spec.models[st.get().model().expect("a model stage")];
        dets.push(match st {
            StageSpec::Segment(_) => Timed::Segmenter(Segmenter::load(m, None)?),
            _ => Timed::Detector(Box::new(Detector::load(m, None)?)),
        });
    }
    let mut before = vec![];
    for d in &mut dets {
        let c0 = cpu::process_seconds();
        let times = time_runs(d, budget, 10)?;
        before.push((times, cpu::process_seconds() - c0));
    }
    let prepared = Prepared::new(spec, metrics, stop)?;
    let monitor = cpu::CpuMonitor::start(Duration::from_millis(100));
    let c0 = cpu::process_seconds();
    let pipeline = prepared.run();
    let pipeline_cpu_secs = cpu::process_seconds() - c0;
    let cpu = monitor.finish();
    let pipeline = pipeline?;
    let mut raw = vec![];
    for (d, (before, cpu_before)) in dets.iter_mut().zip(before) {
        let c0 = cpu::process_seconds();
        let after = time_runs(d, budget, 10)?;
        raw.push(RawThroughput {
            model: d.name().to_string(),
            batch: d.batch(),
            before,
            after,
            cpu_secs: cpu_before + cpu::process_seconds() - c0,
        });
    }
    Ok(BenchReport {
        pipeline,
        raw,
        cpu,
        pipeline_cpu_secs,
    })
}

impl BenchReport {
    pub fn render(&self) -> String {
        let p = &self.pipeline;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "pipeline: {} frames in {:.2} s = {:.2} frames/s",
            p.frames,
            p.elapsed.as_secs_f64(),
            p.fps()
        );
        let _ = writeln!(
            s,
            "{:<22} {:>8} {:>10} {:>10}",
            "stage", "frames", "p50 ms", "p99 ms"
        );
        let row = |s: &mut String, name: &str, v: &[f32]| {
            let _ = writeln!(
                s,
                "{:<22} {:>8} {:>10.2} {:>10.2}",
                name,
                v.len(),
                quantile(v, 0.5) * 1e3,
                quantile(v, 0.99) * 1e3
            );
        };
        for st in &p.stages {
            row(&mut s, &st.name, &st.durations);
        }
        row(&mut s, "latency (end to end)", &p.latencies);
        for r in &self.raw {
            let all = r.all();
            let _ = writeln!(
                s,
                "raw Session::run {}: {} calls of {} frames, {:.2} frames/s ({:.2} before, {:.2} after the pipeline; per frame p50 {:.2} ms, p99 {:.2} ms)",
                r.model,
                all.len(),
                r.batch,
                r.fps(),
                rate(&r.before),
                rate(&r.after),
                quantile(&all, 0.5) * 1e3,
                quantile(&all, 0.99) * 1e3
            );
            let _ = writeln!(s, "pipeline / raw {}: {:.3}", r.model, p.fps() / r.fps());
            let raw_cpu = 1e3 * r.cpu_secs / (all.len() * r.batch).max(1) as f64;
            let pipe_cpu = 1e3 * self.pipeline_cpu_secs / p.frames.max(1) as f64;
            let _ = writeln!(
                s,
                "CPU per frame: pipeline {pipe_cpu:.1} ms, bare {} session {raw_cpu:.1} ms (raw / pipeline = {:.3})",
                r.model,
                raw_cpu / pipe_cpu
            );
        }
        let total: f64 = self.cpu.iter().map(|c| c.1).sum();
        if total > 0.0 {
            let _ = writeln!(
                s,
                "CPU during the pipeline: {:.2} s = {:.2} cores busy; by thread:",
                total,
                total / p.elapsed.as_secs_f64().max(1e-9)
            );
            for (name, secs) in self.cpu.iter().take(12) {
                let _ = writeln!(
                    s,
                    "  {:<22} {:>7.2} s {:>5.1} %  {}",
                    name,
                    secs,
                    100.0 * secs / total,
                    thread_role(name)
                );
            }
        }
        s
    }
}

/// What a thread name stands for, where it is not ours.
fn thread_role(name: &str) -> &'static str {
    if name.starts_with("detect:") {
        "inference (the calling thread of Session::run)"
    } else if name == "perceptd" {
        "ONNX Runtime's worker threads (they take the process name)"
    } else if name.starts_with("src:src") {
        "encoder: appsrc -> videoconvert -> x264enc (and x264's threads)"
    } else if name.starts_with("qtdemux")
        || name.starts_with("multiqueue")
        || name.starts_with("queue")
    {
        "decoder: demux, H.264 decode, BGR conversion (and libav's threads)"
    } else if name.starts_with("mp4mux") || name.starts_with("filesink") {
        "MP4 muxer"
    } else if name.starts_with("preprocess:") {
        "resize / letterbox into the input tensor"
    } else if name == "video" {
        "drawing, then handing frames to the encoder"
    } else {
        ""
    }
}

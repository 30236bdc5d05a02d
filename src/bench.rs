//! `perceptd bench`: the whole pipeline as fast as its source goes, then — in the same process,
//! same input shape and threads — each model's bare `Session::run` throughput, and the ratio.

use crate::config::{PipelineSpec, StageSpec};
use crate::graph::{PipelineError, Prepared, RunReport, quantile};
use crate::model::{Detector, ModelError};
use crate::telemetry::Metrics;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RawThroughput {
    pub model: String,
    pub runs: usize,
    pub fps: f64,
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub pipeline: RunReport,
    pub raw: Vec<RawThroughput>,
}

/// Times `Session::run` alone for about `budget` (at least `min_runs` runs).
pub fn raw_throughput(
    det: &mut Detector,
    budget: Duration,
    min_runs: usize,
) -> Result<RawThroughput, ModelError> {
    let tensor = vec![0.5f32; det.input.tensor_len()];
    let mut times = vec![];
    let start = Instant::now();
    while times.len() < min_runs || start.elapsed() < budget {
        let t0 = Instant::now();
        det.run_raw(&tensor)?;
        times.push(t0.elapsed().as_secs_f32());
    }
    let total: f64 = times.iter().map(|t| *t as f64).sum();
    Ok(RawThroughput {
        model: det.name.clone(),
        runs: times.len(),
        fps: times.len() as f64 / total,
        p50: quantile(&times, 0.5),
        p99: quantile(&times, 0.99),
    })
}

pub fn bench(
    spec: &PipelineSpec,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Result<BenchReport, PipelineError> {
    let prepared = Prepared::new(spec, metrics, stop)?;
    let pipeline = prepared.run()?;
    let mut raw = vec![];
    for st in &spec.stages {
        let StageSpec::Detect { model } = st;
        let mut det = Detector::load(&spec.models[model], None)?;
        // Match the pipeline's run count where it is small, so both see the same warm state.
        raw.push(raw_throughput(&mut det, Duration::from_secs(5), 20)?);
    }
    Ok(BenchReport { pipeline, raw })
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
        for st in &p.stages {
            let _ = writeln!(
                s,
                "{:<22} {:>8} {:>10.2} {:>10.2}",
                st.name,
                st.frames,
                quantile(&st.durations, 0.5) * 1e3,
                quantile(&st.durations, 0.99) * 1e3
            );
        }
        let _ = writeln!(
            s,
            "{:<22} {:>8} {:>10.2} {:>10.2}",
            "latency (end to end)",
            p.latencies.len(),
            quantile(&p.latencies, 0.5) * 1e3,
            quantile(&p.latencies, 0.99) * 1e3
        );
        for r in &self.raw {
            let _ = writeln!(
                s,
                "raw Session::run {}: {} runs, {:.2} runs/s (p50 {:.2} ms, p99 {:.2} ms); pipeline / raw = {:.3}",
                r.model,
                r.runs,
                r.fps,
                r.p50 * 1e3,
                r.p99 * 1e3,
                p.fps() / r.fps
            );
        }
        s
    }
}

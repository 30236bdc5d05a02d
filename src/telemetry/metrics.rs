//! Every metric perceptd exports, registered once in its own registry.

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// 0.5 ms to about 2 s, doubling: resolves both a 1 ms resize and a 1 s CPU inference.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
];

pub struct Metrics {
    pub registry: Registry,
    /// Time a stage spent on one frame (pipeline, stream, stage).
    pub stage_duration: HistogramVec,
    /// Source capture to sinks done (pipeline, stream).
    pub frame_latency: HistogramVec,
    /// Frames a stage finished (pipeline, stream, stage).
    pub frames: IntCounterVec,
    /// Frames dropped on an edge (pipeline, stream, edge, reason).
    pub dropped: IntCounterVec,
    /// Frames waiting on an edge (pipeline, edge).
    pub queue_depth: IntGaugeVec,
    /// 1 for the provider a model runs on (model, provider).
    pub model_provider: IntGaugeVec,
    /// Providers that failed to register and were skipped (model, provider).
    pub provider_fallbacks: IntCounterVec,
    /// Frames per inference call (pipeline, stream, stage).
    pub batch_size: HistogramVec,
    /// Confirmed tracks matched in the latest frame (pipeline, stream).
    pub tracks_active: IntGaugeVec,
    /// Tracks confirmed, i.e. ids given (pipeline, stream).
    pub tracks_started: IntCounterVec,
    /// 1 while a source delivers frames (pipeline, source).
    pub source_up: IntGaugeVec,
    /// Times a supervised source came back after a loss (pipeline, source).
    pub source_reconnects: IntCounterVec,
    /// Seconds since the source's last frame (pipeline, source).
    pub source_last_frame_age: GaugeVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let hist = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid histogram");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        Metrics {
            stage_duration: hist(
                "perceptd_stage_duration_seconds",
                "Time one stage spent on one frame.",
                &["pipeline", "stream", "stage"],
            ),
            frame_latency: hist(
                "perceptd_frame_latency_seconds",
                "Time from a frame leaving its source to its sinks being done.",
                &["pipeline", "stream"],
            ),
            frames: counter(
                "perceptd_frames_total",
                "Frames each stage finished.",
                &["pipeline", "stream", "stage"],
            ),
            dropped: counter(
                "perceptd_frames_dropped_total",
                "Frames dropped on an edge, by reason.",
                &["pipeline", "stream", "edge", "reason"],
            ),
            queue_depth: gauge(
                "perceptd_queue_depth",
                "Frames waiting on an edge.",
                &["pipeline", "edge"],
            ),
            model_provider: gauge(
                "perceptd_model_provider",
                "1 for the execution provider a model runs on.",
                &["model", "provider"],
            ),
            provider_fallbacks: counter(
                "perceptd_model_provider_fallbacks_total",
                "Execution providers that failed to register, so the next one was tried.",
                &["model", "provider"],
            ),
            tracks_active: gauge(
                "perceptd_tracks_active",
                "Confirmed tracks matched in the latest frame.",
                &["pipeline", "stream"],
            ),
            tracks_started: counter(
                "perceptd_tracks_started_total",
                "Tracks confirmed (track ids given).",
                &["pipeline", "stream"],
            ),
            source_up: gauge(
                "perceptd_source_up",
                "1 while the source delivers frames, 0 while it is down or reconnecting.",
                &["pipeline", "source"],
            ),
            source_reconnects: counter(
                "perceptd_source_reconnects_total",
                "Times a supervised source delivered frames again after a loss.",
                &["pipeline", "source"],
            ),
            source_last_frame_age: {
                let g = GaugeVec::new(
                    Opts::new(
                        "perceptd_source_last_frame_age_seconds",
                        "Seconds since the source's last frame.",
                    ),
                    &["pipeline", "source"],
                )
                .expect("valid gauge");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            batch_size: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "perceptd_inference_batch_size",
                        "Frames per inference call (batch_size caps it; max_batch_wait_ms bounds the wait to fill it).",
                    )
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
                    &["pipeline", "stream", "stage"],
                )
                .expect("valid histogram");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            registry,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

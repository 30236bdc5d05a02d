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
    /// Driver-assistance warnings started (pipeline, stream, kind).
    pub adas_warnings: IntCounterVec,
    /// Time to collision with the lead vehicle, seconds, per frame that has one (pipeline, stream).
    pub adas_ttc: HistogramVec,
    /// Confidence (0 to 1) of the latest frame's ego-lane fit (pipeline, stream).
    pub adas_lane_confidence: GaugeVec,
    /// Tracked objects inside a zone now (pipeline, stream, zone, class).
    pub zone_objects: GaugeVec,
    /// Objects that crossed a counting line (pipeline, stream, line, direction, class).
    pub line_crossings: IntCounterVec,
    /// 1 while the MQTT sink is connected to its broker (pipeline).
    pub mqtt_connected: IntGaugeVec,
    /// MQTT events the broker acknowledged (pipeline).
    pub mqtt_delivered: IntCounterVec,
    /// MQTT messages dropped (pipeline, reason).
    pub mqtt_dropped: IntCounterVec,
    /// From a frame leaving the source to the broker acknowledging its event (pipeline).
    pub mqtt_latency: HistogramVec,
    /// What the web console shows (filled by a `console` sink).
    pub console: std::sync::Arc<crate::console::Console>,
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
            adas_warnings: counter(
                "perceptd_adas_warnings_total",
                "Driver-assistance warnings started, by kind.",
                &["pipeline", "stream", "kind"],
            ),
            adas_ttc: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "perceptd_adas_ttc_seconds",
                        "Time to collision with the lead vehicle, on frames where it is closing.",
                    )
                    .buckets(vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 20.0]),
                    &["pipeline", "stream"],
                )
                .expect("valid histogram");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            adas_lane_confidence: {
                let g = GaugeVec::new(
                    Opts::new(
                        "perceptd_adas_lane_confidence",
                        "Confidence (0 to 1) of the latest frame's ego-lane fit; 0 when no lane is seen.",
                    ),
                    &["pipeline", "stream"],
                )
                .expect("valid gauge");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            zone_objects: {
                let g = GaugeVec::new(
                    Opts::new(
                        "perceptd_zone_objects",
                        "Tracked objects inside a zone on the latest frame, by class.",
                    ),
                    &["pipeline", "stream", "zone", "class"],
                )
                .expect("valid gauge");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            line_crossings: counter(
                "perceptd_line_crossings_total",
                "Tracked objects that crossed a counting line, by direction (a_to_b: from the line's left, walking from its first point, to its right) and class.",
                &["pipeline", "stream", "line", "direction", "class"],
            ),
            mqtt_connected: gauge(
                "perceptd_mqtt_connected",
                "1 while the MQTT sink is connected to its broker.",
                &["pipeline"],
            ),
            mqtt_delivered: counter(
                "perceptd_mqtt_delivered_total",
                "MQTT events (QoS 1) the broker acknowledged.",
                &["pipeline"],
            ),
            mqtt_dropped: counter(
                "perceptd_mqtt_dropped_total",
                "MQTT messages dropped: queue_full (the queue was full), undelivered (left when the pipeline stopped).",
                &["pipeline", "reason"],
            ),
            mqtt_latency: hist(
                "perceptd_mqtt_publish_latency_seconds",
                "From a frame leaving the source to the broker acknowledging its event.",
                &["pipeline"],
            ),
            console: Default::default(),
            registry,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        render_families(&self.registry.gather())
    }
}

fn render_families(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut out = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(families, &mut out)
        .expect("text encoding of gathered metrics");
    out
}

/// One exposition of several registries: the daemon's own and one per pipeline. Families of
/// the same name are merged (one HELP and TYPE each); a pipeline's series without a `pipeline`
/// label (the model ones) get one, so that two pipelines' models never collide. A pipeline's
/// series leave the page with its registry.
pub fn render_merged(own: &Registry, pipelines: &[(&str, &Registry)]) -> String {
    let mut by_name: std::collections::BTreeMap<String, prometheus::proto::MetricFamily> = own
        .gather()
        .into_iter()
        .map(|f| (f.name().to_string(), f))
        .collect();
    for (pipeline, registry) in pipelines {
        for mut family in registry.gather() {
            let mut series = family.take_metric();
            for m in &mut series {
                if !m.get_label().iter().any(|l| l.name() == "pipeline") {
                    let mut labels = m.take_label();
                    let mut l = prometheus::proto::LabelPair::default();
                    l.set_name("pipeline".into());
                    l.set_value(pipeline.to_string());
                    labels.push(l);
                    labels.sort_by(|a, b| a.name().cmp(b.name()));
                    m.set_label(labels);
                }
            }
            let entry = by_name.entry(family.name().to_string()).or_insert(family);
            entry.mut_metric().extend(series);
        }
    }
    let families: Vec<_> = by_name.into_values().collect();
    render_families(&families)
}

/// The daemon's own series, beside the pipelines' (`perceptd serve`).
pub struct DaemonMetrics {
    pub registry: Registry,
    /// 1 while a pipeline runs (pipeline).
    pub pipeline_up: IntGaugeVec,
    /// Restarts of a pipeline after it failed (pipeline).
    pub pipeline_restarts: IntCounterVec,
    /// Reloads of the config folder (result = ok | rejected).
    pub reloads: IntCounterVec,
    /// Unix time the process started: a change means a restart (for example by the watchdog).
    pub start_time: prometheus::Gauge,
    /// 1 while the daemon sends WATCHDOG=1, 0 while a stage is stuck.
    pub watchdog_ok: prometheus::IntGauge,
}

impl DaemonMetrics {
    pub fn new() -> DaemonMetrics {
        let registry = Registry::new();
        let reg = |c: Box<dyn prometheus::core::Collector>| {
            registry.register(c).expect("unique metric");
        };
        let pipeline_up = IntGaugeVec::new(
            Opts::new("perceptd_pipeline_up", "1 while the pipeline runs (or has played its input to the end), 0 while it starts or has failed."),
            &["pipeline"],
        )
        .expect("valid gauge");
        reg(Box::new(pipeline_up.clone()));
        let pipeline_restarts = IntCounterVec::new(
            Opts::new(
                "perceptd_pipeline_restarts_total",
                "Restarts of a pipeline after it failed.",
            ),
            &["pipeline"],
        )
        .expect("valid counter");
        reg(Box::new(pipeline_restarts.clone()));
        let reloads = IntCounterVec::new(
            Opts::new(
                "perceptd_reloads_total",
                "Reloads of the config folder (SIGHUP), by result: ok or rejected.",
            ),
            &["result"],
        )
        .expect("valid counter");
        reg(Box::new(reloads.clone()));
        let start_time = prometheus::Gauge::new(
            "perceptd_start_time_seconds",
            "Unix time the process started.",
        )
        .expect("valid gauge");
        reg(Box::new(start_time.clone()));
        start_time.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        let watchdog_ok = prometheus::IntGauge::new(
            "perceptd_watchdog_ok",
            "1 while every stage makes progress (the daemon sends WATCHDOG=1), 0 while one is stuck.",
        )
        .expect("valid gauge");
        reg(Box::new(watchdog_ok.clone()));
        watchdog_ok.set(1);
        for r in ["ok", "rejected"] {
            reloads.with_label_values(&[r]);
        }
        DaemonMetrics {
            registry,
            pipeline_up,
            pipeline_restarts,
            reloads,
            start_time,
            watchdog_ok,
        }
    }
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        DaemonMetrics::new()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

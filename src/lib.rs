//! perceptd: GStreamer sources -> preprocessing -> ONNX Runtime inference -> sinks, one thread per
//! stage joined by bounded channels, measured with Prometheus metrics.
//!
//! - [`config`]: pipeline files, compiled into a checked [`config::PipelineSpec`].
//! - [`graph`]: the running pipeline: stages, edges, start / drain / stop.
//! - [`source`]: GStreamer sources ending in an appsink.
//! - [`model`]: ONNX Runtime sessions, preprocessing, output layouts.
//! - [`sink`]: JSON Lines and annotated video.
//! - [`telemetry`]: Prometheus metrics and their HTTP server.
//! - [`daemon`]: `perceptd serve`: a config folder of pipelines as a systemd service (notify,
//!   watchdog, reload, drain, health).
//! - [`eval`]: offline evaluation against ground truth (`perceptd eval det|seg|mot`).
//! - [`replay`]: `perceptd replay` of recorded drives, `perceptd diff` of two replays, report.html.
//! - [`sample`]: `perceptd sample-drive`: a generated drive (MP4) with exact ground truth for
//!   detection, segmentation and tracking.

pub mod bench;
pub mod config;
pub mod console;
pub mod daemon;
pub mod eval;
pub mod frame;
pub mod graph;
pub mod kinds;
pub mod model;
pub mod pool;
pub mod replay;
pub mod sample;
pub mod segment;
pub mod sink;
pub mod source;
pub mod stage;
pub mod telemetry;
pub mod track;

//! Prometheus metrics and the HTTP server that exposes them.

pub mod console;
pub mod logs;
mod metrics;
mod per_stream;
mod reply;
mod server;

pub use metrics::{DaemonMetrics, LATENCY_BUCKETS, Metrics, render_merged};
pub use per_stream::PerStream;
pub use server::{HttpServer, MetricsServer, Reply, ServeError};

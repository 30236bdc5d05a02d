//! Prometheus metrics and the HTTP server that exposes them.

pub mod logs;
mod metrics;
mod server;

pub use metrics::{DaemonMetrics, LATENCY_BUCKETS, Metrics, render_merged};
pub use server::{HttpServer, MetricsServer, Reply, ServeError};

//! Prometheus metrics and the HTTP server that exposes them.

mod metrics;
mod server;

pub use metrics::{LATENCY_BUCKETS, Metrics};
pub use server::{MetricsServer, ServeError};

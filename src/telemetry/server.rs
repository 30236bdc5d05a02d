//! `GET /metrics` over HTTP, on its own thread.

use super::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen for /metrics on {addr}: {source}; choose another address with --metrics-addr or runtime.metrics_addr"
)]
pub struct ServeError {
    pub addr: SocketAddr,
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl MetricsServer {
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, ServeError> {
        let server =
            Arc::new(tiny_http::Server::http(addr).map_err(|source| ServeError { addr, source })?);
        let bound = server.server_addr().to_ip().unwrap_or(addr);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    let resp = match (req.method(), req.url()) {
                        (tiny_http::Method::Get, "/metrics") => {
                            let header = tiny_http::Header::from_bytes(
                                &b"Content-Type"[..],
                                &b"text/plain; version=0.0.4; charset=utf-8"[..],
                            )
                            .expect("static header");
                            tiny_http::Response::from_string(metrics.render()).with_header(header)
                        }
                        _ => tiny_http::Response::from_string("not found; try GET /metrics\n")
                            .with_status_code(404),
                    };
                    let _ = req.respond(resp);
                }
            })
            .expect("spawn metrics thread");
        tracing::info!(addr = %bound, "serving metrics on http://{bound}/metrics");
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

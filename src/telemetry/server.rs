//! A small HTTP server on its own thread: `GET /metrics` and the web console
//! ([`super::console`]) for `perceptd run`, `/metrics`, `/healthz` and `/readyz` for `perceptd
//! serve`. The caller supplies the routes.

use super::Metrics;
pub use super::reply::Reply;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen for HTTP (/metrics) on {addr}: {source}; choose another address (--metrics-addr, runtime.metrics_addr, or http.address in perceptd.yaml)"
)]
pub struct ServeError {
    pub addr: SocketAddr,
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Answers `GET path?query` (the query without its `?`, empty when none); `None` is a 404.
pub type Routes = dyn Fn(&str, &str) -> Option<Reply> + Send + Sync;

pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl HttpServer {
    /// Listens on `addr`; `known` names the paths for the 404 message.
    pub fn start(
        addr: SocketAddr,
        known: &'static str,
        routes: Box<Routes>,
    ) -> Result<HttpServer, ServeError> {
        let server =
            Arc::new(tiny_http::Server::http(addr).map_err(|source| ServeError { addr, source })?);
        let bound = server.server_addr().to_ip().unwrap_or(addr);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    let url = req.url().to_string();
                    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                    let reply = match req.method() {
                        tiny_http::Method::Get | tiny_http::Method::Head => routes(path, query),
                        _ => None,
                    }
                    .unwrap_or_else(|| Reply::text(404, format!("not found; try GET {known}\n")));
                    let header =
                        tiny_http::Header::from_bytes(&b"Content-Type"[..], reply.content_type)
                            .expect("static header");
                    let resp = tiny_http::Response::from_data(reply.body)
                        .with_status_code(reply.status)
                        .with_header(header);
                    let _ = req.respond(resp);
                }
            })
            .expect("spawn http thread");
        Ok(HttpServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `GET /metrics` of one registry (`perceptd run`, `perceptd bench`).
pub struct MetricsServer {
    _http: HttpServer,
    pub addr: SocketAddr,
}

impl MetricsServer {
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, ServeError> {
        let http = HttpServer::start(
            addr,
            "/metrics, / (the console), /api/streams or /api/events",
            Box::new(move |path, query| match path {
                "/metrics" => Some(Reply::metrics(metrics.render())),
                _ => super::console::route(&metrics, path, query),
            }),
        )?;
        let bound = http.addr;
        tracing::info!(addr = %bound, "serving metrics on http://{bound}/metrics and the console on http://{bound}/");
        Ok(MetricsServer {
            _http: http,
            addr: bound,
        })
    }
}

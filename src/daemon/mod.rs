//! `perceptd serve`: every pipeline of a config folder in one process, as a systemd service.
//!
//! The main thread owns the set of running pipelines and reacts to signals and a 250 ms tick:
//! READY=1 once every pipeline has settled, WATCHDOG=1 while no stage is stuck, STATUS= with
//! frames/s, SIGHUP reloads the folder (only what changed restarts), SIGTERM / SIGINT drain.

pub mod config;
pub mod notify;
pub mod pipeline;

use crate::telemetry::{DaemonMetrics, HttpServer, Reply, ServeError};
use config::{DaemonConfig, Folder, PipelineFile};
use notify::Notifier;
use pipeline::{Running, State};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(250);
const STATUS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("the config folder {dir} is invalid; nothing was started:\n{}", .errors.join("\n"))]
    Config { dir: PathBuf, errors: Vec<String> },
    #[error(transparent)]
    Http(#[from] ServeError),
    #[error("cannot set up signals or the notify socket: {0}")]
    Os(#[from] std::io::Error),
    #[error(
        "pipelines did not drain within shutdown.drain_timeout_s ({seconds} s): {}; their outputs may be incomplete: raise shutdown.drain_timeout_s (and TimeoutStopSec) or look for a stuck stage in the log",
        .pipelines.join(", ")
    )]
    DrainTimeout {
        seconds: f64,
        pipelines: Vec<String>,
    },
}

/// Changes the log filter at run time (from `log.level`); the edge owns the subscriber.
pub trait LogLevel {
    fn set(&self, filter: &str);
}

/// What the HTTP thread reads.
struct Board {
    metrics: Arc<DaemonMetrics>,
    pipelines: Mutex<Vec<Arc<Running>>>,
}

impl Board {
    fn readyz(&self) -> Reply {
        let ps = self.pipelines.lock().expect("pipelines lock");
        let mut not = vec![];
        let mut body = String::new();
        for p in ps.iter() {
            let s = p.state();
            if !s.is_ready() {
                not.push(p.name.clone());
            }
            body.push_str(&format!("{}: {}\n", p.name, s.describe()));
        }
        if not.is_empty() {
            Reply::text(200, format!("ready\n{body}"))
        } else {
            Reply::text(503, format!("not ready: {}\n{body}", not.join(", ")))
        }
    }

    /// Alive: 200, unless a stage is stuck (the watchdog is withheld), so that a Kubernetes
    /// liveness probe restarts perceptd as systemd's watchdog would.
    fn healthz(&self) -> Reply {
        if self.metrics.watchdog_ok.get() == 1 {
            Reply::text(200, "ok\n")
        } else {
            Reply::text(
                503,
                "stuck: a stage has been busy on one frame longer than watchdog.stall_s (see the log)\n",
            )
        }
    }

    fn metrics(&self) -> Reply {
        let ps = self.pipelines.lock().expect("pipelines lock").clone();
        let regs: Vec<(&str, &prometheus::Registry)> = ps
            .iter()
            .map(|p| (p.name.as_str(), &p.metrics.registry))
            .collect();
        Reply::metrics(crate::telemetry::render_merged(
            &self.metrics.registry,
            &regs,
        ))
    }
}

enum Signal {
    Stop,
    Reload,
}

struct Daemon {
    dir: PathBuf,
    cfg: DaemonConfig,
    board: Arc<Board>,
    notifier: Notifier,
    log: Box<dyn LogLevel>,
    started: Instant,
    ready_sent: bool,
    watchdog_ok: bool,
    last_ping: Instant,
    last_status: Instant,
    /// Frames out per pipeline at the last STATUS, for frames/s.
    last_frames: Vec<(String, u64)>,
}

/// Runs the folder's pipelines until SIGTERM / SIGINT; returns once every output is finalised.
pub fn serve(dir: &Path, log: Box<dyn LogLevel>) -> Result<(), DaemonError> {
    let started = Instant::now();
    let Folder {
        daemon: cfg,
        pipelines,
    } = config::scan(dir).map_err(|errors| DaemonError::Config {
        dir: dir.to_path_buf(),
        errors,
    })?;
    log.set(&cfg.log_level);
    let notifier = Notifier::from_env()?;
    let metrics = Arc::new(DaemonMetrics::new());
    let board = Arc::new(Board {
        metrics: metrics.clone(),
        pipelines: Mutex::new(vec![]),
    });
    let _http = match cfg.http {
        Some(addr) => {
            let b = board.clone();
            let http = HttpServer::start(
                addr,
                "/metrics, /healthz or /readyz",
                Box::new(move |path, _query| match path {
                    "/metrics" => Some(b.metrics()),
                    "/healthz" => Some(b.healthz()),
                    "/readyz" => Some(b.readyz()),
                    _ => None,
                }),
            )?;
            tracing::info!(addr = %http.addr, "serving http://{}/metrics, /healthz and /readyz", http.addr);
            Some(http)
        }
        None => None,
    };

    // Signals: the first SIGTERM / SIGINT drains; a second, once draining, exits at once.
    let draining = Arc::new(AtomicBool::new(false));
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, draining.clone())?;
    }
    let (sig_tx, sig_rx) = crossbeam_channel::unbounded();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let sig_handle = signals.handle();
    let sig_thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                let ev = if s == SIGHUP {
                    Signal::Reload
                } else {
                    Signal::Stop
                };
                if sig_tx.send(ev).is_err() {
                    break;
                }
            }
        })?;

    if pipelines.is_empty() {
        tracing::warn!(dir = %dir.display(), "no pipeline files (*.yaml besides perceptd.yaml) in the config folder; add one and reload (SIGHUP)");
    }
    let mut d = Daemon {
        dir: dir.to_path_buf(),
        cfg,
        board,
        notifier,
        log,
        started,
        ready_sent: false,
        watchdog_ok: true,
        last_ping: Instant::now() - Duration::from_secs(3600),
        last_status: Instant::now(),
        last_frames: vec![],
    };
    for f in pipelines {
        d.start(f);
    }
    let result = loop {
        match sig_rx.recv_timeout(TICK) {
            Ok(Signal::Stop) => {
                draining.store(true, Ordering::Relaxed);
                break d.drain();
            }
            Ok(Signal::Reload) => d.reload(),
            Err(_) => d.tick(),
        }
    };
    sig_handle.close();
    let _ = sig_thread.join();
    result
}

impl Daemon {
    fn start(&mut self, f: PipelineFile) {
        let r = Running::start(f, self.board.metrics.clone());
        let mut ps = self.board.pipelines.lock().expect("pipelines lock");
        ps.push(r);
        ps.sort_by(|a, b| a.path.cmp(&b.path));
    }

    fn pipelines(&self) -> Vec<Arc<Running>> {
        self.board.pipelines.lock().expect("pipelines lock").clone()
    }

    /// READY once settled, the watchdog, STATUS.
    fn tick(&mut self) {
        let ps = self.pipelines();
        if !self.ready_sent && ps.iter().all(|p| p.settled()) {
            self.ready_sent = true;
            let failed: Vec<&str> = ps
                .iter()
                .filter(|p| !p.state().is_ready())
                .map(|p| p.name.as_str())
                .collect();
            tracing::info!(
                seconds = format!("{:.2}", self.started.elapsed().as_secs_f64()),
                pipelines = ps.len(),
                "ready: every model loaded and warmed, every source started"
            );
            if !failed.is_empty() {
                tracing::error!(failed = %failed.join(", "), "ready, but these pipelines failed to start (they retry with backoff; see /readyz)");
            }
            let s = self.status(&ps);
            self.notifier.send(&format!("READY=1\nSTATUS={s}"));
            self.last_status = Instant::now();
        }
        self.watchdog(&ps);
        if self.ready_sent && self.last_status.elapsed() >= STATUS_EVERY {
            let s = self.status(&ps);
            self.notifier.send(&format!("STATUS={s}"));
            self.last_status = Instant::now();
        }
    }

    /// WATCHDOG=1 unless a stage is stuck on one frame past `watchdog.stall_s`.
    fn watchdog(&mut self, ps: &[Arc<Running>]) {
        let stuck: Vec<String> = ps
            .iter()
            .filter_map(|p| {
                let (stage, d) = p.progress()?.stuck(self.cfg.stall)?;
                Some(format!(
                    "{}/{stage} busy {:.1} s on one frame",
                    p.name,
                    d.as_secs_f64()
                ))
            })
            .collect();
        let ok = stuck.is_empty();
        if ok != self.watchdog_ok {
            if ok {
                tracing::info!("every stage makes progress again; watchdog pings resume");
            } else {
                tracing::error!(stuck = %stuck.join("; "), stall_s = self.cfg.stall.as_secs_f64(), "a stage is stuck: watchdog pings withheld, so systemd restarts perceptd after WatchdogSec");
            }
            self.watchdog_ok = ok;
        }
        self.board.metrics.watchdog_ok.set(ok as i64);
        if let Some(period) = self.notifier.watchdog
            && ok
            && self.last_ping.elapsed() >= (period / 4).min(Duration::from_secs(1))
        {
            self.notifier.send("WATCHDOG=1");
            self.last_ping = Instant::now();
        }
    }

    /// `2 pipelines: cams 29.9 frames/s, drive finished`, frames/s since the last STATUS.
    fn status(&mut self, ps: &[Arc<Running>]) -> String {
        let secs = self.last_status.elapsed().as_secs_f64().max(1e-3);
        let mut parts = vec![];
        let mut frames = vec![];
        for p in ps {
            let part = match (p.state(), p.progress()) {
                (State::Running, Some(prog)) => {
                    let n = prog.frames_out();
                    let before = self
                        .last_frames
                        .iter()
                        .find(|(name, _)| *name == p.name)
                        .map_or(n, |(_, b)| *b);
                    frames.push((p.name.clone(), n));
                    format!(
                        "{} {:.1} frames/s",
                        p.name,
                        n.saturating_sub(before) as f64 / secs
                    )
                }
                (State::Failed(_), _) => format!("{} failed (see /readyz)", p.name),
                (s, _) => format!("{} {}", p.name, s.describe()),
            };
            parts.push(part);
        }
        self.last_frames = frames;
        notify::status_line(&format!(
            "{} pipeline{}: {}",
            ps.len(),
            if ps.len() == 1 { "" } else { "s" },
            parts.join(", ")
        ))
    }

    /// Waits until every pipeline in `ps` is done or the deadline passes, keeping the
    /// watchdog fed; returns the names of those still running.
    fn wait_done(&mut self, ps: &[Arc<Running>], deadline: Instant) -> Vec<String> {
        loop {
            let left: Vec<String> = ps
                .iter()
                .filter(|p| !p.is_done())
                .map(|p| p.name.clone())
                .collect();
            if left.is_empty() || Instant::now() >= deadline {
                for p in ps.iter().filter(|p| p.is_done()) {
                    p.join();
                }
                return left;
            }
            let all = self.pipelines();
            self.watchdog(&all);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM / SIGINT: every source ends, queued frames go through, outputs are finalised.
    fn drain(&mut self) -> Result<(), DaemonError> {
        let t0 = Instant::now();
        self.notifier
            .send("STOPPING=1\nSTATUS=draining: finishing queued frames and outputs");
        let ps = self.pipelines();
        tracing::info!(
            pipelines = ps.len(),
            deadline_s = self.cfg.drain_timeout.as_secs_f64(),
            "stopping: draining every pipeline (a second signal stops at once)"
        );
        for p in &ps {
            p.stop();
        }
        let left = self.wait_done(&ps, t0 + self.cfg.drain_timeout);
        if !left.is_empty() {
            return Err(DaemonError::DrainTimeout {
                seconds: self.cfg.drain_timeout.as_secs_f64(),
                pipelines: left,
            });
        }
        tracing::info!(
            seconds = format!("{:.3}", t0.elapsed().as_secs_f64()),
            "stopped: every output finalised"
        );
        Ok(())
    }

    /// SIGHUP: read the folder again. Invalid: nothing changes. Valid: unchanged pipelines keep
    /// running untouched, changed ones drain and restart, new ones start, removed ones drain.
    fn reload(&mut self) {
        self.notifier.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading {}",
            notify::monotonic_usec(),
            self.dir.display()
        ));
        let t0 = Instant::now();
        let reloads = self.board.metrics.reloads.clone();
        let folder = match config::scan(&self.dir) {
            Err(errors) => {
                for e in &errors {
                    tracing::error!(error = %e, "reload rejected");
                }
                tracing::error!(errors = errors.len(), dir = %self.dir.display(), "reload rejected: the running pipelines go on unchanged; fix the files and send SIGHUP again");
                reloads.with_label_values(&["rejected"]).inc();
                let ps = self.pipelines();
                let s = self.status(&ps);
                self.notifier.send(&format!(
                    "READY=1\nSTATUS=reload rejected ({} error(s), see the log); {s}",
                    errors.len()
                ));
                self.last_status = Instant::now();
                return;
            }
            Ok(f) => f,
        };
        if folder.daemon.http != self.cfg.http {
            tracing::warn!(
                "http.address changed: it takes effect at the next restart, not on reload"
            );
        }
        if folder.daemon.log_level != self.cfg.log_level {
            self.log.set(&folder.daemon.log_level);
        }
        self.cfg = DaemonConfig {
            http: self.cfg.http,
            ..folder.daemon
        };
        let old = self.pipelines();
        let mut new = folder.pipelines;
        let (mut kept, mut gone) = (vec![], vec![]);
        for r in &old {
            match new.iter().position(|f| f.path == r.path) {
                Some(i) if new[i].fingerprint == r.fingerprint => {
                    new.remove(i);
                    kept.push(r.name.clone());
                }
                _ => gone.push(r.clone()),
            }
        }
        // Stop first, then start: a changed pipeline may reuse its outputs, port or camera.
        for r in &gone {
            r.stop();
        }
        let left = self.wait_done(&gone, Instant::now() + self.cfg.drain_timeout);
        if !left.is_empty() {
            tracing::error!(pipelines = %left.join(", "), "did not drain within shutdown.drain_timeout_s during reload; left behind");
        }
        {
            let mut ps = self.board.pipelines.lock().expect("pipelines lock");
            ps.retain(|p| !gone.iter().any(|g| Arc::ptr_eq(g, p)));
        }
        let restarted: Vec<String> = gone
            .iter()
            .filter(|g| new.iter().any(|f| f.path == g.path))
            .map(|g| g.name.clone())
            .collect();
        let removed: Vec<String> = gone
            .iter()
            .filter(|g| !new.iter().any(|f| f.path == g.path))
            .map(|g| g.name.clone())
            .collect();
        let added: Vec<String> = new
            .iter()
            .filter(|f| !old.iter().any(|r| r.path == f.path))
            .map(|f| f.spec.name.clone())
            .collect();
        for f in new {
            self.start(f);
        }
        // A removed pipeline's daemon series leave with it (its own registry went already).
        let now = self.pipelines();
        let m = &self.board.metrics;
        for g in gone
            .iter()
            .filter(|g| !now.iter().any(|p| p.name == g.name))
        {
            let _ = m.pipeline_up.remove_label_values(&[&g.name]);
            let _ = m.pipeline_restarts.remove_label_values(&[&g.name]);
        }
        reloads.with_label_values(&["ok"]).inc();
        tracing::info!(
            unchanged = %kept.join(","),
            restarted = %restarted.join(","),
            added = %added.join(","),
            removed = %removed.join(","),
            seconds = format!("{:.3}", t0.elapsed().as_secs_f64()),
            "reloaded"
        );
        let ps = self.pipelines();
        let s = self.status(&ps);
        self.notifier.send(&format!("READY=1\nSTATUS={s}"));
        self.last_status = Instant::now();
    }
}

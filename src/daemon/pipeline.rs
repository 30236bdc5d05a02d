//! One pipeline under the daemon: its own thread prepares and runs it, restarts it with backoff
//! when it fails, and drains it when asked to stop. Its metrics live in its own registry, so
//! they leave `/metrics` with it.

use super::config::PipelineFile;
use crate::graph::progress::Progress;
use crate::graph::{Prepared, quantile};
use crate::telemetry::{DaemonMetrics, Metrics};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Loading models, opening sources.
    Starting,
    Running,
    /// Its sources ended (a recorded drive played to its end).
    Finished,
    /// Failed; restarting after a backoff.
    Failed(String),
    /// Stopped on request.
    Stopped,
}

impl State {
    /// Started, or done with its input: what `/readyz` and READY=1 wait for.
    pub fn is_ready(&self) -> bool {
        matches!(self, State::Running | State::Finished)
    }

    pub fn describe(&self) -> String {
        match self {
            State::Starting => "starting".into(),
            State::Running => "running".into(),
            State::Finished => "finished (its sources ended)".into(),
            State::Failed(e) => format!("failed, restarting: {e}"),
            State::Stopped => "stopped".into(),
        }
    }
}

struct Shared {
    state: State,
    /// Present while it runs.
    progress: Option<Arc<Progress>>,
    /// Set once it has left `Starting` the first time (ready, or failed).
    settled: bool,
}

pub struct Running {
    pub path: PathBuf,
    pub name: String,
    pub fingerprint: u64,
    pub metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Running {
    pub fn start(file: PipelineFile, daemon: Arc<DaemonMetrics>) -> Arc<Running> {
        let metrics = Arc::new(Metrics::new());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared {
            state: State::Starting,
            progress: None,
            settled: false,
        }));
        let name = file.spec.name.clone();
        let thread = {
            let (metrics, stop, shared) = (metrics.clone(), stop.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("pipeline {name}"))
                .spawn(move || supervise(file.spec, metrics, daemon, stop, shared))
                .expect("spawn pipeline thread")
        };
        tracing::info!(pipeline = %name, file = %file.path.display(), "pipeline starting");
        Arc::new(Running {
            path: file.path,
            name,
            fingerprint: file.fingerprint,
            metrics,
            stop,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Asks it to drain and stop; `join` waits for that.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn is_done(&self) -> bool {
        self.thread
            .lock()
            .expect("thread lock")
            .as_ref()
            .is_none_or(|t| t.is_finished())
    }

    pub fn join(&self) {
        if let Some(t) = self.thread.lock().expect("thread lock").take() {
            let _ = t.join();
        }
    }

    pub fn state(&self) -> State {
        self.shared.lock().expect("state lock").state.clone()
    }

    /// Has left `Starting` at least once (ready, finished or failed).
    pub fn settled(&self) -> bool {
        self.shared.lock().expect("state lock").settled
    }

    pub fn progress(&self) -> Option<Arc<Progress>> {
        self.shared.lock().expect("state lock").progress.clone()
    }
}

fn set(shared: &Mutex<Shared>, state: State, progress: Option<Arc<Progress>>) {
    let mut s = shared.lock().expect("state lock");
    if state != State::Starting {
        s.settled = true;
    }
    s.state = state;
    s.progress = progress;
}

/// The pipeline thread: prepare, run, and on failure wait and start again, until stopped or
/// its sources end.
fn supervise(
    spec: crate::config::PipelineSpec,
    metrics: Arc<Metrics>,
    daemon: Arc<DaemonMetrics>,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
) {
    let up = daemon.pipeline_up.with_label_values(&[&spec.name]);
    let restarts = daemon.pipeline_restarts.with_label_values(&[&spec.name]);
    let mut backoff = BACKOFF_FIRST;
    loop {
        up.set(0);
        set(&shared, State::Starting, None);
        let started = Instant::now();
        let outcome = match Prepared::new(&spec, metrics.clone(), stop.clone()) {
            Err(e) => Err(e.to_string()),
            Ok(p) => {
                set(&shared, State::Running, Some(p.progress()));
                up.set(1);
                tracing::info!(pipeline = %spec.name, seconds = started.elapsed().as_secs_f64(), "pipeline running");
                match p.run() {
                    Err(e) => Err(e.to_string()),
                    Ok(r) if !r.stream_errors.is_empty() && !stop.load(Ordering::Relaxed) => {
                        Err(r.stream_errors.join("; "))
                    }
                    Ok(r) => {
                        tracing::info!(
                            pipeline = %spec.name,
                            frames = r.frames,
                            fps = format!("{:.2}", r.fps()),
                            latency_p99_ms = format!("{:.1}", quantile(&r.latencies, 0.99) * 1e3),
                            "pipeline ended; outputs finalised"
                        );
                        Ok(())
                    }
                }
            }
        };
        if stop.load(Ordering::Relaxed) {
            up.set(0);
            set(&shared, State::Stopped, None);
            return;
        }
        match outcome {
            Ok(()) => {
                // A healthy end (a replayed drive played out) is not a pipeline down, and its
                // sources, which ended, are not down either.
                metrics.source_up.reset();
                up.set(1);
                set(&shared, State::Finished, None);
                return;
            }
            Err(e) => {
                up.set(0);
                if started.elapsed() > BACKOFF_MAX {
                    backoff = BACKOFF_FIRST;
                }
                tracing::error!(pipeline = %spec.name, error = %e, retry_in_s = backoff.as_secs_f64(), "pipeline failed; restarting");
                set(&shared, State::Failed(e), None);
                let until = Instant::now() + backoff;
                while Instant::now() < until {
                    if stop.load(Ordering::Relaxed) {
                        set(&shared, State::Stopped, None);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                restarts.inc();
            }
        }
    }
}

//! Sources that never stay down. A supervised source (RTSP) is reopened after an error, an end
//! of stream or a stall (no frame for `stall_timeout`), after a delay that doubles from
//! `min_delay` to `max_delay` with +-25 % jitter (so cameras that dropped together do not
//! reconnect in lockstep). A first connection that fails is retried the same way. The waiting
//! happens on the source's own thread, in steps of 100 ms that watch the stop flag, so nothing
//! else waits for it.
//!
//! Every source reports its health: `perceptd_source_up`, `perceptd_source_reconnects_total`
//! and `perceptd_source_last_frame_age_seconds`, labelled with the stream id (never the URL).

use super::{Pull, Source, SourceError};
use crate::config::{ReconnectSpec, SourceKind, SourceSpec, SupportPriority};
use crate::frame::Frame;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one pull waits: the granularity of stall checks, age updates and stop requests.
const POLL: Duration = Duration::from_millis(100);

/// A source's health series.
#[derive(Clone)]
pub struct SourceHealth {
    pub up: prometheus::IntGauge,
    pub reconnects: prometheus::IntCounter,
    pub last_frame_age: prometheus::Gauge,
}

impl SourceHealth {
    pub fn new(metrics: &crate::telemetry::Metrics, pipeline: &str, stream: &str) -> SourceHealth {
        let l = [pipeline, stream];
        SourceHealth {
            up: metrics.source_up.with_label_values(&l),
            reconnects: metrics.source_reconnects.with_label_values(&l),
            last_frame_age: metrics.source_last_frame_age.with_label_values(&l),
        }
    }
}

/// A pipeline's input: a source opened once, or a supervised one that reconnects.
pub enum Input {
    Once {
        source: Source,
        health: SourceHealth,
        /// `pace: realtime`: the first frame's PTS and when it was delivered.
        pacer: Option<Pacer>,
    },
    Supervised(Box<Supervised>),
}

impl Input {
    /// Opens a plain source now (its errors are the caller's); a supervised one connects on
    /// its own thread, so it never fails here.
    pub fn open(
        spec: &SourceSpec,
        stop: Arc<AtomicBool>,
        priority: SupportPriority,
        health: SourceHealth,
    ) -> Result<Input, SourceError> {
        Ok(match spec.reconnect {
            Some(rc) => Input::Supervised(Box::new(Supervised::new(
                spec.clone(),
                rc,
                stop,
                priority,
                health,
            ))),
            None => Input::Once {
                source: Source::open(spec, stop, priority)?,
                health,
                pacer: (spec.pace == crate::config::Pace::Realtime).then(Pacer::default),
            },
        })
    }

    /// The next frame; `Ok(None)` when the stream is over (a supervised one: only on stop).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        match self {
            Input::Once {
                source,
                health,
                pacer,
            } => {
                let mut r = source.next_frame();
                if let (Ok(Some(f)), Some(p)) = (&mut r, pacer) {
                    p.wait(f);
                    // Delivered now: the wait is not latency.
                    f.captured = Instant::now();
                    f.captured_wall = std::time::SystemTime::now();
                }
                match &r {
                    Ok(Some(_)) => {
                        health.up.set(1);
                        health.last_frame_age.set(0.0);
                    }
                    _ => health.up.set(0),
                }
                r
            }
            Input::Supervised(s) => s.next_frame(),
        }
    }
}

/// Delivers replayed frames at their timestamps: frame `n` no earlier than its PTS after the
/// first frame's delivery.
#[derive(Default)]
pub struct Pacer {
    start: Option<(u64, Instant)>,
}

impl Pacer {
    fn wait(&mut self, f: &Frame) {
        let Some(pts) = f.pts_ns else {
            return;
        };
        let &mut (p0, t0) = self.start.get_or_insert((pts, Instant::now()));
        let due = t0 + Duration::from_nanos(pts.saturating_sub(p0));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// The reconnecting source.
pub struct Supervised {
    spec: SourceSpec,
    rc: ReconnectSpec,
    stop: Arc<AtomicBool>,
    priority: SupportPriority,
    health: SourceHealth,
    current: Option<Source>,
    /// When the current connection was opened (a stall counts from here until a frame).
    opened: Instant,
    last_frame: Option<Instant>,
    started: Instant,
    /// When the next connection may be tried.
    retry_at: Instant,
    /// Failed tries since the last frame.
    failures: u32,
    /// The stream was lost since its last frame (the next frame is a reconnection).
    lost: bool,
    next_seq: u64,
    jitter: u64,
}

impl Supervised {
    pub fn new(
        spec: SourceSpec,
        rc: ReconnectSpec,
        stop: Arc<AtomicBool>,
        priority: SupportPriority,
        health: SourceHealth,
    ) -> Supervised {
        health.up.set(0);
        let now = Instant::now();
        let seed = spec.stream.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
        }) ^ now.elapsed().as_nanos() as u64
            ^ std::process::id() as u64;
        Supervised {
            spec,
            rc,
            stop,
            priority,
            health,
            current: None,
            opened: now,
            last_frame: None,
            started: now,
            retry_at: now,
            failures: 0,
            lost: false,
            next_seq: 0,
            jitter: seed | 1,
        }
    }

    fn name(&self) -> String {
        match &self.spec.kind {
            SourceKind::Rtsp(r) | SourceKind::Uri(r) => r.redacted(),
            _ => self.spec.stream.clone(),
        }
    }

    /// The delay before the next try: doubling from `min_delay`, capped, +-25 % jitter.
    fn backoff(&mut self) -> Duration {
        let base = self.rc.min_delay.as_secs_f64() * 2f64.powi(self.failures.min(30) as i32);
        let base = base.min(self.rc.max_delay.as_secs_f64());
        // xorshift64
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let u = (self.jitter >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(base * (0.75 + 0.5 * u))
    }

    /// Drops the connection and schedules the next try.
    fn lose(&mut self, why: &str) {
        self.current = None;
        self.health.up.set(0);
        self.lost = true;
        let delay = self.backoff();
        self.failures += 1;
        self.retry_at = Instant::now() + delay;
        tracing::warn!(
            stream = %self.spec.stream,
            source = %self.name(),
            reason = why,
            retry_in_s = delay.as_secs_f64(),
            "source lost; reconnecting"
        );
    }

    fn age(&self) {
        let since = self.last_frame.unwrap_or(self.started);
        self.health
            .last_frame_age
            .set(since.elapsed().as_secs_f64());
    }

    pub fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.health.up.set(0);
                return Ok(None);
            }
            self.age();
            let Some(src) = self.current.as_mut() else {
                let now = Instant::now();
                if now < self.retry_at {
                    std::thread::sleep((self.retry_at - now).min(POLL));
                    continue;
                }
                match Source::open(&self.spec, self.stop.clone(), self.priority) {
                    Ok(mut s) => {
                        s.continue_from(self.next_seq);
                        self.current = Some(s);
                        self.opened = Instant::now();
                        tracing::info!(stream = %self.spec.stream, source = %self.name(), "connecting");
                    }
                    Err(e) => self.lose(&e.to_string()),
                }
                continue;
            };
            match src.pull(POLL) {
                Ok(Pull::Frame(f)) => {
                    self.next_seq = f.seq + 1;
                    self.last_frame = Some(Instant::now());
                    self.health.up.set(1);
                    self.health.last_frame_age.set(0.0);
                    if self.lost {
                        self.health.reconnects.inc();
                        tracing::info!(stream = %self.spec.stream, source = %self.name(), after_tries = self.failures, "source back");
                    }
                    self.lost = false;
                    self.failures = 0;
                    return Ok(Some(f));
                }
                Ok(Pull::Idle) => {
                    let since = self.last_frame.map_or(self.opened, |t| t.max(self.opened));
                    if since.elapsed() > self.rc.stall_timeout {
                        self.lose(&format!(
                            "no frame for {:.1} s (stall_timeout_s)",
                            self.rc.stall_timeout.as_secs_f64()
                        ));
                    }
                }
                Ok(Pull::Eos) => self.lose("end of stream"),
                Err(e) => self.lose(&e.to_string()),
            }
        }
    }
}

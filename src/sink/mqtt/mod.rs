//! `type: mqtt`: events (driver-assistance warnings, zone entries and exits, line crossings)
//! and per-stream status published to an MQTT broker, through rumqttc.
//!
//! Topics, under `prefix` (default `perceptd`):
//! - `<prefix>/<pipeline>/<stream>/events/<kind>`: one JSON object per event (the `events`
//!   sink's line, plus `pipeline` and `wall_time`, the Unix time its frame was captured), QoS 1;
//! - `<prefix>/<pipeline>/<stream>/status`: every `status_every_s`, retained, QoS 0: frames,
//!   fps, the stream's clock, zone occupancy and line counts;
//! - `<prefix>/<pipeline>/availability`: retained `online` / `offline`, `offline` also as the
//!   last will.
//!
//! The stage never waits for the broker: events go into a bounded queue (`queue`, default 1000;
//! overflow dropped and counted in `perceptd_mqtt_dropped_total{reason="queue_full"}`) that the
//! link ([`link`]) empties while connected. A broker that goes away is retried with backoff and
//! what was queued or unacknowledged is sent when it is back. Credentials are never logged.

pub mod link;

use super::SinkError;
use super::events::{EndLine, StillOpen};
use crate::config::diag::resolve;
use crate::config::spec::Secret;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError};
use crate::telemetry::Metrics;
use link::{Link, LinkEvents, LinkOptions, Msg};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `host[:port]` (port 1883 by default), or `mqtt://host[:port]`.
    pub broker: String,
    pub prefix: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub queue: Option<usize>,
    pub status_every_s: Option<f64>,
    pub keep_alive_s: Option<f64>,
    /// When the pipeline ends: how long to wait for the broker to take what is queued.
    pub drain_timeout_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub host: String,
    pub port: u16,
    pub prefix: String,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub queue: usize,
    pub status_every_s: f64,
    pub keep_alive_s: f64,
    pub drain_timeout_s: f64,
    /// `mqtt://host:port/prefix`, for messages.
    pub path: PathBuf,
}

/// `host[:port]` of `mqtt://host[:port]` or `host[:port]`.
fn split_broker(s: &str) -> Result<(String, u16), String> {
    let rest = s.strip_prefix("mqtt://").unwrap_or(s);
    if rest.contains('@') {
        return Err(
            "has user information; give `username` and `password` (or `password_file`) instead"
                .into(),
        );
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("port `{p}` is not a number from 1 to 65535"))?,
        ),
        None => (rest, 1883),
    };
    if host.is_empty() || host.contains('/') || port == 0 {
        return Err("is not `host[:port]`, e.g. `127.0.0.1:1883`".into());
    }
    Ok((host.to_string(), port))
}

impl Kind for Spec {
    const TYPE: &'static str = "mqtt";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let mut ok = true;
        let (host, port) = match split_broker(&cfg.broker) {
            Ok(x) => x,
            Err(why) => {
                // Never echo a URL that may hold a password.
                let shown = if cfg.broker.contains('@') {
                    "the broker".to_string()
                } else {
                    format!("`{}`", cfg.broker)
                };
                cx.diag
                    .error(format!("{key}.broker"), format!("{shown} {why}"));
                ok = false;
                (String::new(), 0)
            }
        };
        let prefix = cfg.prefix.clone().unwrap_or_else(|| "perceptd".into());
        if prefix.is_empty()
            || prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.contains(['+', '#', '\0'])
        {
            cx.diag.error(
                format!("{key}.prefix"),
                format!("`{prefix}` is not a topic prefix; no `+`, `#`, leading or trailing `/` (e.g. `perceptd` or `site/cams`)"),
            );
            ok = false;
        }
        let mut password = cfg.password.clone();
        if cfg.password.is_some() && cfg.password_file.is_some() {
            cx.diag.error(
                format!("{key}.password_file"),
                "give the password one way: `password` or `password_file`, not both",
            );
            ok = false;
        }
        if let Some(f) = &cfg.password_file {
            let file = resolve(cx.base, f);
            match std::fs::read_to_string(&file) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\n', '\r']);
                    password = (!v.is_empty()).then(|| v.to_string());
                }
                Err(e) => {
                    cx.diag.error(
                        format!("{key}.password_file"),
                        format!("cannot read {}: {e}; give a readable file holding only the password (under systemd: LoadCredential=NAME:/path and `password_file: ${{CREDENTIALS_DIRECTORY}}/NAME`)", file.display()),
                    );
                    ok = false;
                }
            }
        }
        if password.is_some() && cfg.username.is_none() {
            cx.diag.error(
                format!("{key}.username"),
                "a password without a user name; set `username`",
            );
            ok = false;
        }
        let queue = cfg.queue.unwrap_or(1000);
        if !(1..=1_000_000).contains(&queue) {
            cx.diag.error(
                format!("{key}.queue"),
                format!("{queue} is out of range; give the events held while the broker is away, 1 to 1000000"),
            );
            ok = false;
        }
        let mut secs = |name: &str, v: Option<f64>, default: f64, lo: f64, hi: f64| {
            let v = v.unwrap_or(default);
            ok &= cx
                .diag
                .in_range(format!("{key}.{name}"), v, lo, hi, "seconds");
            v
        };
        let status_every_s = secs("status_every_s", cfg.status_every_s, 5.0, 0.1, 3600.0);
        let keep_alive_s = secs("keep_alive_s", cfg.keep_alive_s, 10.0, 1.0, 3600.0);
        let drain_timeout_s = secs("drain_timeout_s", cfg.drain_timeout_s, 5.0, 0.0, 600.0);
        if !cx.upstream.has(crate::stage::adas::Spec::TYPE)
            && !cx.upstream.has(crate::stage::analytics::Spec::TYPE)
        {
            cx.diag.warning(
                key.to_string(),
                "no `adas` or `analytics` stage: only the streams' status is published",
            );
        }
        let path = PathBuf::from(format!("mqtt://{host}:{port}/{prefix}"));
        ok.then_some(Spec {
            host,
            port,
            prefix,
            client_id: cfg.client_id,
            username: cfg.username,
            password: password.map(Secret),
            queue,
            status_every_s,
            keep_alive_s,
            drain_timeout_s,
            path,
        })
    }
}

impl SinkKind for Spec {
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn rank(&self) -> u8 {
        0
    }
    fn writes_file(&self) -> bool {
        false
    }
    fn publishes(&self) -> bool {
        true
    }
    fn relocate(&mut self, _into: &dyn Fn(&Path) -> PathBuf) {}
    fn wrote_output(&self, _frames: u64) -> bool {
        false
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        Ok(Box::new(MqttSink::start(self, cx.pipeline, cx.metrics)?))
    }
}

struct Series {
    connected: prometheus::IntGauge,
    delivered: prometheus::IntCounter,
    latency: prometheus::Histogram,
}

impl LinkEvents for Series {
    fn connected(&self, up: bool) {
        self.connected.set(up as i64);
    }
    fn delivered(&self, latency: Option<Duration>) {
        self.delivered.inc();
        if let Some(l) = latency {
            self.latency.observe(l.as_secs_f64());
        }
    }
}

/// A stream's status since its last report.
struct StreamStatus {
    stream: Arc<str>,
    frames: u64,
    last_sent: Instant,
    frames_at_last: u64,
}

#[derive(Serialize)]
struct Status<'a> {
    pipeline: &'a str,
    stream: &'a str,
    frames: u64,
    /// Frames a second since the last status (`null` in the first).
    fps: Option<f64>,
    pts_s: f64,
    wall_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    analytics: Option<&'a crate::frame::analytics::AnalyticsState>,
}

pub struct MqttSink {
    tx: Option<crossbeam_channel::Sender<Msg>>,
    link: Option<Link>,
    pipeline: String,
    prefix: String,
    status_every: Duration,
    drain_timeout: Duration,
    streams: Vec<StreamStatus>,
    queue_full: prometheus::IntCounter,
    undelivered: prometheus::IntCounter,
    warned_full: bool,
    open: StillOpen,
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl MqttSink {
    pub fn start(
        spec: &Spec,
        pipeline: &str,
        metrics: &Arc<Metrics>,
    ) -> Result<MqttSink, SinkError> {
        let (tx, rx) = crossbeam_channel::bounded(spec.queue);
        let series = Arc::new(Series {
            connected: metrics.mqtt_connected.with_label_values(&[pipeline]),
            delivered: metrics.mqtt_delivered.with_label_values(&[pipeline]),
            latency: metrics.mqtt_latency.with_label_values(&[pipeline]),
        });
        series.connected.set(0);
        let o = LinkOptions {
            host: spec.host.clone(),
            port: spec.port,
            client_id: spec
                .client_id
                .clone()
                .unwrap_or_else(|| format!("perceptd-{pipeline}")),
            credentials: spec.username.clone().map(|u| {
                (
                    u,
                    spec.password
                        .as_ref()
                        .map(|p| p.0.clone())
                        .unwrap_or_default(),
                )
            }),
            keep_alive: Duration::from_secs_f64(spec.keep_alive_s),
            availability_topic: format!("{}/{pipeline}/availability", spec.prefix),
        };
        let link = Link::start(&o, rx, series).map_err(|e| SinkError::Io {
            path: spec.path.display().to_string(),
            reason: format!("cannot start the MQTT link: {e}"),
        })?;
        Ok(MqttSink {
            tx: Some(tx),
            link: Some(link),
            pipeline: pipeline.to_string(),
            prefix: spec.prefix.clone(),
            status_every: Duration::from_secs_f64(spec.status_every_s),
            drain_timeout: Duration::from_secs_f64(spec.drain_timeout_s),
            streams: vec![],
            queue_full: metrics
                .mqtt_dropped
                .with_label_values(&[pipeline, "queue_full"]),
            undelivered: metrics
                .mqtt_dropped
                .with_label_values(&[pipeline, "undelivered"]),
            warned_full: false,
            open: StillOpen::default(),
        })
    }

    fn send(&mut self, m: Msg) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(m).is_err() {
            self.queue_full.inc();
            if !self.warned_full {
                self.warned_full = true;
                tracing::warn!(pipeline = %self.pipeline, "MQTT queue full (the broker is away or slow): dropping events, counted in perceptd_mqtt_dropped_total{{reason=\"queue_full\"}}; raise `queue` to hold more");
            }
        }
    }

    /// `captured`: the frame's capture (monotonic, and Unix seconds), when a frame decided it.
    fn event(
        &mut self,
        stream: &str,
        kind: &str,
        event: &impl Serialize,
        captured: Option<(Instant, f64)>,
    ) {
        let mut v = serde_json::to_value(event).expect("events serialise");
        if let Some(o) = v.as_object_mut() {
            o.insert("pipeline".into(), self.pipeline.clone().into());
            let wall = captured.map_or_else(now_unix, |c| c.1);
            o.insert("wall_time".into(), wall.into());
        }
        let m = Msg {
            topic: format!("{}/{}/{stream}/events/{kind}", self.prefix, self.pipeline),
            payload: serde_json::to_vec(&v).expect("events serialise"),
            reliable: true,
            retain: false,
            captured: captured.map(|c| c.0),
        };
        self.send(m);
    }

    pub fn write(&mut self, f: &Frame) {
        let wall = f
            .captured_wall
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let at = Some((f.captured, wall));
        for e in f.events() {
            self.event(&f.stream, e.kind(), &e, at);
        }
        if f.adas.is_some() || f.analytics.is_some() {
            self.open.update(f);
        }
        let i = match self.streams.iter().position(|s| s.stream == f.stream) {
            Some(i) => i,
            None => {
                self.streams.push(StreamStatus {
                    stream: f.stream.clone(),
                    frames: 0,
                    // The first frame reports at once.
                    last_sent: Instant::now() - self.status_every,
                    frames_at_last: 0,
                });
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i];
        s.frames += 1;
        let since = s.last_sent.elapsed();
        if since < self.status_every {
            return;
        }
        let fps = (s.frames_at_last > 0)
            .then(|| (s.frames - s.frames_at_last) as f64 / since.as_secs_f64().max(1e-3));
        s.last_sent = Instant::now();
        s.frames_at_last = s.frames;
        let status = Status {
            pipeline: &self.pipeline,
            stream: &f.stream,
            frames: s.frames,
            fps,
            pts_s: f.time_s(),
            wall_time: wall,
            analytics: f.analytics.as_deref(),
        };
        let m = Msg {
            topic: format!("{}/{}/{}/status", self.prefix, self.pipeline, f.stream),
            payload: serde_json::to_vec(&status).expect("status serialises"),
            reliable: false,
            retain: true,
            captured: None,
        };
        self.send(m);
    }

    /// Closes the queue and waits (up to `drain_timeout_s`) for the broker to take it all.
    pub fn close(&mut self) -> usize {
        for e in self.open.end_all() {
            let event = e.as_event();
            let line = EndLine {
                event: &event,
                reason: "stream ended",
            };
            self.event(event.stream(), event.kind(), &line, None);
        }
        self.tx = None;
        let Some(link) = self.link.take() else {
            return 0;
        };
        let left = link.close(self.drain_timeout);
        self.undelivered.inc_by(left as u64);
        left
    }
}

impl Stage for MqttSink {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.write(&frame);
        Ok(Some(frame))
    }
    fn finish(&mut self) -> Result<(), StageError> {
        self.close();
        Ok(())
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses() {
        assert_eq!(
            split_broker("127.0.0.1:1884").unwrap(),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(
            split_broker("mqtt://broker.lan").unwrap(),
            ("broker.lan".into(), 1883)
        );
        assert!(
            split_broker("mqtt://u:secret@h:1883")
                .unwrap_err()
                .contains("user information")
        );
        assert!(split_broker("h:port").unwrap_err().contains("not a number"));
        assert!(split_broker(":1883").is_err());
    }
}

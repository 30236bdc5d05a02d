//! `type: mqtt` (issue 20) against a real `mosquitto` started on 127.0.0.1 by the test: every
//! event the events file holds arrives on its topic, across a broker restart in mid-run; the
//! availability topic is retained and ends `offline`; bad settings are `check` errors.

use crate::common::*;
use perceptd::config::load_str;
use perceptd::sample::{self, SampleOptions};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn broker_settings_are_checked_with_their_keys() {
    let head = "name: t\nsources: {cam: {type: test}}\n";
    let errs_of =
        |rest: &str| load_str(&format!("{head}{rest}"), Path::new("/"), &|_| None).unwrap_err();
    let has = |errs: &[perceptd::config::ConfigError], key: &str, what: &str| {
        errs.iter()
            .any(|e| e.key == key && e.message.contains(what))
    };
    let errs = errs_of(
        "sinks:\n  - {type: mqtt, broker: 'h:port', prefix: 'a/#', password: hunter2, queue: 0, status_every_s: 0}\n",
    );
    for (key, what) in [
        ("sinks[0].broker", "not a number"),
        ("sinks[0].prefix", "not a topic prefix"),
        ("sinks[0].username", "a password without a user name"),
        ("sinks[0].queue", "out of range"),
        ("sinks[0].status_every_s", "out of range"),
    ] {
        assert!(has(&errs, key, what), "{key}: {what}\n{errs:#?}");
    }
    // A password in the broker URL is refused without being shown.
    let errs = errs_of("sinks: [{type: mqtt, broker: 'mqtt://u:hunter2@h:1883'}]\n");
    assert!(
        has(&errs, "sinks[0].broker", "user information"),
        "{errs:#?}"
    );
    assert!(
        errs.iter().all(|e| !e.message.contains("hunter2")),
        "{errs:#?}"
    );
    let errs = errs_of(
        "sinks: [{type: mqtt, broker: h, username: u, password: p, password_file: /nonexistent}]\n",
    );
    assert!(has(&errs, "sinks[0].password_file", "one way"), "{errs:#?}");
    // The password never shows in the checked spec's debug output.
    let spec = load_str(
        &format!("{head}sinks: [{{type: mqtt, broker: 'mqtt://broker.lan', username: u, password: hunter2}}]\n"),
        Path::new("/"),
        &|_| None,
    )
    .unwrap();
    let shown = format!("{:?}", spec.sinks);
    assert!(
        shown.contains("broker.lan") && shown.contains("1883"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}

struct Broker {
    child: Child,
    conf: std::path::PathBuf,
}

impl Broker {
    /// mosquitto on `port`, keeping sessions and queued messages across restarts in `dir`.
    fn start(dir: &Path, port: u16) -> Broker {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut b = Broker {
            child: Self::spawn(&conf, dir),
            conf,
        };
        b.wait_up(port);
        b
    }

    fn spawn(conf: &Path, dir: &Path) -> Child {
        Command::new("mosquitto")
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("broker.log")).unwrap())
            .spawn()
            .expect("mosquitto (Debian package `mosquitto`) runs")
    }

    fn wait_up(&mut self, port: u16) {
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "mosquitto listens on {port}");
    }

    /// SIGTERM (mosquitto saves its sessions), then the same broker again.
    fn restart(&mut self, port: u16, down: Duration) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap();
        std::thread::sleep(down);
        let dir = self.conf.parent().unwrap().to_path_buf();
        self.child = Self::spawn(&self.conf, &dir);
        self.wait_up(port);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A subscriber with a persistent session (the broker keeps its QoS-1 messages while it is
/// away): every (topic, payload) it got.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

fn subscribe(port: u16) -> (Received, Arc<Mutex<bool>>) {
    let mut o = MqttOptions::new("perceptd-test-sub", "127.0.0.1", port);
    o.set_clean_session(false);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut conn) = Client::new(o, 100);
    let got = Arc::new(Mutex::new(vec![]));
    let ready = Arc::new(Mutex::new(false));
    let (g, r) = (got.clone(), ready.clone());
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client.subscribe("perceptd/#", QoS::AtLeastOnce).unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => *r.lock().unwrap() = true,
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v = serde_json::from_slice(&p.payload).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&p.payload).into())
                    });
                    g.lock().unwrap().push((p.topic.clone(), v));
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    (got, ready)
}

/// An event's identity: kind, zone/line, track, time.
fn key(e: &Value) -> (String, String, String, String) {
    (
        e["kind"].as_str().unwrap_or_default().to_string(),
        e["name"].to_string(),
        e["track_id"].to_string(),
        format!("{:.3}", e["at_pts_s"].as_f64().unwrap()),
    )
}

#[test]
fn every_event_reaches_the_broker_across_a_restart_and_availability_ends_offline() {
    let dir = tempdir("mqtt");
    let port = free_addr().port();
    let mut broker = Broker::start(&dir, port);
    let (got, ready) = subscribe(port);
    assert!(wait_until(Duration::from_secs(10), || *ready
        .lock()
        .unwrap()));
    // Ten seconds of a sample drive, paced as recorded, through perceptd's own models; a zone
    // over the whole road and no debounce give an entry and an exit per track.
    let drive = dir.join("drive");
    sample::generate(
        &SampleOptions {
            frames: 300,
            ..SampleOptions::new(1000, &drive)
        },
        |_| {},
    )
    .unwrap();
    let models = repo().join("models");
    let pipeline = dir.join("p.yaml");
    let addr = free_addr();
    std::fs::write(
        &pipeline,
        format!(
            "name: mq\nsources:\n  drive: {{type: file, path: {}, pace: realtime}}\nmodels:\n  det: {{path: {}, format: yolov8, score_threshold: 0.3, threads: 1}}\nstages:\n  - {{type: detect, model: det}}\n  - {{type: track}}\n  - type: analytics\n    min_on_s: 0\n    min_off_s: 0\n    zones: [{{name: road, points: [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]}}]\n    lines: [{{name: passed, points: [[0, 0.65], [1, 0.65]]}}]\nsinks:\n  - {{type: events, path: {}}}\n  - {{type: mqtt, broker: '127.0.0.1:{port}', status_every_s: 1, drain_timeout_s: 20}}\nruntime: {{metrics_addr: '{addr}'}}\n",
            drive.join("drive.mp4").display(),
            models.join("perceptd-det.onnx").display(),
            dir.join("events.jsonl").display(),
        ),
    )
    .unwrap();
    let mut child = perceptd()
        .arg("run")
        .arg(&pipeline)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-run: the broker goes away for 1.5 s and comes back.
    assert!(
        wait_until(Duration::from_secs(60), || got
            .lock()
            .unwrap()
            .iter()
            .any(|(t, _)| t.contains("/events/"))),
        "events arrive before the restart"
    );
    std::thread::sleep(Duration::from_secs(2));
    let before = got.lock().unwrap().len();
    let t = Instant::now();
    broker.restart(port, Duration::from_millis(1500));
    let mut connected_after = None;
    wait_until(Duration::from_secs(20), || {
        if let Some(p) = http_get(addr, "/metrics")
            && metric(&p, "perceptd_mqtt_connected", &[]) == Some(1.0)
            && t.elapsed() > Duration::from_millis(1600)
        {
            connected_after = Some(t.elapsed());
        }
        connected_after.is_some() || child.try_wait().unwrap().is_some()
    });
    let page = http_get(addr, "/metrics");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("MQTT broker unreachable") && stderr.contains("reachable again"),
        "the loss and the reconnect are logged: {stderr}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = got.lock().unwrap().clone();
    let events = read_jsonl(&dir.join("events.jsonl"));
    assert!(events.len() >= 10, "{} events", events.len());
    let received: BTreeSet<_> = got
        .iter()
        .filter(|(t, _)| t.contains("/events/"))
        .map(|(_, v)| key(v))
        .collect();
    let missing: Vec<_> = events
        .iter()
        .map(key)
        .filter(|k| !received.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never arrived (before the restart {before} messages): {missing:#?}",
        missing.len(),
        events.len()
    );
    let after: usize = got.len() - before;
    eprintln!(
        "{} events, all received; {before} messages before the restart, {after} after; back {connected_after:?} after the broker went down",
        events.len()
    );
    assert!(after > 0, "messages after the restart");
    // Topics and payloads.
    let (topic, e) = got
        .iter()
        .find(|(t, _)| t.ends_with("/events/zone_exit"))
        .unwrap();
    assert_eq!(topic, "perceptd/mq/drive/events/zone_exit");
    assert_eq!(e["pipeline"], "mq");
    assert!(e["wall_time"].as_f64().unwrap() > 1.7e9);
    assert!(e["dwell_s"].as_f64().is_some());
    let status: Vec<&Value> = got
        .iter()
        .filter(|(t, _)| t == "perceptd/mq/drive/status")
        .map(|(_, v)| v)
        .collect();
    assert!(status.len() >= 5, "a status a second: {status:#?}");
    assert!(
        status
            .iter()
            .any(|s| s["fps"].as_f64().is_some_and(|f| f > 20.0))
    );
    let avail: Vec<&Value> = got
        .iter()
        .filter(|(t, _)| t == "perceptd/mq/availability")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(avail.first().map(|v| v.as_str()), Some(Some("online")));
    assert_eq!(
        avail.last().map(|v| v.as_str()),
        Some(Some("offline")),
        "{avail:?}"
    );
    // Nothing dropped; latencies observed.
    let page = page.unwrap_or_default();
    assert_eq!(
        metric(
            &page,
            "perceptd_mqtt_dropped_total",
            &[("reason", "queue_full")]
        )
        .unwrap_or(0.0),
        0.0
    );
    // Publish latency, frame captured to the broker's acknowledgement: the histogram's p99
    // bucket (the restart's resent events included).
    let mut buckets: Vec<(f64, f64)> = page
        .lines()
        .filter(|l| l.starts_with("perceptd_mqtt_publish_latency_seconds_bucket{"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let n: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                n,
            ))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    let p99 = buckets.iter().find(|b| b.1 >= 0.99 * total).map(|b| b.0);
    let p50 = buckets.iter().find(|b| b.1 >= 0.5 * total).map(|b| b.0);
    eprintln!("MQTT publish latency over {total} events: p50 <= {p50:?} s, p99 <= {p99:?} s");
    assert!(total > 0.0, "{page}");
    // Retained: a new subscriber is told the last availability at once.
    let retained = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "perceptd/mq/availability",
            "-C",
            "1",
            "-W",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&retained.stdout).trim(), "offline");
}

#[test]
fn an_unreachable_broker_is_retried_and_the_pipeline_does_not_wait_for_it() {
    let dir = tempdir("mqtt-away");
    let port = free_addr().port(); // nothing listens there
    let pipeline = dir.join("p.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: away\nsources: {{cam: {{type: test, num_frames: 200}}}}\nsinks:\n  - {{type: jsonl, path: {}}}\n  - {{type: mqtt, broker: '127.0.0.1:{port}', username: op, password: hunter2, drain_timeout_s: 1}}\n",
            dir.join("out.jsonl").display()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let out = perceptd().arg("run").arg(&pipeline).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(read_jsonl(&dir.join("out.jsonl")).len(), 200);
    assert!(stderr.contains("MQTT broker unreachable"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

//! `perceptd serve` as systemd runs it: the notify protocol on a real Unix datagram socket
//! (`NOTIFY_SOCKET`), the watchdog with a stage stuck on purpose, SIGTERM draining the real clip,
//! SIGHUP reloading a folder, /healthz and /readyz over HTTP.

use crate::common::*;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `perceptd serve` with its notify socket, HTTP address and log file.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    /// Notify datagrams with the time they arrived.
    notes: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Serve {
    /// Starts the daemon on `dir`, whose perceptd.yaml gets `daemon_extra` appended to an
    /// `http.address` on a free port.
    fn start(dir: &Path, daemon_extra: &str, watchdog_usec: u64) -> Serve {
        let addr = free_addr();
        std::fs::write(
            dir.join("perceptd.yaml"),
            format!("http:\n  address: {addr}\n{daemon_extra}"),
        )
        .unwrap();
        let sock_path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        let notes = Arc::new(Mutex::new(vec![]));
        let n = notes.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(k) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..k]).to_string();
                n.lock().unwrap().push((Instant::now(), msg));
            }
        });
        let log = dir.join("serve.log");
        let child = perceptd()
            .args(["serve", "--config-dir"])
            .arg(dir)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", watchdog_usec.to_string())
            .env("RUST_LOG", "info")
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Serve {
            child,
            addr,
            log,
            notes,
        }
    }

    fn notes(&self) -> Vec<(Instant, String)> {
        self.notes.lock().unwrap().clone()
    }

    /// When the first datagram containing `key` arrived.
    fn wait_note(&self, key: &str, timeout: Duration) -> Option<Instant> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some((t, _)) = self.notes().into_iter().find(|(_, m)| m.contains(key)) {
                return Some(t);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// WATCHDOG=1 datagrams that arrived in `[from, to)`.
    fn pings(&self, from: Instant, to: Instant) -> usize {
        self.notes()
            .iter()
            .filter(|(t, m)| *t >= from && *t < to && m.lines().any(|l| l == "WATCHDOG=1"))
            .count()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    fn scrape(&self) -> String {
        http_get(self.addr, "/metrics").unwrap_or_default()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the exit; the status code, or a panic with the log after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!(
            "perceptd serve did not exit within {timeout:?}; log:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real clip through FastestDet, paced like a camera, JSONL and MP4 into `out`.
fn clip_pipeline(name: &str, out: &Path, jsonl: &Path, score: f32) -> String {
    let a = assets();
    format!(
        "name: {name}\nsources:\n  drive:\n    type: file\n    pace: realtime\n    path: {clip}\n\
         models:\n  det:\n    path: {a}/FastestDet.onnx\n    format: fastestdet\n    classes: {a}/coco.names\n    score_threshold: {score}\n    threads: 2\n\
         stages:\n  - type: detect\n    model: det\n\
         sinks:\n  - type: jsonl\n    path: {jsonl}\n  - type: video\n    path: {mp4}\n",
        clip = a.join("solidWhiteRight.mp4").display(),
        a = a.display(),
        jsonl = jsonl.display(),
        mp4 = out.join(format!("{name}.mp4")).display(),
    )
}

fn frames_of(page: &str, pipeline: &str, stream: &str) -> Option<f64> {
    metric(
        page,
        "perceptd_frames_total",
        &[
            ("pipeline", pipeline),
            ("stream", stream),
            ("stage", "source"),
        ],
    )
}

#[test]
fn notify_ready_watchdog_and_sigterm_drain_of_the_real_clip() {
    let dir = tempdir("serve-drain");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let jsonl = out.join("drive.jsonl");
    std::fs::write(
        dir.join("drive.yaml"),
        clip_pipeline("drive", &out, &jsonl, 0.65),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut s = Serve::start(&dir, "shutdown:\n  drain_timeout_s: 15\n", 1_000_000);

    // READY=1 comes once the model is loaded and warmed and the source has started: at that
    // moment /readyz already says the pipeline runs and the model's provider is exported.
    let ready = s
        .wait_note("READY=1", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", s.log_text()));
    eprintln!("start to READY=1: {:.3} s", (ready - t0).as_secs_f64());
    let readyz = http_get(s.addr, "/readyz").expect("/readyz answers");
    assert!(
        readyz.starts_with("ready\n") && readyz.contains("drive: running"),
        "{readyz}"
    );
    assert_eq!(http_get(s.addr, "/healthz").as_deref(), Some("ok\n"));
    let page = s.scrape();
    assert_eq!(
        metric(
            &page,
            "perceptd_model_provider",
            &[("pipeline", "drive"), ("provider", "cpu")]
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        metric(&page, "perceptd_pipeline_up", &[("pipeline", "drive")]),
        Some(1.0)
    );
    let ready_note = s
        .notes()
        .into_iter()
        .find(|(_, m)| m.contains("READY=1"))
        .unwrap()
        .1;
    assert!(
        ready_note.contains("STATUS=1 pipeline: drive"),
        "{ready_note}"
    );

    // Frames flow: WATCHDOG=1 at least every WATCHDOG_USEC / 2, and STATUS with frames/s.
    assert!(
        wait_until(Duration::from_secs(60), || std::fs::read_to_string(&jsonl)
            .is_ok_and(|t| t.lines().count() >= 60)),
        "frames flowed"
    );
    let now = Instant::now();
    let pings = s.pings(now - Duration::from_secs(2), now);
    assert!(
        pings >= 4,
        "{pings} WATCHDOG=1 in 2 s with WATCHDOG_USEC=1 s"
    );
    assert!(
        s.notes()
            .iter()
            .any(|(_, m)| m.starts_with("STATUS=1 pipeline: drive") && m.contains("frames/s")),
        "{:?}",
        s.notes()
    );

    // SIGTERM halfway: STOPPING=1, exit 0 within the deadline, outputs whole.
    let sent = Instant::now();
    s.signal(libc::SIGTERM);
    let code = s.wait_exit(Duration::from_secs(15));
    let drained = sent.elapsed();
    eprintln!("SIGTERM to exit: {:.3} s", drained.as_secs_f64());
    assert_eq!(code, Some(0), "graceful stop; log:\n{}", s.log_text());
    assert!(s.wait_note("STOPPING=1", Duration::from_secs(1)).is_some());
    let lines = read_jsonl(&jsonl);
    let n = lines.len() as u64;
    assert!((60..221).contains(&n), "stopped partway: {n} frames");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(
            l["frame"].as_u64(),
            Some(i as u64),
            "frames in order, none lost"
        );
    }
    assert_eq!(
        count_frames(&out.join("drive.mp4")),
        n,
        "the MP4 plays and holds every frame whose JSONL line was written"
    );
    assert!(
        s.log_text().contains("every output finalised"),
        "{}",
        s.log_text()
    );
}

/// `perceptd serve` on a folder whose pipeline's JSONL sink writes into a FIFO that nobody
/// reads: once the pipe's 64 KiB buffer is full its write blocks, as on a hung network mount (a
/// low threshold makes the lines long). Returns once the watchdog says the sink is stuck, with the
/// reading end of the FIFO, unread; read it to unblock the sink.
fn start_stuck(name: &str, drain_timeout_s: f64) -> (Serve, std::fs::File) {
    let dir = tempdir(name);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let fifo = out.join("stuck.jsonl");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: plain libc call on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Opening the reading end blocks until the sink opens its end.
    let f2 = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::File::open(f2).unwrap());
    std::fs::write(
        dir.join("stuck.yaml"),
        clip_pipeline("stuck", &out, &fifo, 0.05),
    )
    .unwrap();
    let s = Serve::start(
        &dir,
        &format!("watchdog:\n  stall_s: 1\nshutdown:\n  drain_timeout_s: {drain_timeout_s}\n"),
        1_000_000,
    );
    assert!(
        s.wait_note("READY=1", Duration::from_secs(60)).is_some(),
        "{}",
        s.log_text()
    );
    let reader = reader.join().unwrap();
    // The sink blocks; after stall_s the gauge says so.
    assert!(
        wait_until(Duration::from_secs(60), || metric(
            &s.scrape(),
            "perceptd_watchdog_ok",
            &[]
        ) == Some(0.0)),
        "watchdog_ok never fell to 0; log:\n{}",
        s.log_text()
    );
    (s, reader)
}

#[test]
fn a_stuck_stage_stops_the_watchdog_pings_until_it_moves_again() {
    let (mut s, mut reader) = start_stuck("serve-stuck", 20.0);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let pings = s.pings(t, Instant::now());
    assert_eq!(pings, 0, "no WATCHDOG=1 while a stage is stuck");
    let healthz = http_get(s.addr, "/healthz").unwrap_or_default();
    assert!(
        healthz.starts_with("stuck"),
        "/healthz fails while stuck: {healthz}"
    );
    let log = s.log_text();
    assert!(
        log.contains("a stage is stuck") && log.contains("stuck/jsonl busy"),
        "the log names the stuck stage:\n{log}"
    );

    // Reading the pipe unblocks the sink: pings resume.
    let drain = std::thread::spawn(move || {
        let mut sink = std::io::sink();
        std::io::copy(&mut reader, &mut sink).unwrap()
    });
    let back = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || s.pings(back, Instant::now())
            >= 2),
        "pings resume once the stage moves; log:\n{}",
        s.log_text()
    );
    assert_eq!(metric(&s.scrape(), "perceptd_watchdog_ok", &[]), Some(1.0));
    s.signal(libc::SIGTERM);
    assert_eq!(
        s.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        s.log_text()
    );
    assert!(
        drain.join().unwrap() > 65_536,
        "the sink wrote past the pipe's buffer"
    );
}

/// A live test pattern (30 frames/s) into JSONL: cheap pipelines to reload.
fn pattern_pipeline(name: &str, stream: &str, out: &Path) -> String {
    format!(
        "name: {name}\nsources:\n  {stream}:\n    type: test\n    width: 160\n    height: 120\n    fps: 30\n    mode: live\n\
         sinks:\n  - type: jsonl\n    path: {}\n",
        out.join(format!("{name}.jsonl")).display()
    )
}

#[test]
fn sighup_restarts_only_what_changed_and_rejects_an_invalid_folder() {
    let dir = tempdir("serve-reload");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(dir.join("same.yaml"), pattern_pipeline("same", "cam", &out)).unwrap();
    std::fs::write(
        dir.join("changed.yaml"),
        pattern_pipeline("changed", "cam", &out),
    )
    .unwrap();
    std::fs::write(
        dir.join("removed.yaml"),
        pattern_pipeline("removed", "cam", &out),
    )
    .unwrap();
    let mut s = Serve::start(&dir, "", 1_000_000);
    assert!(
        s.wait_note("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        s.log_text()
    );
    assert!(wait_until(Duration::from_secs(20), || {
        let p = s.scrape();
        ["same", "changed", "removed"]
            .iter()
            .all(|n| frames_of(&p, n, "cam").is_some_and(|v| v >= 20.0))
    }));

    // One changed (its stream renamed), one removed, one added, one untouched.
    std::fs::write(
        dir.join("changed.yaml"),
        pattern_pipeline("changed", "cam2", &out),
    )
    .unwrap();
    std::fs::remove_file(dir.join("removed.yaml")).unwrap();
    std::fs::write(
        dir.join("added.yaml"),
        pattern_pipeline("added", "cam", &out),
    )
    .unwrap();
    let before = frames_of(&s.scrape(), "same", "cam").unwrap();
    let hup = Instant::now();
    s.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            &s.scrape(),
            "perceptd_reloads_total",
            &[("result", "ok")]
        ) == Some(1.0)),
        "reload done; log:\n{}",
        s.log_text()
    );
    assert!(wait_until(Duration::from_secs(20), || {
        let p = s.scrape();
        frames_of(&p, "added", "cam").is_some_and(|v| v >= 10.0)
            && frames_of(&p, "changed", "cam2").is_some_and(|v| v >= 10.0)
    }));
    let page = s.scrape();
    // The unchanged pipeline kept its counters: it was never restarted.
    let after = frames_of(&page, "same", "cam").unwrap();
    assert!(after > before, "same went on: {before} -> {after}");
    assert_eq!(
        metric(
            &page,
            "perceptd_pipeline_restarts_total",
            &[("pipeline", "same")]
        ),
        Some(0.0)
    );
    // The changed one runs its new config; the removed one left /metrics.
    assert_eq!(
        frames_of(&page, "changed", "cam"),
        None,
        "old stream gone: {page}"
    );
    assert!(!page.contains("pipeline=\"removed\""), "{page}");
    let notes: Vec<String> = s
        .notes()
        .into_iter()
        .filter(|(t, _)| *t >= hup)
        .map(|(_, m)| m)
        .collect();
    assert!(
        notes
            .iter()
            .any(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC=")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|m| m.starts_with("READY=1")), "{notes:?}");
    // The unchanged pipeline's JSONL has no gap: frame numbers run on from 0.
    // The removed one's JSONL was finalised whole.
    let removed = read_jsonl(&out.join("removed.jsonl"));
    assert!(removed.len() >= 20);
    let log = s.log_text();
    assert!(
        log.contains("unchanged=same") && log.contains("restarted=changed"),
        "{log}"
    );
    assert!(
        log.contains("added=added") && log.contains("removed=removed"),
        "{log}"
    );

    // An invalid folder: nothing changes, every error is logged.
    std::fs::write(
        dir.join("broken.yaml"),
        "name: broken\nsources:\n  cam:\n    type: test\n    colour: red\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("same.yaml"),
        pattern_pipeline("same", "other", &out),
    )
    .unwrap();
    let before = frames_of(&s.scrape(), "same", "cam").unwrap();
    s.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            &s.scrape(),
            "perceptd_reloads_total",
            &[("result", "rejected")]
        ) == Some(1.0)),
        "{}",
        s.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let page = s.scrape();
    let after = frames_of(&page, "same", "cam").unwrap();
    assert!(
        after > before,
        "same still running its old config: {before} -> {after}"
    );
    assert_eq!(frames_of(&page, "same", "other"), None);
    assert!(frames_of(&page, "added", "cam").is_some());
    let log = s.log_text();
    assert!(
        log.contains("reload rejected") && log.contains("broken.yaml") && log.contains("colour"),
        "{log}"
    );
    // Without a restart the frame numbers only grow (a restart would begin again at 0); a live
    // source under load may drop a frame, so a gap is no restart.
    let same = read_jsonl_prefix(&out.join("same.jsonl"));
    let frames: Vec<u64> = same.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames.first(), Some(&0), "same.jsonl starts at frame 0");
    assert!(
        frames.windows(2).all(|w| w[1] > w[0]),
        "same.jsonl runs on without a restart: {frames:?}"
    );
    assert!(
        same.len() as f64 >= after - 2.0,
        "{} lines, {after} frames",
        same.len()
    );
    s.signal(libc::SIGTERM);
    assert_eq!(
        s.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        s.log_text()
    );
}

/// The complete lines of a JSONL file still being written.
fn read_jsonl_prefix(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_invalid_folder_at_start_exits_2_naming_every_error() {
    let dir = tempdir("serve-invalid");
    std::fs::write(
        dir.join("a.yaml"),
        "name: a\nsources:\n  cam:\n    type: test\n    colour: red\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "name: a\nsources:\n  cam:\n    type: test\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.yaml"),
        "name: a\nsources:\n  cam:\n    type: test\n",
    )
    .unwrap();
    std::fs::write(dir.join("perceptd.yaml"), "watchdog:\n  stall_s: forever\n").unwrap();
    let o = perceptd()
        .args(["serve", "--config-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("a.yaml") && err.contains("colour"), "{err}");
    assert!(err.contains("already used by"), "duplicate names: {err}");
    assert!(
        err.contains("perceptd.yaml") && err.contains("stall_s"),
        "{err}"
    );
    let o = perceptd()
        .args(["serve", "--config-dir", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--config-dir"));
}

#[test]
fn every_metric_of_the_alerts_and_dashboard_is_in_a_real_scrape() {
    // A pipeline that touches every metric family: a live source, a batched detector whose GPU
    // providers fall back to the CPU, a tracker.
    let dir = tempdir("serve-names");
    std::fs::write(
        dir.join("all.yaml"),
        format!(
            "name: all\nsources:\n  cam:\n    type: test\n    width: 320\n    height: 240\n    fps: 30\n    mode: live\n\
             models:\n  det:\n    path: {}\n    format: yolov8\n    threads: 1\n    batch_size: 2\n    max_batch_wait_ms: 5\n    providers: [cuda, cpu]\n\
             stages:\n  - type: detect\n    model: det\n  - type: track\n\
             sinks:\n  - type: jsonl\n    path: {}/all.jsonl\n",
            fixtures().join("yolov8_tiny_b.onnx").display(),
            dir.display()
        ),
    )
    .unwrap();
    let mut s = Serve::start(&dir, "", 1_000_000);
    assert!(
        s.wait_note("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        s.log_text()
    );
    let used = crate::deploy::metric_names_used();
    assert!(used.len() >= 10, "the kit uses metrics: {used:?}");
    let mut page = String::new();
    let all_there = wait_until(Duration::from_secs(20), || {
        page = s.scrape();
        used.iter().all(|n| page.contains(&format!("# TYPE {n} ")))
    });
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !page.contains(&format!("# TYPE {n} ")))
        .collect();
    assert!(
        all_there,
        "used by deploy/ but not exported: {missing:?}\n{page}"
    );
    s.signal(libc::SIGTERM);
    assert_eq!(
        s.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        s.log_text()
    );
}

#[test]
fn a_drain_past_its_deadline_exits_1_and_a_second_signal_exits_at_once() {
    // Drain deadline: the stuck sink cannot finish, so after drain_timeout_s perceptd gives up
    // with exit code 1 and names the pipeline.
    let (mut s, _held) = start_stuck("serve-deadline", 1.5);
    let t = Instant::now();
    s.signal(libc::SIGTERM);
    let code = s.wait_exit(Duration::from_secs(10));
    let took = t.elapsed();
    let log = s.log_text();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "gave up at the deadline: {took:?}"
    );
    assert!(
        log.contains("did not drain") && log.contains("stuck"),
        "{log}"
    );

    // A second signal while draining: out at once.
    let (mut s, _held) = start_stuck("serve-second", 60.0);
    s.signal(libc::SIGTERM);
    assert!(s.wait_note("STOPPING=1", Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    s.signal(libc::SIGINT);
    let code = s.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(130), "{}", s.log_text());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn under_journald_log_lines_carry_their_syslog_priority() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempdir("serve-journal");
    std::fs::write(dir.join("perceptd.yaml"), "http:\n  address: off\n").unwrap();
    let log = dir.join("journal.log");
    let f = std::fs::File::create(&log).unwrap();
    let meta = f.metadata().unwrap();
    // systemd names the journal stream stderr is connected to: device and inode.
    let mut child = perceptd()
        .args(["serve", "--config-dir"])
        .arg(&dir)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("RUST_LOG", "info")
        .stderr(f)
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("no pipeline files"))
    }));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<4> WARN") && l.contains("no pipeline files")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("<6> INFO")), "{text}");
    // No timestamp (journald stamps entries) and no colour codes.
    assert!(
        lines
            .iter()
            .all(|l| !l.contains('\x1b') && !l.contains("Z ")),
        "{text}"
    );
}

#[test]
fn a_silent_camera_without_reconnect_stops_the_watchdog_pings() {
    // A live source that delivers a frame every 3 s (identity sleeps per buffer), with
    // stall_s 1: a source read that does not end in a frame within the limit is stuck.
    let dir = tempdir("serve-silent");
    std::fs::write(
        dir.join("cam.yaml"),
        format!(
            "name: cam\nsources:\n  cam:\n    type: launch\n    mode: live\n    launch: videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! identity sleep-time=3000000\n\
             sinks:\n  - type: jsonl\n    path: {}/cam.jsonl\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut s = Serve::start(&dir, "watchdog:\n  stall_s: 1\n", 1_000_000);
    assert!(
        s.wait_note("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        s.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            &s.scrape(),
            "perceptd_watchdog_ok",
            &[]
        ) == Some(0.0)),
        "{}",
        s.log_text()
    );
    let log = s.log_text();
    assert!(log.contains("cam/source:cam busy"), "{log}");
    s.signal(libc::SIGTERM);
    assert_eq!(
        s.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        s.log_text()
    );
}

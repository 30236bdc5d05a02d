//! Small helpers shared by the integration tests.

use perceptd::config::{LibraryOrigin, OrtLibrary, SourceKind, SourceMode, SourceSpec};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The real test assets. The tests need them: unset is a failure, not a skip.
pub fn assets() -> PathBuf {
    let dir = std::env::var("PERCEPTD_ASSETS").expect(
        "PERCEPTD_ASSETS must name the folder of real test assets (see README: ../shared/assets)",
    );
    let p = PathBuf::from(dir);
    assert!(
        p.join("FastestDet.onnx").is_file(),
        "PERCEPTD_ASSETS={} has no FastestDet.onnx",
        p.display()
    );
    p
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn ort_library() -> OrtLibrary {
    let path = std::env::var("ORT_DYLIB_PATH")
        .unwrap_or_else(|_| perceptd::config::DEFAULT_ORT_LIBRARY.into());
    assert!(
        Path::new(&path).exists(),
        "ONNX Runtime library {path} missing: run the README's setup command or set ORT_DYLIB_PATH"
    );
    OrtLibrary {
        path: path.into(),
        origin: LibraryOrigin::EnvVar,
    }
}

pub fn init_ort() {
    perceptd::model::session::init(&ort_library()).expect("ONNX Runtime loads");
}

/// The perceptd binary with the test environment.
pub fn perceptd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_perceptd"));
    c.env("PERCEPTD_ASSETS", assets())
        .env("ORT_DYLIB_PATH", ort_library().path)
        .env("RUST_LOG", "warn");
    c
}

/// Runs a command that must succeed (the failure shows its stderr); its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed ({}):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("perceptd-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `f` every 50 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET path` over plain HTTP/1.0; the body, or None when nothing listens.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// The value of one sample line of a Prometheus text page, e.g.
/// `perceptd_frames_total{pipeline="p",stage="video",stream="drive"}` (labels in any order).
pub fn metric(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
        if n != name {
            return None;
        }
        let all = labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        all.then(|| value.parse().ok()).flatten()
    })
}

/// Decodes a video file with perceptd's own file source and counts its frames.
pub fn count_frames(path: &Path) -> u64 {
    let spec = SourceSpec {
        reconnect: None,
        pace: perceptd::config::Pace::Fast,
        stream: "count".into(),
        kind: SourceKind::File(path.into()),
        mode: SourceMode::Replay,
    };
    let mut src = perceptd::source::Source::open(
        &spec,
        Arc::new(AtomicBool::new(false)),
        perceptd::config::SupportPriority::Normal,
    )
    .expect("video opens");
    let mut n = 0;
    while src.next_frame().expect("video decodes").is_some() {
        n += 1;
    }
    n
}

/// Reads a gzip file whole.
pub fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Compiles a pipeline file's text (`${PERCEPTD_ASSETS}` from the test environment, relative
/// paths from `dir`) and runs it in this process with `metrics`.
pub fn run_yaml(
    yaml: &str,
    dir: &Path,
    metrics: Arc<perceptd::telemetry::Metrics>,
) -> perceptd::graph::RunReport {
    let spec = perceptd::config::load_str(yaml, dir, &|k| {
        (k == "PERCEPTD_ASSETS").then(|| assets().display().to_string())
    })
    .unwrap();
    perceptd::graph::Prepared::new(&spec, metrics, Arc::new(AtomicBool::new(false)))
        .unwrap()
        .run()
        .unwrap()
}

/// The records of a JSON Lines file; a line that does not parse fails the test.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line does not parse ({e}): {l}"))
        })
        .collect()
}

/// A 64-bit LCG (Knuth's MMIX constants): reproducible test data without crates.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        f64::from(self.next()) / f64::from(1u32 << 31)
    }
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
    pub fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

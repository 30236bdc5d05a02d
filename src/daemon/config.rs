//! The config folder of `perceptd serve`: `perceptd.yaml` for the daemon itself, every other
//! `*.yaml` / `*.yml` one pipeline. Read whole or not at all: a folder with any error is
//! rejected with every error listed.

use crate::config::{self, ConfigError, ConfigErrors, PipelineSpec};
use serde::Deserialize;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The daemon file's name inside the folder.
pub const DAEMON_FILE: &str = "perceptd.yaml";
pub const DEFAULT_DIR: &str = "/etc/perceptd";
pub const DEFAULT_HTTP: &str = "127.0.0.1:9464";

/// `perceptd.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// `/metrics`, `/healthz`, `/readyz`; `None` = off.
    pub http: Option<SocketAddr>,
    /// A tracing filter (`info`, `warn,perceptd=debug`); `RUST_LOG` wins when set.
    pub log_level: String,
    /// SIGTERM: how long the pipelines may take to drain before the process gives up.
    pub drain_timeout: Duration,
    /// A stage busy on one frame longer than this is stuck: WATCHDOG=1 stops.
    pub stall: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            http: Some(DEFAULT_HTTP.parse().expect("valid default")),
            log_level: "info".into(),
            drain_timeout: Duration::from_secs(20),
            stall: Duration::from_secs(30),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    watchdog: RawWatchdog,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawShutdown {
    drain_timeout_s: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWatchdog {
    stall_s: Option<f64>,
}

/// Parses the daemon file's text; `file` names it in errors.
pub fn parse_daemon(text: &str, file: &Path) -> Result<DaemonConfig, ConfigErrors> {
    let fail = |key: &str, message: String| ConfigErrors {
        file: file.to_path_buf(),
        errors: vec![ConfigError {
            line: config::line_of(text, key),
            key: key.into(),
            message,
        }],
    };
    let raw: RawDaemon = if text.trim().is_empty() {
        RawDaemon::default()
    } else {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            fail(
                &key,
                format!(
                    "{}; the daemon file knows http.address, log.level, shutdown.drain_timeout_s and watchdog.stall_s",
                    e.inner()
                ),
            )
        })?
    };
    let mut c = DaemonConfig::default();
    let mut errors = vec![];
    let mut err = |key: &str, message: String| {
        errors.push(ConfigError {
            line: config::line_of(text, key),
            key: key.into(),
            message,
        })
    };
    match raw.http.address.as_deref() {
        None => {}
        Some("off") => c.http = None,
        Some(a) => match a.parse() {
            Ok(addr) => c.http = Some(addr),
            Err(_) => err(
                "http.address",
                format!("`{a}` is not HOST:PORT (e.g. {DEFAULT_HTTP}) or `off`"),
            ),
        },
    }
    if let Some(l) = raw.log.level {
        match tracing_subscriber::EnvFilter::try_new(&l) {
            Ok(_) => c.log_level = l,
            Err(e) => err(
                "log.level",
                format!(
                    "`{l}` is not a log filter ({e}); use error, warn, info, debug or trace, optionally per module: `info,perceptd=debug`"
                ),
            ),
        }
    }
    let mut seconds = |key: &str, v: Option<f64>, min: f64, max: f64, into: &mut Duration| {
        if let Some(v) = v {
            if v.is_finite() && (min..=max).contains(&v) {
                *into = Duration::from_secs_f64(v);
            } else {
                err(
                    key,
                    format!("{v} is out of range; give seconds from {min} to {max}"),
                );
            }
        }
    };
    seconds(
        "shutdown.drain_timeout_s",
        raw.shutdown.drain_timeout_s,
        0.1,
        3600.0,
        &mut c.drain_timeout,
    );
    seconds(
        "watchdog.stall_s",
        raw.watchdog.stall_s,
        0.1,
        3600.0,
        &mut c.stall,
    );
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(ConfigErrors {
            file: file.to_path_buf(),
            errors,
        })
    }
}

/// One pipeline file, compiled.
#[derive(Clone)]
pub struct PipelineFile {
    pub path: PathBuf,
    pub spec: PipelineSpec,
    /// Changes when the file's bytes or a model file it names changes: a reload restarts the
    /// pipeline then, and only then.
    pub fingerprint: u64,
}

/// The whole folder.
pub struct Folder {
    pub daemon: DaemonConfig,
    pub pipelines: Vec<PipelineFile>,
}

/// Reads the folder: every error of every file, or everything.
pub fn scan(dir: &Path) -> Result<Folder, Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![format!(
            "{}: cannot read the config folder: {e}; create it or pass --config-dir",
            dir.display()
        )]
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    let mut errors = vec![];
    let mut daemon = DaemonConfig::default();
    let mut pipelines: Vec<PipelineFile> = vec![];
    for path in files {
        if path.file_name().and_then(|n| n.to_str()) == Some(DAEMON_FILE) {
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse_daemon(&text, &path) {
                    Ok(d) => daemon = d,
                    Err(e) => errors.push(e.to_string()),
                },
                Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
            }
            continue;
        }
        match config::load_file(&path) {
            Err(e) => errors.push(e.to_string()),
            Ok(spec) => {
                if let Some(other) = pipelines.iter().find(|p| p.spec.name == spec.name) {
                    errors.push(format!(
                        "{}: pipeline name `{}` is already used by {}; names label the metrics and must be unique: rename one (key `name`)",
                        path.display(),
                        spec.name,
                        other.path.display()
                    ));
                    continue;
                }
                let fingerprint = fingerprint(&path, &spec);
                pipelines.push(PipelineFile {
                    path,
                    spec,
                    fingerprint,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(Folder { daemon, pipelines })
    } else {
        Err(errors)
    }
}

/// Hash of the file's bytes and of each model file's path, size and modification time.
fn fingerprint(path: &Path, spec: &PipelineSpec) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).unwrap_or_default().hash(&mut h);
    for m in spec.models.values() {
        m.path.hash(&mut h);
        if let Ok(meta) = std::fs::metadata(&m.path) {
            meta.len().hash(&mut h);
            meta.modified().ok().hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_file_defaults_and_overrides() {
        let f = Path::new("perceptd.yaml");
        assert_eq!(parse_daemon("", f).unwrap(), DaemonConfig::default());
        let c = parse_daemon(
            "http:\n  address: off\nlog:\n  level: debug\nshutdown:\n  drain_timeout_s: 5\nwatchdog:\n  stall_s: 2.5\n",
            f,
        )
        .unwrap();
        assert_eq!(c.http, None);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.drain_timeout, Duration::from_secs(5));
        assert_eq!(c.stall, Duration::from_millis(2500));
    }

    #[test]
    fn daemon_file_errors_name_key_line_and_fix() {
        let f = Path::new("perceptd.yaml");
        let e = parse_daemon("http:\n  adress: 1.2.3.4:5\n", f).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("adress") && text.contains("http.address"),
            "{text}"
        );
        let e = parse_daemon(
            "http:\n  address: nowhere\nshutdown:\n  drain_timeout_s: -1\n",
            f,
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 2, "every error at once: {e}");
        assert_eq!(e.errors[0].key, "http.address");
        assert_eq!(e.errors[0].line, Some(2));
        assert!(e.errors[1].message.contains("seconds from"), "{e}");
    }
}

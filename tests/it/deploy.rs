//! The deployment kit under deploy/, checked with the real tools: systemd-analyze (Debian package
//! `systemd`), promtool (`prometheus`), perceptd's own parsers. A missing tool is a failure.

use crate::common;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The metrics perceptd exports: the alerts and the dashboard may use these only.
const EXPORTED: &[&str] = &[
    "perceptd_stage_duration_seconds",
    "perceptd_frame_latency_seconds",
    "perceptd_frames_total",
    "perceptd_frames_dropped_total",
    "perceptd_queue_depth",
    "perceptd_model_provider",
    "perceptd_model_provider_fallbacks_total",
    "perceptd_inference_batch_size",
    "perceptd_tracks_active",
    "perceptd_tracks_started_total",
    "perceptd_source_up",
    "perceptd_source_reconnects_total",
    "perceptd_source_last_frame_age_seconds",
    "perceptd_pipeline_up",
    "perceptd_pipeline_restarts_total",
    "perceptd_reloads_total",
    "perceptd_start_time_seconds",
    "perceptd_watchdog_ok",
];

fn deploy() -> PathBuf {
    common::repo().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `program`, or a failure naming the Debian package that provides it.
fn tool(program: &str, package: &str) -> Command {
    match Command::new(program).arg("--version").output() {
        Ok(_) => Command::new(program),
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "{program} not found: the deploy tests need it; install the Debian package `{package}` (apt-get install {package})"
        ),
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

/// Runs `cmd`; its stdout and stderr together, with the exit status checked.
fn run_ok(cmd: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    assert!(status.success(), "{cmd:?} failed ({status}):\n{text}");
    text
}

/// A copy of the unit whose ExecStart names the perceptd just built (systemd-analyze verify wants
/// an existing executable), with the GPU drop-in next to it when `gpu`.
fn unit_copy(name: &str, gpu: bool) -> (PathBuf, PathBuf) {
    let dir = common::tempdir(name);
    let unit = read(&deploy().join("systemd/perceptd.service"));
    let from = "ExecStart=/usr/local/bin/perceptd ";
    assert!(unit.contains(from), "the unit has no `{from}` line");
    let unit = unit.replace(
        from,
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_perceptd")),
    );
    let path = dir.join("perceptd.service");
    std::fs::write(&path, unit).unwrap();
    if gpu {
        let d = dir.join("perceptd.service.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(
            deploy().join("systemd/perceptd-gpu.conf"),
            d.join("gpu.conf"),
        )
        .unwrap();
    }
    (dir, path)
}

#[test]
fn systemd_unit_verifies() {
    for gpu in [false, true] {
        let (dir, unit) = unit_copy(if gpu { "verify-gpu" } else { "verify" }, gpu);
        // Exit 0 even for unknown keys or bad values: those are warnings naming the file, and
        // any line about our files fails the test. Lines about the host's units are ignored.
        let text = run_ok(
            tool("systemd-analyze", "systemd")
                .args(["verify", "--no-pager"])
                .arg(&unit)
                .env("SYSTEMD_COLORS", "0"),
        );
        let ours: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains(dir.to_str().unwrap())
                    || l.contains("perceptd.service")
                    || l.contains("gpu.conf")
            })
            .collect();
        assert!(
            ours.is_empty(),
            "systemd-analyze verify {} (gpu drop-in: {gpu}) complains:\n{}\n\nfull output:\n{text}",
            unit.display(),
            ours.join("\n")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn systemd_unit_exposure_at_most_2() {
    for gpu in [false, true] {
        let (dir, unit) = unit_copy(if gpu { "security-gpu" } else { "security" }, gpu);
        let text = run_ok(
            tool("systemd-analyze", "systemd")
                .args(["security", "--offline=true", "--no-pager"])
                .arg(unit)
                .env("SYSTEMD_COLORS", "0"),
        );
        // "→ Overall exposure level for perceptd.service: 1.6 OK 🙂"
        let score: f64 = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .and_then(|l| l.rsplit_once(": "))
            .and_then(|(_, r)| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
        eprintln!("systemd-analyze security (gpu drop-in: {gpu}): exposure {score}");
        assert!(
            score <= 2.0,
            "exposure {score} is above 2.0 (gpu drop-in: {gpu}):\n{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn prometheus_config_and_rules_check() {
    let dir = deploy().join("prometheus");
    run_ok(
        tool("promtool", "prometheus")
            .args(["check", "config"])
            .arg(dir.join("prometheus.yml")),
    );
    let text = run_ok(
        tool("promtool", "prometheus")
            .args(["check", "rules"])
            .arg(dir.join("alerts.yml")),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn prometheus_alert_tests_pass() {
    let text = run_ok(
        tool("promtool", "prometheus")
            .args(["test", "rules", "alerts_test.yml"])
            .current_dir(deploy().join("prometheus")),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Every `perceptd_*` metric name in the alerts and the dashboard (expressions, descriptions and
/// comments alike), histogram series (`_bucket`, `_sum`, `_count`) under their base name.
pub fn metric_names_used() -> BTreeSet<String> {
    ["prometheus/alerts.yml", "grafana/perceptd.json"]
        .iter()
        .flat_map(|f| metric_names_in(&read(&deploy().join(f))))
        .collect()
}

fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    for (i, _) in text.match_indices("perceptd_") {
        if text[..i].chars().next_back().is_some_and(word) {
            continue; // inside a longer word
        }
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches('_');
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(base.to_string());
    }
    names
}

#[test]
fn kit_uses_only_exported_metrics() {
    let exported: BTreeSet<String> = EXPORTED.iter().map(|s| s.to_string()).collect();
    let used = metric_names_used();
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "deploy/ uses metrics perceptd does not export: {unknown:?}"
    );
    // The dashboard shows each of them.
    let shown = metric_names_in(&read(&deploy().join("grafana/perceptd.json")));
    let missing: Vec<&String> = exported.difference(&shown).collect();
    assert!(missing.is_empty(), "no dashboard panel shows {missing:?}");
}

#[test]
fn grafana_dashboard_parses() {
    let path = deploy().join("grafana/perceptd.json");
    let d: serde_json::Value = serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion"
    );
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no template variable `{name}`"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert_eq!(
        var("pipeline")["definition"],
        "label_values(perceptd_frames_total, pipeline)"
    );
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate id at {title}"
        );
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "{title}: gridPos.{k}");
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "{title}: datasource"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| e.contains("perceptd_")),
                "{title}: query {t}"
            );
        }
    }
}

#[test]
fn grafana_queries_are_promql() {
    // Every query, with Grafana's variables filled in, as a recording rule for promtool to parse.
    let d: serde_json::Value =
        serde_json::from_str(&read(&deploy().join("grafana/perceptd.json"))).unwrap();
    let mut rules = vec![];
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m")
                .replace("$pipeline", ".*");
            rules.push(serde_json::json!({"record": format!("panel_{}_{}", p["id"], t["refId"].as_str().unwrap()), "expr": expr}));
        }
    }
    let dir = common::tempdir("grafana-promql");
    let file = dir.join("queries.yml");
    let doc = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, doc.to_string()).unwrap(); // JSON is YAML
    run_ok(
        tool("promtool", "prometheus")
            .args(["check", "rules"])
            .arg(&file),
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Each YAML document of a file, as a value.
fn yaml_docs(path: &Path) -> Vec<serde_yaml_ng::Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            serde_yaml_ng::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
        })
        .collect()
}

fn daemon_file(text: &str, origin: &str) -> perceptd::daemon::config::DaemonConfig {
    perceptd::daemon::config::parse_daemon(text, Path::new(origin))
        .unwrap_or_else(|e| panic!("{origin} is not a valid perceptd.yaml:\n{e}"))
}

/// The `KEY=VALUEs` of the unit, in seconds.
fn unit_seconds(key: &str) -> f64 {
    let unit = read(&deploy().join("systemd/perceptd.service"));
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.trim().strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the unit has no {key}=<N>s"))
}

#[test]
fn daemon_files_parse_and_fit_the_timeouts() {
    let example = read(&deploy().join("config/perceptd.yaml"));
    let c = daemon_file(&example, "deploy/config/perceptd.yaml");
    assert_eq!(
        c.http,
        Some("127.0.0.1:9464".parse::<SocketAddr>().unwrap())
    );
    // The Dockerfile rewrites exactly this line to 0.0.0.0:9464.
    assert!(example.contains("\n  address: 127.0.0.1:9464\n"));
    let stop = unit_seconds("TimeoutStopSec");
    assert!(
        c.drain_timeout.as_secs_f64() < stop,
        "drain_timeout_s must stay under TimeoutStopSec={stop}s"
    );
    assert!(
        c.stall.as_secs_f64() <= unit_seconds("WatchdogSec"),
        "watchdog.stall_s"
    );
}

#[test]
fn k8s_manifests_parse() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut kinds = BTreeSet::new();
    let mut pipelines = vec![];
    for f in &files {
        for d in yaml_docs(f) {
            let what = format!("{} ({:?})", f.display(), d.get("kind"));
            for k in ["apiVersion", "kind"] {
                assert!(
                    d.get(k).and_then(|v| v.as_str()).is_some(),
                    "{what}: no {k}"
                );
            }
            assert!(
                d.get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(|v| v.as_str())
                    .is_some(),
                "{what}: no metadata.name"
            );
            let kind = d["kind"].as_str().unwrap().to_string();
            if kind == "ConfigMap" {
                for (k, v) in d["data"].as_mapping().expect("ConfigMap data") {
                    let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap());
                    if k == "perceptd.yaml" {
                        let c = daemon_file(v, &format!("{what} data.{k}"));
                        let http = Some("0.0.0.0:9464".parse::<SocketAddr>().unwrap());
                        assert_eq!(c.http, http, "{what}");
                        assert!(c.drain_timeout.as_secs() < 40, "{what}: drain_timeout_s");
                    } else if k.ends_with(".yaml") {
                        pipelines.push((format!("{what} data.{k}"), v.to_string()));
                    }
                }
            }
            if let Some(grace) = d
                .get("spec")
                .and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec"))
                .and_then(|s| s.get("terminationGracePeriodSeconds"))
            {
                assert!(
                    grace.as_u64().is_some_and(|g| g > 20),
                    "{what}: grace period"
                );
            }
            kinds.insert(kind);
        }
    }
    for k in [
        "Deployment",
        "Service",
        "ServiceMonitor",
        "Job",
        "ConfigMap",
        "Kustomization",
    ] {
        assert!(kinds.contains(k), "no {k} in deploy/k8s");
    }
    // The pipelines in the ConfigMaps are valid perceptd pipelines: `check --offline` with the
    // models from the assets, the pod's variables set as the pods set them.
    assert!(pipelines.len() >= 2, "{pipelines:?}");
    let tmp = common::tempdir("k8s-pipelines");
    std::fs::write(tmp.join("camera-password"), "secret\n").unwrap();
    let assets = common::assets();
    for (what, text) in pipelines {
        let file = tmp.join("pipeline.yaml");
        let text = text.replace(
            "/opt/perceptd/models/",
            &format!("{}/", assets.to_str().unwrap()),
        );
        std::fs::write(&file, text).unwrap();
        let out = common::perceptd()
            .args(["check", "--offline"])
            .arg(&file)
            .env("CREDENTIALS_DIRECTORY", &tmp)
            .env("DRIVE", assets.join("solidWhiteRight.mp4"))
            .env("OUT", &tmp)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: perceptd check --offline {} failed:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(tmp);
}

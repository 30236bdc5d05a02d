//! Raw values -> [`PipelineSpec`]: each component read on its own so that one bad component
//! does not hide the errors of the others, then references, files and ranges checked.

use super::raw::*;
use super::spec::*;
use super::{Diagnostics, parse_component, resolve};
use crate::track::TrackOptions;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::Path;

const TOP_KEYS: &[&str] = &[
    "name", "runtime", "sources", "models", "stages", "sinks", "edges",
];
const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// Reads a component's `type:` key; returns the type (one of `allowed`) and the other fields.
fn tagged(
    v: &Value,
    path: &str,
    allowed: &[&'static str],
    diag: &mut Diagnostics,
) -> Option<(&'static str, Value)> {
    let Value::Mapping(m) = v else {
        diag.error(
            path.to_string(),
            format!(
                "must be a mapping with a `type:` key ({})",
                allowed.join(", ")
            ),
        );
        return None;
    };
    let Some(t) = m.get("type") else {
        diag.error(
            path.to_string(),
            format!("missing `type:`; use one of {}", allowed.join(", ")),
        );
        return None;
    };
    let Some(kind) = allowed.iter().find(|a| t.as_str() == Some(**a)) else {
        let shown = t
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{t:?}"));
        diag.error(
            format!("{path}.type"),
            format!("unknown type `{shown}`; use one of {}", allowed.join(", ")),
        );
        return None;
    };
    let mut rest = m.clone();
    rest.remove("type");
    Some((kind, Value::Mapping(rest)))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn compile(
    root: &Value,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<PipelineSpec> {
    let Value::Mapping(map) = root else {
        diag.error("", "a pipeline file is a YAML mapping with `name`, `sources`, `models`, `stages` and `sinks`");
        return None;
    };
    for k in map.keys() {
        let key = super::lines::key_text(k);
        if !TOP_KEYS.contains(&key.as_str()) {
            diag.error(
                key.clone(),
                format!(
                    "unknown key `{key}`; the top-level keys are {}",
                    TOP_KEYS.join(", ")
                ),
            );
        }
    }
    let get = |k: &str| map.get(k);

    let name = match get("name") {
        Some(Value::String(s)) if valid_name(s) => Some(s.clone()),
        Some(_) => {
            diag.error(
                "name",
                "the pipeline name must be letters, digits, `_` or `-` (it becomes a metric label)",
            );
            None
        }
        None => {
            diag.error(
                "name",
                "missing; add `name: my-pipeline` (it becomes the `pipeline` metric label)",
            );
            None
        }
    };

    let runtime: RawRuntime = match get("runtime") {
        Some(v) => parse_component(v, "runtime", diag).unwrap_or_default(),
        None => RawRuntime::default(),
    };
    let ort_library = ort_library(&runtime, base, env, diag);
    let metrics_addr = match runtime.metrics_addr.as_deref() {
        Some("off") => None,
        Some(a) => {
            match a.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    diag.error("runtime.metrics_addr", format!("`{a}` is not an address; write HOST:PORT such as 127.0.0.1:9464, or `off`"));
                    None
                }
            }
        }
        None => DEFAULT_METRICS_ADDR.parse().ok(),
    };

    let support_priority = runtime.support_priority.unwrap_or(SupportPriority::Low);
    let mut cuda_libraries = vec![];
    for (i, d) in runtime.cuda_libraries.iter().flatten().enumerate() {
        let dir = resolve(base, d);
        if !dir.is_dir() {
            diag.error(
                format!("runtime.cuda_libraries[{i}]"),
                format!("{} is not a folder; list the folders that hold libcudart, libcublas, libcudnn and libnvinfer (for example site-packages/nvidia/*/lib of the CUDA wheels), or remove the entry", dir.display()),
            );
        }
        cuda_libraries.push(dir);
    }
    let source = sources(get("sources"), base, env, diag);
    let models = models(get("models"), base, diag);
    let stages = stages(get("stages"), &models, diag);
    let (stages, track) = match stages {
        Some((s, t)) => (Some(s), t),
        None => (None, None),
    };
    let sinks = sinks(get("sinks"), base, diag);

    let edges: RawEdges = match get("edges") {
        Some(v) => parse_component(v, "edges", diag).unwrap_or_default(),
        None => RawEdges::default(),
    };
    // Live sources hold one frame per edge: a frame waits for at most the one being worked on,
    // which bounds the latency at about twice the slowest stage. Replay keeps 4 to pipeline.
    let all_live = source
        .as_deref()
        .is_some_and(|s| s.iter().all(|s| s.mode == SourceMode::Live));
    let capacity = edges.capacity.unwrap_or(if all_live { 1 } else { 4 });
    if capacity == 0 {
        diag.error(
            "edges.capacity",
            "must be at least 1 (frames an edge holds)",
        );
    }
    // One live source: every edge keeps the newest frames. Several sources: each has its own
    // entrance edge under its own mode, and the shared edges after it block (lossless once a
    // frame is admitted), so a live stream never costs a replayed one a frame.
    let default_policy = match source.as_deref() {
        Some([one]) if one.mode == SourceMode::Live => WhenFull::DropOldest,
        _ => WhenFull::Block,
    };
    let default = EdgeSpec {
        capacity,
        when_full: edges.when_full.unwrap_or(default_policy),
    };
    let mut into = BTreeMap::new();
    for (stage, e) in &edges.into {
        if e.capacity == Some(0) {
            diag.error(
                format!("edges.into.{stage}.capacity"),
                "must be at least 1 (frames an edge holds)",
            );
        }
        into.insert(
            stage.clone(),
            EdgeSpec {
                capacity: e.capacity.unwrap_or(default.capacity),
                when_full: e.when_full.unwrap_or(default.when_full),
            },
        );
    }
    let edges = EdgesSpec { default, into };

    let spec = PipelineSpec {
        name: name?,
        ort_library,
        metrics_addr,
        support_priority,
        cuda_libraries,
        sources: source?,
        models: models?,
        stages: stages?,
        track,
        sinks: sinks?,
        edges,
    };
    if spec.sources.len() > 1 {
        for (i, s) in spec.sinks.iter().enumerate() {
            if s.per_stream() && !s.path().to_string_lossy().contains("{stream}") {
                diag.error(
                    format!("sinks[{i}].path"),
                    format!(
                        "{} sources write one {} file each: put `{{stream}}` in the path (e.g. out/{{stream}}.{})",
                        spec.sources.len(),
                        s.kind(),
                        if s.kind() == "video" { "mp4" } else { "mot.txt" }
                    ),
                );
            }
        }
    }
    if spec.track.is_none()
        && let Some(i) = spec
            .sinks
            .iter()
            .position(|s| matches!(s, SinkSpec::Mot { .. }))
    {
        diag.error(
            format!("sinks[{i}]"),
            "a `mot` sink writes tracks, and this pipeline has none: add `- type: track` at the end of `stages`",
        );
    }
    let names = spec.stage_names();
    for stage in spec.edges.into.keys() {
        if !names.contains(stage) {
            diag.error(
                format!("edges.into.{stage}"),
                format!(
                    "no stage `{stage}` in this pipeline; its stages are {}",
                    names.join(", ")
                ),
            );
        }
    }
    Some(spec)
}

fn ort_library(
    rt: &RawRuntime,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> OrtLibrary {
    if let Some(p) = &rt.onnxruntime {
        let path = resolve(base, p);
        if !path.is_file() {
            diag.error(
                "runtime.onnxruntime",
                format!("{} does not exist; point it at libonnxruntime.so (from the PyPI wheel onnxruntime==1.31.1) or remove the key", path.display()),
            );
        }
        return OrtLibrary {
            path,
            origin: LibraryOrigin::PipelineFile,
        };
    }
    match env("ORT_DYLIB_PATH").filter(|s| !s.is_empty()) {
        Some(p) => OrtLibrary {
            path: p.into(),
            origin: LibraryOrigin::EnvVar,
        },
        None => OrtLibrary {
            path: DEFAULT_ORT_LIBRARY.into(),
            origin: LibraryOrigin::Default,
        },
    }
}

fn sources(
    v: Option<&Value>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<Vec<SourceSpec>> {
    let Some(Value::Mapping(map)) = v else {
        diag.error(
            "sources",
            "missing or not a mapping; add `sources: {cam: {type: file, path: drive.mp4}}`",
        );
        return None;
    };
    if map.is_empty() {
        diag.error(
            "sources",
            "is empty; add at least one, e.g. `sources: {cam: {type: file, path: drive.mp4}}`",
        );
        return None;
    }
    let mut out = vec![];
    let mut ok = true;
    for (k, v) in map {
        let stream = super::lines::key_text(k);
        let path = format!("sources.{stream}");
        if !valid_name(&stream) {
            diag.error(
                path.clone(),
                "a stream id is letters, digits, `_` or `-` (it becomes a metric label)",
            );
        }
        // `pace` is common to every kind: taken out before the kind's own keys are read.
        let mut pace_raw = None;
        let tagged = tagged(
            v,
            &path,
            &["file", "image", "test", "launch", "rtsp", "uri", "v4l2"],
            diag,
        )
        .map(|(kind, mut rest)| {
            if let Value::Mapping(m) = &mut rest {
                pace_raw = m.remove("pace");
            }
            (kind, rest)
        });
        let raw = match tagged {
            Some(("uri", rest)) => parse_component(&rest, &path, diag).map(RawSource::Uri),
            Some(("v4l2", rest)) => parse_component(&rest, &path, diag).map(RawSource::V4l2),
            Some(("file", rest)) => parse_component(&rest, &path, diag).map(RawSource::File),
            Some(("rtsp", rest)) => parse_component(&rest, &path, diag).map(RawSource::Rtsp),
            Some(("image", rest)) => parse_component(&rest, &path, diag).map(RawSource::Image),
            Some(("test", rest)) => parse_component(&rest, &path, diag).map(RawSource::Test),
            Some((_, rest)) => parse_component(&rest, &path, diag).map(RawSource::Launch),
            None => None,
        };
        let Some(raw) = raw else {
            ok = false;
            continue;
        };
        let mut reconnect = None;
        let (kind, mode) = match raw {
            RawSource::Uri(u) => {
                // The same keys as RTSP, but for uridecodebin.
                let r = RtspSource {
                    url: u.uri,
                    transport: None,
                    latency_ms: None,
                    username: u.username,
                    password_env: u.password_env,
                    password_file: u.password_file,
                    stall_timeout_s: u.stall_timeout_s,
                    reconnect_min_s: u.reconnect_min_s,
                    reconnect_max_s: u.reconnect_max_s,
                    mode: u.mode,
                };
                let mode = r.mode.unwrap_or(SourceMode::Live);
                let rc = reconnect_spec(&r, &path, diag);
                // Live streams are supervised; a replayed file ends at its end.
                reconnect = (mode == SourceMode::Live).then_some(rc);
                match net_spec(&r, URI_SCHEMES, &path, base, env, diag) {
                    Some(k) => (SourceKind::Uri(k), mode),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            RawSource::V4l2(v) => {
                let r = RtspSource {
                    url: String::new(),
                    transport: None,
                    latency_ms: None,
                    username: None,
                    password_env: None,
                    password_file: None,
                    stall_timeout_s: v.stall_timeout_s,
                    reconnect_min_s: v.reconnect_min_s,
                    reconnect_max_s: v.reconnect_max_s,
                    mode: v.mode,
                };
                reconnect = Some(reconnect_spec(&r, &path, diag));
                if v.width == Some(0) || v.height == Some(0) || v.fps == Some(0) {
                    diag.error(path.clone(), "width, height and fps must be above 0");
                }
                (
                    SourceKind::V4l2 {
                        device: v.device.into(),
                        width: v.width,
                        height: v.height,
                        fps: v.fps,
                    },
                    v.mode.unwrap_or(SourceMode::Live),
                )
            }
            RawSource::Rtsp(r) => {
                reconnect = Some(reconnect_spec(&r, &path, diag));
                match rtsp_spec(&r, &path, base, env, diag) {
                    Some(k) => (SourceKind::Rtsp(k), r.mode.unwrap_or(SourceMode::Live)),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            RawSource::File(FileSource { path: p, mode }) => {
                let file = resolve(base, &p);
                readable_file(&file, &format!("{path}.path"), "a video file", diag);
                (SourceKind::File(file), mode.unwrap_or(SourceMode::Replay))
            }
            RawSource::Image(ImageSource {
                path: p,
                repeat,
                fps,
                mode,
            }) => {
                let file = resolve(base, &p);
                readable_file(&file, &format!("{path}.path"), "a JPEG or PNG file", diag);
                let (repeat, fps) = (repeat.unwrap_or(1), fps.unwrap_or(1));
                if repeat == 0 || repeat > i32::MAX as u64 {
                    diag.error(
                        format!("{path}.repeat"),
                        "must be 1 or more (frames made of the image)",
                    );
                }
                if fps == 0 {
                    diag.error(format!("{path}.fps"), "must be above 0");
                }
                (
                    SourceKind::Image {
                        path: file,
                        repeat,
                        fps,
                    },
                    mode.unwrap_or(SourceMode::Replay),
                )
            }
            RawSource::Test(TestSource {
                pattern,
                num_frames,
                width,
                height,
                fps,
                mode,
            }) => {
                let (w, h, f) = (
                    width.unwrap_or(640),
                    height.unwrap_or(480),
                    fps.unwrap_or(30),
                );
                if w == 0 || h == 0 || f == 0 {
                    diag.error(path.clone(), "width, height and fps must be above 0");
                }
                let kind = SourceKind::Test {
                    pattern: pattern.unwrap_or_else(|| "smpte".into()),
                    num_frames,
                    width: w,
                    height: h,
                    fps: f,
                };
                (kind, mode.unwrap_or(SourceMode::Replay))
            }
            RawSource::Launch(LaunchSource { launch, mode }) => {
                if launch.trim().is_empty() {
                    diag.error(
                        format!("{path}.launch"),
                        "empty; write a gst-launch-1.0 fragment that ends in raw video",
                    );
                }
                (SourceKind::Launch(launch), mode.unwrap_or(SourceMode::Live))
            }
        };
        let pace = match &pace_raw {
            None => Pace::Fast,
            Some(p) => match parse_component::<Pace>(p, &format!("{path}.pace"), diag) {
                Some(p) => p,
                None => {
                    ok = false;
                    Pace::Fast
                }
            },
        };
        if pace == Pace::Realtime && mode == SourceMode::Live {
            diag.error(
                format!("{path}.pace"),
                "a live source comes at its own pace; `pace: realtime` is for `mode: replay`",
            );
            ok = false;
        }
        out.push(SourceSpec {
            stream,
            kind,
            mode,
            reconnect,
            pace,
        });
    }
    ok.then_some(out)
}

/// Splits `rtsp://user:password@host/path` into the URL without credentials and the
/// percent-decoded user and password. Errors never quote the credentials.
#[cfg(test)]
pub(crate) fn split_rtsp_url(
    url: &str,
) -> Result<(String, Option<String>, Option<String>), String> {
    split_url(url, RTSP_SCHEMES)
}

const RTSP_SCHEMES: &[&str] = &["rtsp", "rtsps", "rtspt"];
const URI_SCHEMES: &[&str] = &["http", "https", "file"];

/// As [`split_rtsp_url`], for a URL whose scheme is one of `schemes`.
fn split_url(
    url: &str,
    schemes: &[&str],
) -> Result<(String, Option<String>, Option<String>), String> {
    let example = format!("{}://host[:port]/path", schemes[0]);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("is not a URL; write {example}"));
    };
    if !schemes.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "has scheme `{scheme}`; this source takes {}",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if scheme.eq_ignore_ascii_case("file") {
        return Ok((url.to_string(), None, None));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("has no host; write {example}"));
    }
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (name, pw) = match u.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (u, None),
            };
            (Some(percent_decode(name)), pw.map(percent_decode))
        }
    };
    Ok((format!("{scheme}://{host}{tail}"), user, password))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rtsp_spec(
    r: &RtspSource,
    path: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<RtspSpec> {
    net_spec(r, RTSP_SCHEMES, path, base, env, diag)
}

/// The URL and credentials of a network source whose URL has one of `schemes`.
fn net_spec(
    r: &RtspSource,
    schemes: &[&str],
    path: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diag: &mut Diagnostics,
) -> Option<RtspSpec> {
    let key = if schemes == RTSP_SCHEMES {
        "url"
    } else {
        "uri"
    };
    // A bad URL is reported, and the other keys are still checked.
    let (url, mut username, mut password) = match split_url(&r.url, schemes) {
        Ok(x) => x,
        Err(why) => {
            diag.error(
                format!("{path}.{key}"),
                format!("`{}` {why}", redact_url(&r.url)),
            );
            (String::new(), None, None)
        }
    };
    if let Some(u) = &r.username {
        username = Some(u.clone());
    }
    if r.password_env.is_some() && r.password_file.is_some() {
        diag.error(
            format!("{path}.password_file"),
            "give the password one way: `password_env` or `password_file`, not both",
        );
    }
    if let Some(var) = &r.password_env {
        match env(var) {
            Some(v) if !v.is_empty() => password = Some(v),
            _ => diag.error(
                format!("{path}.password_env"),
                format!("environment variable `{var}` is not set (or empty); export it, or use `password_file`"),
            ),
        }
    }
    if let Some(f) = &r.password_file {
        let file = resolve(base, f);
        match std::fs::read_to_string(&file) {
            // An empty file is no password: the unit's fallback when no credential is installed.
            Ok(v) => {
                let v = v.trim_end_matches(['\n', '\r']);
                if !v.is_empty() {
                    password = Some(v.to_string());
                }
            }
            Err(e) => diag.error(
                format!("{path}.password_file"),
                format!("cannot read {}: {e}; give a readable file holding only the password (under systemd: LoadCredential=NAME:/path in the unit and `password_file: ${{CREDENTIALS_DIRECTORY}}/NAME` here)", file.display()),
            ),
        }
    }
    if password.is_some() && username.is_none() {
        diag.error(
            format!("{path}.username"),
            "a password without a user name; put `user:password@` in the URL or set `username`",
        );
    }
    if url.is_empty() {
        return None;
    }
    Some(RtspSpec {
        url,
        username,
        password: password.map(Secret),
        transport: r.transport.unwrap_or(RtspTransport::Tcp),
        latency_ms: r.latency_ms.unwrap_or(200),
    })
}

/// `rtsp://***@host/...` for any URL with user information, for messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

fn reconnect_spec(r: &RtspSource, path: &str, diag: &mut Diagnostics) -> ReconnectSpec {
    let mut secs = |key: &str, v: Option<f64>, default: f64| -> std::time::Duration {
        let v = v.unwrap_or(default);
        if !(v.is_finite() && v > 0.0 && v < 86_400.0) {
            diag.error(
                format!("{path}.{key}"),
                format!("{v} is not a time; give seconds above 0"),
            );
            return std::time::Duration::from_secs_f64(default);
        }
        std::time::Duration::from_secs_f64(v)
    };
    let stall_timeout = secs("stall_timeout_s", r.stall_timeout_s, 5.0);
    let min_delay = secs("reconnect_min_s", r.reconnect_min_s, 0.5);
    let max_delay = secs("reconnect_max_s", r.reconnect_max_s, 4.0);
    if max_delay < min_delay {
        diag.error(
            format!("{path}.reconnect_max_s"),
            "is below reconnect_min_s; the delay grows from the minimum up to the maximum",
        );
    }
    ReconnectSpec {
        stall_timeout,
        min_delay,
        max_delay,
    }
}

fn models(
    v: Option<&Value>,
    base: &Path,
    diag: &mut Diagnostics,
) -> Option<BTreeMap<String, ModelSpec>> {
    let mut out = BTreeMap::new();
    let map = match v {
        None | Some(Value::Null) => return Some(out),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            diag.error("models", "must be a mapping of model name -> model");
            return None;
        }
    };
    let mut ok = true;
    for (k, v) in map {
        let name = super::lines::key_text(k);
        let key = format!("models.{name}");
        let Some(raw) = parse_component::<RawModel>(v, &key, diag) else {
            ok = false;
            continue;
        };
        match model(name, &key, raw, base, diag) {
            Some(m) => {
                out.insert(m.name.clone(), m);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Reports `file` when it cannot be read or is a folder (`what` says what it should be).
fn readable_file(file: &Path, key: &str, what: &str, diag: &mut Diagnostics) {
    if let Err(e) = std::fs::File::open(file) {
        diag.error(
            key.to_string(),
            format!("cannot read {}: {e}; check the path", file.display()),
        );
    } else if file.is_dir() {
        diag.error(
            key.to_string(),
            format!("{} is a folder; name {what}", file.display()),
        );
    }
}

fn raw_has_trt_settings(t: &RawTensorrt) -> bool {
    t.fp16.is_some()
        || t.engine_cache.is_some()
        || t.workspace_mb.is_some()
        || t.min_batch.is_some()
        || t.opt_batch.is_some()
        || t.max_batch.is_some()
}

fn model(
    name: String,
    key: &str,
    raw: RawModel,
    base: &Path,
    diag: &mut Diagnostics,
) -> Option<ModelSpec> {
    let before = diag.errors.len();
    let path = resolve(base, &raw.path);
    if !path.is_file() {
        diag.error(format!("{key}.path"), format!("model file {} not found; check the path (relative paths start at the pipeline file's folder)", path.display()));
    }
    let classes = match raw.classes {
        None => None,
        Some(RawClasses::List(l)) => Some(l),
        Some(RawClasses::File(f)) => {
            let file = resolve(base, &f);
            match std::fs::read_to_string(&file) {
                Ok(t) => Some(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect(),
                ),
                Err(e) => {
                    diag.error(format!("{key}.classes"), format!("cannot read class names from {}: {e}; give a file with one name a line, or a list", file.display()));
                    None
                }
            }
        }
    };
    if let Some(c) = &classes
        && c.is_empty()
    {
        diag.error(
            format!("{key}.classes"),
            "no class names; give at least one",
        );
    }
    for (field, v) in [
        ("score_threshold", raw.score_threshold),
        ("nms_iou", raw.nms_iou),
    ] {
        if let Some(x) = v
            && !(x > 0.0 && x <= 1.0)
        {
            diag.error(
                format!("{key}.{field}"),
                format!("{x} is out of range; use a value in (0, 1]"),
            );
        }
    }
    if raw.threads == Some(0) {
        diag.error(
            format!("{key}.threads"),
            "must be at least 1, or left out to use every core",
        );
    }
    let providers = raw.providers.unwrap_or_else(|| vec![Provider::Cpu]);
    if providers.is_empty() {
        diag.error(
            format!("{key}.providers"),
            "empty; list execution providers in order, e.g. [cuda, cpu]",
        );
    }
    let i = raw.input;
    if let Some(std) = i.std
        && std.contains(&0.0)
    {
        diag.error(
            format!("{key}.input.std"),
            "a standard deviation of 0 divides by zero; use 1 for none",
        );
    }
    if i.width == Some(0) || i.height == Some(0) {
        diag.error(format!("{key}.input"), "width and height must be above 0");
    }
    if raw.decoded_in_graph.is_some() && raw.format != DetectFormat::Yolox {
        diag.error(
            format!("{key}.decoded_in_graph"),
            "applies to `format: yolox` only; remove it",
        );
    }
    if raw.format == DetectFormat::FasterRcnn && classes.is_none() {
        diag.error(
            format!("{key}.classes"),
            "faster_rcnn models carry no class names and their labels index a list that starts with the background (torchvision's COCO list has 91 entries, `__background__` first and `N/A` in the gaps); give that list, or a file with one name a line",
        );
    }
    let batch_size = raw.batch_size.unwrap_or(1);
    if !(1..=256).contains(&batch_size) {
        diag.error(
            format!("{key}.batch_size"),
            format!("{batch_size} is out of range; use 1 (no batching) to 256"),
        );
    }
    if raw.max_batch_wait_ms.is_some_and(|w| w > 10_000) {
        diag.error(
            format!("{key}.max_batch_wait_ms"),
            "above 10000 ms; a batch should wait milliseconds, not seconds",
        );
    }
    let rt = raw.tensorrt.unwrap_or_default();
    if raw_has_trt_settings(&rt) && !providers.contains(&Provider::Tensorrt) {
        diag.error(
            format!("{key}.tensorrt"),
            "TensorRT settings but `tensorrt` is not among the providers; add it (e.g. providers: [tensorrt, cuda, cpu]) or remove the section",
        );
    }
    let profile = match (rt.min_batch, rt.opt_batch, rt.max_batch) {
        (None, None, None) => None,
        (min, opt, max) => {
            let p = [
                min.unwrap_or(1),
                opt.unwrap_or(batch_size),
                max.unwrap_or(batch_size.max(opt.unwrap_or(1))),
            ];
            if !(p[0] >= 1 && p[0] <= p[1] && p[1] <= p[2] && p[2] >= batch_size) {
                diag.error(
                    format!("{key}.tensorrt"),
                    format!("min_batch {} <= opt_batch {} <= max_batch {} must hold, with max_batch at least batch_size {batch_size}", p[0], p[1], p[2]),
                );
            }
            Some(p)
        }
    };
    if rt.workspace_mb == Some(0) {
        diag.error(
            format!("{key}.tensorrt.workspace_mb"),
            "must be above 0, or left out for TensorRT's default",
        );
    }
    let tensorrt = TensorrtSpec {
        fp16: rt.fp16.unwrap_or(true),
        engine_cache: rt.engine_cache.as_deref().map(|p| resolve(base, p)),
        workspace_mb: rt.workspace_mb,
        profile,
    };
    let segmentation = raw.format == DetectFormat::Segmentation;
    if !segmentation && (raw.heads.is_some() || raw.upsample.is_some()) {
        diag.error(
            format!("{key}.heads"),
            "`heads` and `upsample` apply to `format: segmentation` only; remove them",
        );
    }
    let mut heads = None;
    if let Some(list) = raw.heads {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = vec![];
        for (i, h) in list.into_iter().enumerate() {
            let hk = format!("{key}.heads[{i}]");
            if !seen.insert(h.output.clone()) {
                diag.error(
                    format!("{hk}.output"),
                    format!("output `{}` is listed twice; list each head once", h.output),
                );
            }
            if let Some(a) = h.alpha
                && !(0.0..=1.0).contains(&a)
            {
                diag.error(
                    format!("{hk}.alpha"),
                    format!("{a} is out of range; use 0 (invisible) to 1 (opaque)"),
                );
            }
            if let (Some(c), Some(k)) = (&h.classes, &h.colors)
                && c.len() != k.len()
            {
                diag.error(
                    format!("{hk}.colors"),
                    format!(
                        "{} colours for {} classes; give one per class (null leaves a class unpainted)",
                        k.len(),
                        c.len()
                    ),
                );
            }
            out.push(HeadSpec {
                output: h.output,
                classes: h.classes,
                colors: h.colors,
                alpha: h.alpha,
            });
        }
        if out.is_empty() {
            diag.error(
                format!("{key}.heads"),
                "empty; list the outputs to read, or leave `heads` out to read every output",
            );
        }
        heads = Some(out);
    }
    if diag.errors.len() > before {
        return None;
    }
    Some(ModelSpec {
        name,
        path,
        format: raw.format,
        classes,
        input: InputOverrides {
            width: i.width,
            height: i.height,
            resize: i.resize,
            pad_value: i.pad_value,
            color: i.color,
            scale: i.scale,
            mean: i.mean,
            std: i.std,
        },
        score_threshold: raw.score_threshold,
        nms_iou: raw.nms_iou.unwrap_or(0.45),
        max_detections: raw.max_detections.unwrap_or(300),
        keep_classes: raw.keep_classes,
        providers,
        device_id: raw.device_id.unwrap_or(0),
        threads: raw.threads,
        decoded_in_graph: raw.decoded_in_graph,
        batch_size,
        max_batch_wait: std::time::Duration::from_millis(raw.max_batch_wait_ms.unwrap_or(5)),
        tensorrt,
        heads,
        upsample: raw.upsample.unwrap_or(Upsample::Bilinear),
    })
}

/// The model stages, in order, and the tracking stage if there is one.
type Stages = (Vec<StageSpec>, Option<TrackOptions>);

fn stages(
    v: Option<&Value>,
    models: &Option<BTreeMap<String, ModelSpec>>,
    diag: &mut Diagnostics,
) -> Option<Stages> {
    let items = match v {
        None | Some(Value::Null) => return Some((vec![], None)),
        Some(Value::Sequence(s)) => s,
        Some(_) => {
            diag.error(
                "stages",
                "must be a list, e.g. `stages: [{type: detect, model: det}]`",
            );
            return None;
        }
    };
    let mut out = vec![];
    let mut track = None;
    let mut seen_track = false;
    let mut ok = true;
    for (i, v) in items.iter().enumerate() {
        let key = format!("stages[{i}]");
        let raw = match tagged(v, &key, &["detect", "segment", "track"], diag) {
            Some(("detect", rest)) => parse_component(&rest, &key, diag).map(RawStage::Detect),
            Some(("track", rest)) => parse_component(&rest, &key, diag).map(RawStage::Track),
            Some((_, rest)) => parse_component(&rest, &key, diag).map(RawStage::Segment),
            None => None,
        };
        if seen_track && raw.is_some() {
            diag.error(
                key.clone(),
                "a stage after `type: track`; tracking runs once, after every model stage: move it last",
            );
            ok = false;
        }
        let (model, segment) = match raw {
            Some(RawStage::Detect(DetectStage { model })) => (model, false),
            Some(RawStage::Segment(SegmentStage { model })) => (model, true),
            Some(RawStage::Track(t)) => {
                seen_track = true;
                let detects = models.as_ref().is_none_or(|m| {
                    out.iter().any(|s: &StageSpec| {
                        matches!(s, StageSpec::Detect { .. }) || m.get(s.model()).is_none()
                    })
                });
                if !detects {
                    diag.error(
                        key.clone(),
                        "tracking needs detections: put a `type: detect` stage before it",
                    );
                    ok = false;
                }
                match track_options(&t, &key, diag) {
                    Some(o) => track = Some(o),
                    None => ok = false,
                }
                continue;
            }
            None => {
                ok = false;
                continue;
            }
        };
        {
            {
                if let Some(m) = models
                    && !m.contains_key(&model)
                {
                    let known: Vec<_> = m.keys().cloned().collect();
                    diag.error(
                        format!("{key}.model"),
                        format!(
                            "no model named `{model}`; define it under `models` (known: {})",
                            if known.is_empty() {
                                "none".into()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                    ok = false;
                }
                if let Some(m) = models.as_ref().and_then(|m| m.get(&model)) {
                    let is_seg = m.format == DetectFormat::Segmentation;
                    if is_seg != segment {
                        diag.error(
                            format!("{key}.type"),
                            if segment {
                                format!("model `{model}` is a detector; run it with `type: detect`, or give a model of `format: segmentation`")
                            } else {
                                format!("model `{model}` is a segmentation model; run it with `type: segment`")
                            },
                        );
                        ok = false;
                    }
                }
                if out.iter().any(|s: &StageSpec| s.model() == model) {
                    diag.error(
                        format!("{key}.model"),
                        format!("model `{model}` is already run by an earlier stage; run each model once"),
                    );
                    ok = false;
                }
                out.push(if segment {
                    StageSpec::Segment { model }
                } else {
                    StageSpec::Detect { model }
                });
            }
        }
    }
    ok.then_some((out, track))
}

/// Checks a sink's `trail_s`: seconds, 0 or more.
fn trail_ok(trail_s: Option<f64>, key: &str, diag: &mut Diagnostics) -> bool {
    match trail_s {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            diag.error(
                format!("{key}.trail_s"),
                format!("{t} is not a time; give seconds, 0 or more (0: no trails)"),
            );
            false
        }
        _ => true,
    }
}

/// A `type: track` stage's settings over its tracker's defaults, each checked.
fn track_options(t: &TrackStage, key: &str, diag: &mut Diagnostics) -> Option<TrackOptions> {
    use crate::track::TrackerParams;
    let mut p = match t.tracker.unwrap_or(TrackerKind::Bytetrack) {
        TrackerKind::Bytetrack => TrackerParams::bytetrack(),
        TrackerKind::Sort => TrackerParams::sort(),
    };
    let mut ok = true;
    let mut unit = |name: &str, v: Option<f32>, slot: &mut f32, zero_ok: bool| {
        if let Some(v) = v {
            if !(v <= 1.0 && (v > 0.0 || (zero_ok && v == 0.0))) {
                diag.error(
                    format!("{key}.{name}"),
                    format!(
                        "{v} is out of range; {} takes {} to 1",
                        if name.ends_with("iou") {
                            "an IoU"
                        } else {
                            "a score"
                        },
                        if zero_ok { "0" } else { "a value above 0 up" }
                    ),
                );
                ok = false;
            }
            *slot = v;
        }
    };
    unit("high_score", t.high_score, &mut p.high_score, true);
    unit("low_score", t.low_score, &mut p.low_score, true);
    unit(
        "new_track_score",
        t.new_track_score,
        &mut p.new_track_score,
        true,
    );
    unit("match_iou", t.match_iou, &mut p.match_iou, false);
    unit(
        "low_match_iou",
        t.low_match_iou,
        &mut p.low_match_iou,
        false,
    );
    unit(
        "tentative_match_iou",
        t.tentative_match_iou,
        &mut p.tentative_match_iou,
        false,
    );
    if t.tracker == Some(TrackerKind::Sort) {
        for (name, set) in [
            ("low_score", t.low_score.is_some()),
            ("new_track_score", t.new_track_score.is_some()),
            ("low_match_iou", t.low_match_iou.is_some()),
            ("tentative_match_iou", t.tentative_match_iou.is_some()),
        ] {
            if set {
                diag.error(
                    format!("{key}.{name}"),
                    "SORT has no such threshold (it is ByteTrack's); remove it or set `tracker: bytetrack`",
                );
                ok = false;
            }
        }
    }
    if ok && p.low_score > p.high_score {
        diag.error(
            format!("{key}.low_score"),
            format!(
                "{} is above high_score {}; low-score detections are those between the two",
                p.low_score, p.high_score
            ),
        );
        ok = false;
    }
    if let Some(c) = t.confirm_s {
        if !(c.is_finite() && c >= 0.0) {
            diag.error(
                format!("{key}.confirm_s"),
                format!(
                    "{c} is not a time; give seconds, 0 or more (0: confirmed at the second match)"
                ),
            );
            ok = false;
        }
        p.confirm_s = c;
    }
    if let Some(m) = t.max_lost_s {
        if !(m.is_finite() && m > 0.0) {
            diag.error(
                format!("{key}.max_lost_s"),
                format!("{m} is not a time; give seconds above 0 (how long a lost track is kept)"),
            );
            ok = false;
        }
        p.max_lost_s = m;
    }
    if let Some(c) = &t.classes
        && c.is_empty()
    {
        diag.error(
            format!("{key}.classes"),
            "is empty; list the labels to track, or remove it to track every class",
        );
        ok = false;
    }
    ok.then(|| TrackOptions {
        params: p,
        per_class: t.per_class.unwrap_or(false),
        classes: t.classes.clone(),
    })
}

fn sinks(v: Option<&Value>, base: &Path, diag: &mut Diagnostics) -> Option<Vec<SinkSpec>> {
    let items = match v {
        None | Some(Value::Null) => return Some(vec![]),
        Some(Value::Sequence(s)) => s,
        Some(_) => {
            diag.error(
                "sinks",
                "must be a list, e.g. `sinks: [{type: jsonl, path: out.jsonl}]`",
            );
            return None;
        }
    };
    let mut out: Vec<SinkSpec> = vec![];
    let mut ok = true;
    for (i, v) in items.iter().enumerate() {
        let key = format!("sinks[{i}]");
        let raw = match tagged(v, &key, &["video", "jsonl", "mask", "mot", "rtsp"], diag) {
            Some(("rtsp", rest)) => parse_component(&rest, &key, diag).map(RawSink::Rtsp),
            Some(("video", rest)) => parse_component(&rest, &key, diag).map(RawSink::Video),
            Some(("mask", rest)) => parse_component(&rest, &key, diag).map(RawSink::Mask),
            Some(("mot", rest)) => parse_component(&rest, &key, diag).map(RawSink::Mot),
            Some((_, rest)) => parse_component(&rest, &key, diag).map(RawSink::Jsonl),
            None => None,
        };
        let Some(raw) = raw else {
            ok = false;
            continue;
        };
        let sink = match raw {
            RawSink::Video(VideoSink {
                path,
                speed_preset,
                bitrate_kbps,
                trail_s,
            }) => {
                ok &= trail_ok(trail_s, &key, diag);
                let preset = speed_preset.unwrap_or_else(|| "ultrafast".into());
                if let Some(b) = bitrate_kbps
                    && !(1..=2_048_000).contains(&b)
                {
                    diag.error(
                        format!("{key}.bitrate_kbps"),
                        format!("{b} is out of range; x264 takes 1 to 2048000 kbit/s"),
                    );
                    ok = false;
                }
                if !X264_PRESETS.contains(&preset.as_str()) {
                    diag.error(
                        format!("{key}.speed_preset"),
                        format!(
                            "`{preset}` is not an x264 preset; use one of {}",
                            X264_PRESETS.join(", ")
                        ),
                    );
                    ok = false;
                }
                SinkSpec::Video {
                    path: resolve(base, &path),
                    speed_preset: preset,
                    bitrate_kbps: bitrate_kbps.unwrap_or(4000),
                    trail_s: trail_s.unwrap_or(1.0),
                }
            }
            RawSink::Jsonl(JsonlSink { path }) => SinkSpec::Jsonl {
                path: resolve(base, &path),
            },
            RawSink::Mot(MotSink { path }) => SinkSpec::Mot {
                path: resolve(base, &path),
            },
            RawSink::Rtsp(RtspSink { address, trail_s }) => {
                let text = address.unwrap_or_else(|| "127.0.0.1:8554".into());
                let address = match text.parse::<std::net::SocketAddr>() {
                    Ok(a) => a,
                    Err(_) => {
                        diag.error(
                            format!("{key}.address"),
                            format!("`{text}` is not HOST:PORT, e.g. 127.0.0.1:8554 (or 0.0.0.0:8554 to serve the network)"),
                        );
                        ok = false;
                        "127.0.0.1:8554".parse().expect("valid address")
                    }
                };
                ok &= trail_ok(trail_s, &key, diag);
                SinkSpec::Rtsp {
                    path: format!("rtsp://{address}").into(),
                    address,
                    trail_s: trail_s.unwrap_or(1.0),
                }
            }
            RawSink::Mask(MaskSink { path, every }) => {
                let dir = resolve(base, &path);
                if dir.is_file() {
                    diag.error(
                        format!("{key}.path"),
                        format!("{} is a file; name a folder for the PNGs", dir.display()),
                    );
                    ok = false;
                }
                if every == Some(0) {
                    diag.error(
                        format!("{key}.every"),
                        "must be 1 or more (1 writes every frame)",
                    );
                    ok = false;
                }
                SinkSpec::Mask {
                    path: dir,
                    every: every.unwrap_or(1),
                }
            }
        };
        if !matches!(sink, SinkSpec::Mask { .. } | SinkSpec::Rtsp { .. }) && sink.path().is_dir() {
            diag.error(
                format!("{key}.path"),
                format!("{} is a folder; name a file", sink.path().display()),
            );
            ok = false;
        }
        if out.iter().any(|s| s.path() == sink.path()) {
            diag.error(
                format!("{key}.path"),
                format!(
                    "{} is written by another sink too; give each sink its own file",
                    sink.path().display()
                ),
            );
            ok = false;
        }
        if out
            .iter()
            .any(|s| std::mem::discriminant(s) == std::mem::discriminant(&sink))
        {
            let kind = sink.kind();
            diag.error(
                format!("{key}.type"),
                format!(
                    "a second `{kind}` sink; a pipeline has at most one of each kind, remove one"
                ),
            );
            ok = false;
        }
        out.push(sink);
    }
    ok.then_some(out)
}

#[cfg(test)]
mod rtsp_url_tests {
    use super::*;

    #[test]
    fn credentials_are_split_off_decoded_and_never_shown() {
        let (url, u, p) = split_rtsp_url("rtsp://ad%40min:p%3Ass@cam.local:554/live?x=1").unwrap();
        assert_eq!(url, "rtsp://cam.local:554/live?x=1");
        assert_eq!(u.as_deref(), Some("ad@min"));
        assert_eq!(p.as_deref(), Some("p:ss"));
        let (url, u, p) = split_rtsp_url("rtsp://10.0.0.5/stream1").unwrap();
        assert_eq!(
            (url.as_str(), u, p),
            ("rtsp://10.0.0.5/stream1", None, None)
        );
        assert_eq!(redact_url("rtsp://admin:hunter2@cam/x"), "rtsp://***@cam/x");
        assert_eq!(
            redact_url("rtsp://cam/x@y"),
            "rtsp://cam/x@y",
            "an @ in the path is not user information"
        );
        for bad in ["http://cam/x", "rtsp://", "cam/x", "rtsp://user:pw@/x"] {
            let e = split_rtsp_url(bad).unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
    }
}

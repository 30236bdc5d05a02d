//! Raw values -> [`PipelineSpec`]: each component read on its own so that one bad component
//! does not hide the errors of the others, then references, files and ranges checked.

mod models;
mod read;
mod sources;
mod stages;

use super::diag::{Diagnostics, parse_component, resolve};
use super::pipeline::PipelineSpec;
use super::raw::*;
use super::spec::*;
use read::valid_name;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::Path;

const TOP_KEYS: &[&str] = &[
    "name", "runtime", "sources", "models", "stages", "sinks", "edges",
];

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
    let source = sources::sources(get("sources"), base, env, diag);
    let models = models::models(get("models"), base, diag);
    let stream_ids: Option<Vec<String>> = source
        .as_deref()
        .map(|s| s.iter().map(|s| s.stream.clone()).collect());
    let (stages, upstream) =
        stages::stages(get("stages"), base, &models, stream_ids.as_deref(), diag);
    let sinks = stages::sinks(
        get("sinks"),
        base,
        &models,
        &upstream,
        stream_ids.as_deref(),
        diag,
    );

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
        sinks: sinks?,
        edges,
    };
    if spec.sources.len() > 1 {
        for (i, s) in spec.sinks.iter().map(|s| s.get()).enumerate() {
            if s.per_stream() && !s.path().to_string_lossy().contains("{stream}") {
                let ext = s
                    .path()
                    .extension()
                    .map(|e| e.to_string_lossy().into_owned());
                diag.error(
                    format!("sinks[{i}].path"),
                    format!(
                        "{} sources write one {} file each: put `{{stream}}` in the path (e.g. out/{{stream}}.{})",
                        spec.sources.len(),
                        s.kind(),
                        ext.as_deref().unwrap_or("out")
                    ),
                );
            }
        }
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

//! `stages:` and `sinks:`: each entry's `type:` picks its kind from [`crate::kinds`], whose own
//! check reads the rest; then the rules that span entries (order, one of each, own files).

use super::super::diag::Diagnostics;
use super::super::spec::ModelSpec;
use super::read::tagged;
use crate::kinds::{SinkSpec, StageSpec};
use crate::stage::{CompileCx, Upstream};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The entries of a `stages:` or `sinks:` list (`None` after an error).
fn items<'a>(
    v: Option<&'a Value>,
    section: &str,
    example: &str,
    diag: &mut Diagnostics,
) -> Option<&'a [Value]> {
    match v {
        None | Some(Value::Null) => Some(&[]),
        Some(Value::Sequence(s)) => Some(s),
        Some(_) => {
            diag.error(
                section,
                format!("must be a list, e.g. `{section}: [{example}]`"),
            );
            None
        }
    }
}

/// The stages, checked in order (each sees the ones before it), and what they provide.
pub(super) fn stages(
    v: Option<&Value>,
    base: &Path,
    models: &Option<BTreeMap<String, ModelSpec>>,
    streams: Option<&[String]>,
    diag: &mut Diagnostics,
) -> (Option<Vec<StageSpec>>, Upstream) {
    let mut upstream = Upstream::default();
    let Some(items) = items(v, "stages", "{type: detect, model: det}", diag) else {
        return (None, upstream);
    };
    let mut out: Vec<StageSpec> = vec![];
    let mut ok = true;
    for (i, v) in items.iter().enumerate() {
        let key = format!("stages[{i}]");
        let Some((kind, rest)) = tagged(v, &key, StageSpec::TYPES, diag) else {
            ok = false;
            continue;
        };
        let mut cx = CompileCx {
            diag,
            base,
            models: models.as_ref(),
            upstream: &upstream,
            streams,
        };
        let compiled = StageSpec::compile(kind, &rest, &key, &mut cx);
        let model = match &compiled {
            Some(s) => s.get().model().map(str::to_string),
            // A model stage whose check failed still names its model.
            None => rest
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        // Model stages run first, in parallel; serial stages after them, in order.
        if model.is_some()
            && let Some((serial, _)) = upstream.stages.iter().find(|(_, m)| m.is_none())
        {
            diag.error(
                key.clone(),
                format!("a model stage after `type: {serial}`; model stages run first (in parallel) and `{serial}` after them: move this one before it"),
            );
            ok = false;
        }
        if model.is_none() && upstream.has(kind) {
            diag.error(
                format!("{key}.type"),
                format!(
                    "a second `{kind}` stage; a pipeline runs each serial stage once, remove one"
                ),
            );
            ok = false;
        }
        upstream.stages.push((kind, model));
        match compiled {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    (ok.then_some(out), upstream)
}

/// The sinks, each checked with every stage known, then the rules between them.
pub(super) fn sinks(
    v: Option<&Value>,
    base: &Path,
    models: &Option<BTreeMap<String, ModelSpec>>,
    upstream: &Upstream,
    streams: Option<&[String]>,
    diag: &mut Diagnostics,
) -> Option<Vec<SinkSpec>> {
    let items = items(v, "sinks", "{type: jsonl, path: out.jsonl}", diag)?;
    let mut out: Vec<SinkSpec> = vec![];
    let mut ok = true;
    for (i, v) in items.iter().enumerate() {
        let key = format!("sinks[{i}]");
        let Some((kind, rest)) = tagged(v, &key, SinkSpec::TYPES, diag) else {
            ok = false;
            continue;
        };
        let mut cx = CompileCx {
            diag,
            base,
            models: models.as_ref(),
            upstream,
            streams,
        };
        let Some(sink) = SinkSpec::compile(kind, &rest, &key, &mut cx) else {
            ok = false;
            continue;
        };
        let s = sink.get();
        if s.writes_file() && s.path().is_dir() {
            diag.error(
                format!("{key}.path"),
                format!("{} is a folder; name a file", s.path().display()),
            );
            ok = false;
        }
        if out.iter().any(|o| o.get().path() == s.path()) {
            diag.error(
                format!("{key}.path"),
                format!(
                    "{} is written by another sink too; give each sink its own file",
                    s.path().display()
                ),
            );
            ok = false;
        }
        if out.iter().any(|o| o.get().kind() == kind) {
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

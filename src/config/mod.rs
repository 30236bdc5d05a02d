//! Pipeline files: YAML text -> `${VAR}` expansion -> typed raw structs -> a checked
//! [`PipelineSpec`]. Every error is collected, not only the first, and each names its key path,
//! its line, what is wrong and how to fix it.

mod compile;
mod expand;
mod lines;
pub mod raw;
mod spec;

pub use expand::expand_str;
pub use spec::*;

use lines::LineIndex;
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Key path, e.g. `models.det.path`; empty for the whole file.
    pub key: String,
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            "(file)"
        } else {
            &self.key
        };
        match self.line {
            Some(l) => write!(f, "line {l}: {key}: {}", self.message),
            None => write!(f, "{key}: {}", self.message),
        }
    }
}

/// Every problem found in one pipeline file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} error{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Collects errors while a file is read, attaching lines from the text.
pub(crate) struct Diagnostics {
    lines: LineIndex,
    pub errors: Vec<ConfigError>,
    /// Keys whose value could not be expanded: later checks of the same value would only
    /// repeat that error with a worse message.
    unexpanded: Vec<String>,
}

impl Diagnostics {
    pub fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let key = key.into();
        if self.unexpanded.iter().any(|k| {
            &key == k || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["))
        }) {
            return;
        }
        let line = self.lines.line(&key);
        self.errors.push(ConfigError {
            key,
            line,
            message: message.into(),
        });
    }
}

/// Reads, expands and checks a pipeline file with the process environment.
pub fn load_file(path: &Path) -> Result<PipelineSpec, ConfigErrors> {
    load_file_with(path, &|k| std::env::var(k).ok())
}

/// [`load_file`] with `${VAR}` looked up by `env` (replay sets `PERCEPTD_DRIVE` this way).
pub fn load_file_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PipelineSpec, ConfigErrors> {
    let fail = |message: String| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![ConfigError {
            key: String::new(),
            line: None,
            message,
        }],
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(format!(
            "cannot read the pipeline file: {e}; check the path"
        ))
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, &base, env).map_err(|errors| ConfigErrors {
        file: path.to_path_buf(),
        errors,
    })
}

/// Reads a pipeline from `text`; relative paths are resolved against `base`.
pub fn load_str(
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PipelineSpec, Vec<ConfigError>> {
    let mut diag = Diagnostics {
        lines: LineIndex::new(text),
        errors: vec![],
        unexpanded: vec![],
    };
    let mut value: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            return Err(vec![ConfigError {
                key: String::new(),
                line,
                message: format!("not valid YAML: {e}"),
            }]);
        }
    };
    let mut env_errors = vec![];
    expand::expand_value(&mut value, "", env, &mut env_errors);
    for (key, msg) in env_errors {
        diag.error(key.clone(), msg);
        diag.unexpanded.push(key);
    }
    let spec = compile::compile(&value, base, env, &mut diag);
    match spec {
        Some(spec) if diag.errors.is_empty() => Ok(spec),
        _ => {
            if diag.errors.is_empty() {
                diag.error("", "the pipeline could not be read");
            }
            Err(diag.errors)
        }
    }
}

/// Deserializes one component, reporting every bad key in it, not only the first: each error's
/// key is removed and the component read again, up to a bound.
pub(crate) fn parse_component<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    diag: &mut Diagnostics,
) -> Option<T> {
    let mut v = value.clone();
    let mut removed: Vec<String> = vec![];
    let mut failed = false;
    for _ in 0..16 {
        match serde_path_to_error::deserialize::<_, T>(v.clone()) {
            Ok(t) => return if failed { None } else { Some(t) },
            Err(err) => {
                let inner = err.path().to_string();
                let msg = err.inner().to_string();
                let (key_path, remove) = error_key(&inner, &msg);
                // A required key we removed ourselves is not a second error.
                if msg.starts_with("missing field")
                    && removed.iter().any(|r| msg.contains(&format!("`{r}`")))
                {
                    return None;
                }
                let full = join_path(path, &key_path);
                diag.error(full, explain(&msg));
                failed = true;
                match remove {
                    Some(segs) if remove_at(&mut v, &segs) => {
                        removed.push(segs.last().cloned().unwrap_or_default())
                    }
                    _ => return None,
                }
            }
        }
    }
    None
}

fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ if b.starts_with('[') => format!("{a}{b}"),
        _ => format!("{a}.{b}"),
    }
}

/// The key path an error is about, and the path segments to remove to read on.
fn error_key(inner: &str, msg: &str) -> (String, Option<Vec<String>>) {
    let inner = if inner == "." { "" } else { inner };
    let mut segs: Vec<String> = if inner.is_empty() {
        vec![]
    } else {
        inner.split('.').map(str::to_string).collect()
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default().to_string();
        // Some deserializers already put the unknown key in the path.
        if segs.last() != Some(&field) {
            segs.push(field);
        }
    } else if msg.starts_with("missing field") {
        return (segs.join("."), None);
    }
    let key = segs.join(".");
    // `mean[1]`: drop the whole `mean` key and read on.
    let segs: Vec<String> = segs
        .iter()
        .map(|s| s.split('[').next().unwrap_or_default().to_string())
        .collect();
    let remove = if segs.is_empty() { None } else { Some(segs) };
    (key, remove)
}

fn remove_at(v: &mut Value, segs: &[String]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = v;
    for s in parents {
        cur = match cur {
            Value::Mapping(m) => match m.get_mut(s.as_str()) {
                Some(c) => c,
                None => return false,
            },
            Value::Sequence(items) => {
                match s.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(c) => c,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match cur {
        Value::Mapping(m) => m.remove(last.as_str()).is_some(),
        _ => false,
    }
}

/// Serde's message, with the fix spelled out for the common cases.
fn explain(msg: &str) -> String {
    if msg.starts_with("unknown field") {
        format!("{msg}; remove the key or fix its spelling")
    } else if msg.starts_with("unknown variant") {
        format!("{msg}; use one of the listed values")
    } else if msg.starts_with("invalid type") {
        format!("{msg}; write a value of the expected type")
    } else if msg.starts_with("missing field") {
        format!("{msg}; add it")
    } else {
        msg.to_string()
    }
}

/// Resolves a path from the file against the file's folder.
pub(crate) fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The line of `key` in a pipeline file's text (for errors found after loading).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    LineIndex::new(text).line(key)
}

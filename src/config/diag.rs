//! Errors found while a pipeline file is checked, each with its key path and line, and the
//! helpers every component's check uses to read its part of the file.

use super::lines::LineIndex;
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

/// Collects errors (and warnings: values left to a default that matters) while a file is read,
/// attaching lines from the text.
#[derive(Debug, Default)]
pub struct Diagnostics {
    lines: LineIndex,
    pub errors: Vec<ConfigError>,
    /// Not errors: the pipeline runs, but the user should know (logged once it is read).
    pub warnings: Vec<ConfigError>,
    /// Keys whose value could not be expanded: later checks of the same value would only
    /// repeat that error with a worse message.
    unexpanded: Vec<String>,
}

impl Diagnostics {
    pub(crate) fn new(lines: LineIndex) -> Diagnostics {
        Diagnostics {
            lines,
            errors: vec![],
            warnings: vec![],
            unexpanded: vec![],
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Neither errors nor warnings.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.warnings.is_empty()
    }

    pub fn warning(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let key = key.into();
        let line = self.lines.line(&key);
        self.warnings.push(ConfigError {
            key,
            line,
            message: message.into(),
        });
    }

    /// Marks `key` as a value that could not be expanded: errors under it are not repeated.
    pub(crate) fn unexpanded(&mut self, key: String) {
        self.unexpanded.push(key);
    }

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

    /// Whether the number `v` of `key` lies in `lo..=hi`; if not, an error saying so, with
    /// `what` it should be (`seconds`, `metres`...).
    pub fn in_range(&mut self, key: String, v: f64, lo: f64, hi: f64, what: &str) -> bool {
        let ok = v.is_finite() && v >= lo && v <= hi;
        if !ok {
            self.error(
                key,
                format!("{v} is out of range; give {what} from {lo} to {hi}"),
            );
        }
        ok
    }
}

impl fmt::Display for Diagnostics {
    /// One line per problem: errors, then warnings (marked).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// Deserializes one component, reporting every bad key in it, not only the first: each error's
/// key is removed and the component read again, up to a bound.
pub fn parse_component<T: DeserializeOwned>(
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
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

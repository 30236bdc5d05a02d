//! Pipeline files: YAML text -> `${VAR}` expansion -> typed raw structs -> a checked
//! [`PipelineSpec`]. Every error is collected, not only the first, and each names its key path,
//! its line, what is wrong and how to fix it.

mod compile;
pub mod diag;
mod expand;
mod lines;
mod pipeline;
pub mod raw;
pub mod spec;

pub use diag::ConfigError;
pub use expand::expand_str;
pub use pipeline::PipelineSpec;
pub use spec::*;

use diag::Diagnostics;
use lines::LineIndex;
use serde_yaml_ng::Value;
use std::fmt;
use std::path::{Path, PathBuf};

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
    let mut diag = Diagnostics::new(LineIndex::new(text));
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
        diag.unexpanded(key);
    }
    let spec = compile::compile(&value, base, env, &mut diag);
    match spec {
        Some(spec) if diag.errors.is_empty() => {
            for w in &diag.warnings {
                tracing::warn!("{w}");
            }
            Ok(spec)
        }
        _ => {
            if diag.errors.is_empty() {
                diag.error("", "the pipeline could not be read");
            }
            Err(diag.errors)
        }
    }
}

/// The line of `key` in a pipeline file's text (for errors found after loading).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    LineIndex::new(text).line(key)
}

//! Small readers every section of the file shares: a component's `type:`, names, files.

use super::super::diag::Diagnostics;
use serde_yaml_ng::Value;
use std::path::Path;

/// Reads a component's `type:` key; returns the type (one of `allowed`) and the other fields.
pub(super) fn tagged(
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

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reports `file` when it cannot be read or is a folder (`what` says what it should be).
pub(super) fn readable_file(file: &Path, key: &str, what: &str, diag: &mut Diagnostics) {
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

//! `${VAR}` and `${VAR:-default}` expansion of every string scalar, with shell semantics:
//! `${VAR:-default}` uses the default when `VAR` is unset or empty, `$$` is a literal `$`.

use serde_yaml_ng::Value;

/// Expands one string. `lookup` returns a variable's value, `None` when unset.
pub fn expand_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in {s:?}; write `${{VAR}}`, or `$$` for a literal `$`"))?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{inner}}}` is not a variable reference; names are letters, digits and `_`"
                ));
            }
            match (lookup(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set; export it, or give a default with `${{{name}:-default}}`"
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands every string scalar of `value` in place. A scalar that was a reference is re-read as a
/// YAML scalar, so `threads: ${THREADS:-2}` is the number 2. Returns `(key path, message)` errors.
pub fn expand_value(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand_str(s, lookup) {
            Ok(expanded) => {
                let reparsed = serde_yaml_ng::from_str::<Value>(&expanded)
                    .ok()
                    .filter(|v| matches!(v, Value::Number(_) | Value::Bool(_)));
                *value = reparsed.unwrap_or(Value::String(expanded));
            }
            Err(e) => errors.push((path.to_string(), e)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{path}[{i}]"), lookup, errors);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = super::lines::key_text(k);
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                expand_value(v, &child, lookup, errors);
            }
        }
        Value::Tagged(t) => expand_value(&mut t.value, path, lookup, errors),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/home/x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_default_and_escape() {
        assert_eq!(expand_str("${HOME_DIR}/a", &env).unwrap(), "/home/x/a");
        assert_eq!(expand_str("${NOPE:-/tmp}/a", &env).unwrap(), "/tmp/a");
        assert_eq!(expand_str("${EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(expand_str("${EMPTY}", &env).unwrap(), "");
        assert_eq!(expand_str("$$5 and $x", &env).unwrap(), "$5 and $x");
    }

    #[test]
    fn unset_variable_names_it() {
        let e = expand_str("${MISSING_VAR}/x", &env).unwrap_err();
        assert!(e.contains("MISSING_VAR") && e.contains(":-default"), "{e}");
        assert!(expand_str("${unterminated", &env).is_err());
        assert!(expand_str("${a b}", &env).is_err());
    }

    #[test]
    fn reference_becomes_a_number() {
        let mut v: Value = serde_yaml_ng::from_str("threads: ${N:-2}\nname: ${N:-x}y").unwrap();
        let mut errs = vec![];
        expand_value(&mut v, "", &env, &mut errs);
        assert!(errs.is_empty());
        assert_eq!(v["threads"], Value::Number(2.into()));
        assert_eq!(v["name"], Value::String("xy".into()));
    }
}

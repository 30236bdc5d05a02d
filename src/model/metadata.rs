//! What exporters write into ONNX metadata: Ultralytics' `names` (a Python dict literal),
//! `imgsz`, `stride`, `task`.

use std::collections::HashMap;

/// Parsed model metadata; every field optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMeta {
    pub names: Option<Vec<String>>,
    /// `[height, width]` as Ultralytics writes it.
    pub imgsz: Option<[u32; 2]>,
    pub stride: Option<u32>,
    pub task: Option<String>,
    pub end2end: bool,
    pub raw: HashMap<String, String>,
}

impl ModelMeta {
    pub fn from_map(raw: HashMap<String, String>) -> ModelMeta {
        ModelMeta {
            names: raw.get("names").and_then(|s| parse_names(s)),
            imgsz: raw.get("imgsz").and_then(|s| {
                let v = parse_ints(s);
                match v.as_slice() {
                    [s] => Some([*s, *s]),
                    [h, w] => Some([*h, *w]),
                    _ => None,
                }
            }),
            stride: raw
                .get("stride")
                .and_then(|s| parse_ints(s).first().copied()),
            task: raw.get("task").cloned(),
            end2end: raw
                .get("end2end")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
            raw,
        }
    }
}

fn parse_ints(s: &str) -> Vec<u32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// `{0: 'person', 1: "it's"}` -> names by index; also accepts a JSON list or object.
pub fn parse_names(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(s) {
        return Some(list);
    }
    let body = s.strip_prefix('{')?.strip_suffix('}')?;
    let mut pairs: Vec<(usize, String)> = vec![];
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        // Key: digits, optionally quoted.
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == ':' {
                break;
            }
            if c.is_ascii_digit() {
                key.push(c);
            }
            chars.next();
        }
        chars.next()?; // ':'
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let quote = chars.next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => value.push(chars.next()?),
                c if c == quote => break,
                c => value.push(c),
            }
        }
        pairs.push((key.parse().ok()?, value));
    }
    pairs.sort_by_key(|p| p.0);
    if pairs.iter().enumerate().any(|(i, p)| p.0 != i) {
        return None;
    }
    Some(pairs.into_iter().map(|p| p.1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_parse() {
        assert_eq!(
            parse_names("{0: 'person', 1: 'traffic light', 2: \"it's\"}"),
            Some(vec!["person".into(), "traffic light".into(), "it's".into()])
        );
        assert_eq!(
            parse_names("{'0': 'a', '1': 'b'}"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parse_names("[\"a\", \"b\"]"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_names("{0: 'a', 2: 'c'}"), None, "gaps are not a list");
        assert_eq!(parse_names("nonsense"), None);
    }

    #[test]
    fn imgsz_and_stride() {
        let raw: HashMap<String, String> = [
            ("imgsz", "[320, 640]"),
            ("stride", "32"),
            ("task", "detect"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let m = ModelMeta::from_map(raw);
        assert_eq!(m.imgsz, Some([320, 640]));
        assert_eq!(m.stride, Some(32));
        assert_eq!(m.task.as_deref(), Some("detect"));
    }
}

//! Where each key path (`models.det.path`, `sinks[1].type`) sits in the YAML text, so every
//! configuration error can name its line. Built from the parser's marked events.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// The text of a mapping key as it appears in a key path.
pub fn key_text(k: &serde_yaml_ng::Value) -> String {
    match k {
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

enum Frame {
    Map {
        path: String,
        next_is_key: bool,
        key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

/// Key path -> 1-based line.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    /// Indexes `text`; a text that does not parse gives an empty index (the YAML error itself
    /// carries its location).
    pub fn new(text: &str) -> LineIndex {
        let mut b = Builder {
            stack: vec![],
            index: LineIndex::default(),
        };
        let _ = Parser::new_from_str(text).load(&mut b, false);
        b.index
    }

    /// The line of `path`, or of its nearest parent that has one.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

struct Builder {
    stack: Vec<Frame>,
    index: LineIndex,
}

impl Builder {
    /// The path of the node that starts now, advancing the parent's state.
    fn child_path(&mut self, mark: Marker, scalar: Option<&str>) -> Option<String> {
        let join = |p: &str, k: &str| {
            if p.is_empty() {
                k.to_string()
            } else {
                format!("{p}.{k}")
            }
        };
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                self.index.lines.entry(p.clone()).or_insert(mark.line());
                Some(p)
            }
            Some(Frame::Map {
                path,
                next_is_key,
                key,
            }) => {
                if *next_is_key {
                    let k = scalar.unwrap_or("?").to_string();
                    self.index
                        .lines
                        .entry(join(path, &k))
                        .or_insert(mark.line());
                    *key = Some(k);
                    *next_is_key = false;
                    None
                } else {
                    *next_is_key = true;
                    Some(join(path, key.as_deref().unwrap_or("?")))
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(s, ..) => {
                self.child_path(mark, Some(&s));
            }
            Event::Alias(_) => {
                self.child_path(mark, None);
            }
            Event::MappingStart(..) => {
                let path = self.child_path(mark, None).unwrap_or_default();
                self.stack.push(Frame::Map {
                    path,
                    next_is_key: true,
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.child_path(mark, None).unwrap_or_default();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_items() {
        let text = "name: a\nmodels:\n  det:\n    path: x.onnx\n    format: yolov8\nsinks:\n  - type: video\n    path: o.mp4\n  - {type: jsonl, path: o.jsonl}\n";
        let ix = LineIndex::new(text);
        assert_eq!(ix.line("name"), Some(1));
        assert_eq!(ix.line("models.det"), Some(3));
        assert_eq!(ix.line("models.det.format"), Some(5));
        assert_eq!(ix.line("sinks[0].path"), Some(8));
        assert_eq!(ix.line("sinks[1].path"), Some(9));
        // Unknown paths fall back to the nearest parent.
        assert_eq!(ix.line("models.det.nope"), Some(3));
    }
}

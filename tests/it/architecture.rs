//! The shape of the source tree, checked: no import circles between the files of `src/`, no
//! file over 900 lines, and every stage and sink kind listed once in `src/kinds.rs`.
//!
//! An import is any path a file names outside its comments and its `#[cfg(test)]` part:
//! `crate::a::b::X`, `super::x::Y`, `self::x::Y`, a child module `x::Y` of a `mod.rs`, or a
//! name brought in by `use crate::{a, b}` and used as `a::X`. Each resolves to the deepest
//! module file it names and, through that file's re-exports (`pub use`), to the file that
//! defines the item (`crate::config::ModelSpec` -> `src/config/spec.rs`). A re-export itself,
//! like declaring a child with `mod x;`, is not an import: a `mod.rs` may present its
//! children's names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/` (`src/config/spec.rs` -> `["config", "spec"]`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut segs: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        segs.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segs.pop();
    }
    segs
}

/// The text without comments, string literals and the `#[cfg(test)]` tail.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a file names: in its `use` statements (braces expanded), in its `pub use`
/// re-exports, and in the rest of its code (identifiers joined by `::`).
#[derive(Default)]
struct Paths {
    uses: Vec<Vec<String>>,
    reexports: Vec<Vec<String>>,
    body: Vec<Vec<String>>,
}

fn paths_in(code: &str) -> Paths {
    let mut out = Paths::default();
    let mut rest_of_code = String::with_capacity(code.len());
    let mut at = 0;
    for (i, _) in code.match_indices("use ") {
        if i < at || (i > 0 && is_ident(code[..i].chars().last().unwrap_or(' '))) {
            continue;
        }
        let Some(end) = code[i..].find(';').map(|e| i + e) else {
            break;
        };
        let before = code[..i].trim_end();
        let public = ["pub", "pub(crate)", "pub(super)"]
            .iter()
            .any(|v| before.ends_with(v));
        rest_of_code.push_str(&code[at..i]);
        at = end + 1;
        let tree = code[i + 4..end]
            .replace(" as ", "@")
            .replace(char::is_whitespace, "");
        expand_tree(
            &tree,
            &mut vec![],
            if public {
                &mut out.reexports
            } else {
                &mut out.uses
            },
        );
    }
    rest_of_code.push_str(&code[at..]);
    let chars: Vec<char> = rest_of_code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !is_ident(chars[i - 1])) {
            let mut segs = vec![];
            let mut j = i;
            loop {
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                segs.push(chars[start..j].iter().collect::<String>());
                if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                    j += 2;
                    if !chars.get(j).is_some_and(|c| is_ident(*c)) {
                        break;
                    }
                } else {
                    break;
                }
            }
            if segs.len() > 1 {
                out.body.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The public items a file defines by name.
fn defined_in(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for kw in [
        "struct ",
        "enum ",
        "fn ",
        "trait ",
        "type ",
        "const ",
        "static ",
        "mod ",
        "macro_rules! ",
    ] {
        for (i, _) in code.match_indices(kw) {
            if i > 0 && is_ident(code[..i].chars().last().unwrap_or(' ')) {
                continue;
            }
            let name: String = code[i + kw.len()..]
                .chars()
                .take_while(|c| is_ident(*c))
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn expand_tree(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let head = &tree[..open];
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base: Vec<String> = head
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let n = prefix.len();
        prefix.extend(base);
        // Split the inner list at top-level commas.
        let (mut depth, mut start) = (0, 0);
        let b = inner.as_bytes();
        for k in 0..=b.len() {
            if k == b.len() || (b[k] == b',' && depth == 0) {
                let item = &inner[start..k];
                if !item.is_empty() {
                    expand_tree(item, prefix, out);
                }
                start = k + 1;
            } else if b[k] == b'{' {
                depth += 1;
            } else if b[k] == b'}' {
                depth -= 1;
            }
        }
        prefix.truncate(n);
    } else {
        let item = tree.split('@').next().unwrap_or(tree);
        let mut p = prefix.clone();
        p.extend(
            item.split("::")
                .filter(|s| !s.is_empty() && *s != "self")
                .map(str::to_string),
        );
        out.push(p);
    }
}

struct Tree {
    /// Module path -> file.
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// File -> the files it imports.
    imports: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    lines: BTreeMap<PathBuf, usize>,
}

/// One file as the checker reads it.
struct FileInfo {
    module: Vec<String>,
    /// A `mod.rs` (or `lib.rs`): bare names may be its child modules.
    dir_module: bool,
    paths: Paths,
    defined: BTreeSet<String>,
}

impl FileInfo {
    /// `p` as an absolute module path, when it starts at `crate`, `super` or `self`.
    fn absolute(&self, p: &[String]) -> Option<Vec<String>> {
        let (first, rest) = p.split_first()?;
        let mut base = match first.as_str() {
            "crate" => vec![],
            "super" => {
                let mut b = self.module.clone();
                b.pop();
                b
            }
            "self" => self.module.clone(),
            _ => return None,
        };
        let mut rest = rest;
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }
}

fn read_tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut info: BTreeMap<PathBuf, FileInfo> = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_path_buf();
        let text = std::fs::read_to_string(f).unwrap();
        lines.insert(rel.clone(), text.lines().count());
        if rel == Path::new("main.rs") {
            continue;
        }
        let code = code_of(&text);
        info.insert(
            rel.clone(),
            FileInfo {
                module: module_of(&rel),
                dir_module: rel.ends_with("mod.rs") || rel == Path::new("lib.rs"),
                paths: paths_in(&code),
                defined: defined_in(&code),
            },
        );
    }
    let modules: BTreeMap<Vec<String>, PathBuf> = info
        .iter()
        .map(|(f, i)| (i.module.clone(), f.clone()))
        .collect();
    // The file that defines what an absolute path names: the deepest module file on the path,
    // then through that file's re-exports (`pub use`) to where the item is defined.
    fn locate(
        abs: &[String],
        modules: &BTreeMap<Vec<String>, PathBuf>,
        info: &BTreeMap<PathBuf, FileInfo>,
        depth: usize,
    ) -> Option<PathBuf> {
        let n = (1..=abs.len())
            .rev()
            .find(|n| modules.contains_key(&abs[..*n]))?;
        let file = modules[&abs[..n]].clone();
        let (Some(item), true) = (abs.get(n), depth < 8) else {
            return Some(file);
        };
        let fi = &info[&file];
        if fi.defined.contains(item) {
            return Some(file);
        }
        for r in &fi.paths.reexports {
            let Some(target) = fi.absolute(r).or_else(|| {
                let mut child = fi.module.clone();
                child.extend(r.iter().cloned());
                fi.dir_module.then_some(child)
            }) else {
                continue;
            };
            let last = r.last().map(String::as_str);
            if last == Some(item.as_str()) {
                let mut t = target;
                t.extend(abs[n + 1..].iter().cloned());
                return locate(&t, modules, info, depth + 1);
            }
            if last == Some("*") {
                let mut t = target;
                t.pop();
                t.push(item.clone());
                t.extend(abs[n + 1..].iter().cloned());
                if let Some(found) = locate(&t, modules, info, depth + 1)
                    && found != file
                    && info[&found].defined.contains(item)
                {
                    return Some(found);
                }
            }
        }
        Some(file)
    }
    let mut imports = BTreeMap::new();
    for (rel, fi) in &info {
        // Names brought in by `use crate::{a, b}` / `use super::x`, for bare `a::X` paths.
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &fi.paths.uses {
            if let (Some(abs), Some(last)) = (fi.absolute(p), p.last()) {
                aliases.insert(last.clone(), abs);
            }
        }
        let mut out = BTreeSet::new();
        for p in fi.paths.uses.iter().chain(&fi.paths.body) {
            let abs = fi.absolute(p).or_else(|| {
                let first = &p[0];
                if let Some(a) = aliases.get(first).filter(|a| modules.contains_key(*a)) {
                    let mut v = a.clone();
                    v.extend(p[1..].iter().cloned());
                    return Some(v);
                }
                // A child module of this one, named bare.
                let mut child = fi.module.clone();
                child.push(first.clone());
                (fi.dir_module && modules.contains_key(&child)).then(|| {
                    let mut v = child;
                    v.extend(p[1..].iter().cloned());
                    v
                })
            });
            if let Some(abs) = abs
                && let Some(target) = locate(&abs, &modules, &info, 0)
                && &target != rel
            {
                out.insert(target);
            }
        }
        imports.insert(rel.clone(), out);
    }
    Tree {
        modules,
        imports,
        lines,
    }
}

/// The strongly connected components with more than one file (Tarjan's algorithm).
fn circles(imports: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct St<'a> {
        g: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a PathBuf) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            if !s.g.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = vec![];
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        g: imports,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        out: vec![],
    };
    for v in imports.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_import_circles_between_source_files() {
    let tree = read_tree();
    assert!(tree.modules.len() > 50, "the source tree was read");
    // The checker sees real imports: the pipeline spec imports the kinds list, which imports a
    // sink kind.
    let kinds = &tree.imports[Path::new("kinds.rs")];
    assert!(
        kinds.contains(Path::new("sink/jsonl.rs")) && kinds.contains(Path::new("stage/mod.rs")),
        "{kinds:?}"
    );
    let found = circles(&tree.imports);
    let mut shown = String::new();
    for c in &found {
        shown.push_str("circle:\n");
        for f in c {
            let inside: Vec<_> = tree.imports[f].iter().filter(|t| c.contains(t)).collect();
            shown.push_str(&format!("  {} -> {inside:?}\n", f.display()));
        }
    }
    assert!(
        found.is_empty(),
        "import circles between files of src/ (each file imports the next through the others):\n{shown}"
    );
}

#[test]
fn the_checker_finds_a_circle_it_is_shown() {
    let mut g: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let p = |s: &str| PathBuf::from(s);
    g.insert(p("a.rs"), [p("b.rs")].into());
    g.insert(p("b.rs"), [p("c.rs")].into());
    g.insert(p("c.rs"), [p("a.rs")].into());
    g.insert(p("d.rs"), [p("a.rs")].into());
    assert_eq!(circles(&g), vec![vec![p("a.rs"), p("b.rs"), p("c.rs")]]);
    let code = code_of(
        "use crate::{sink, stage::{Kind, api::X as Y}};\n// crate::x::y\nfn f() { sink::jsonl::Spec; }",
    );
    let paths = paths_in(&code);
    let paths: Vec<_> = paths.uses.into_iter().chain(paths.body).collect();
    for want in [
        vec!["crate", "sink"],
        vec!["crate", "stage", "Kind"],
        vec!["crate", "stage", "api", "X"],
        vec!["sink", "jsonl", "Spec"],
    ] {
        assert!(paths.iter().any(|p| p == &want), "{want:?} in {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.contains(&"x".to_string())));
}

#[test]
fn no_source_file_over_900_lines() {
    let tree = read_tree();
    let long: Vec<_> = tree.lines.iter().filter(|(_, n)| **n > 900).collect();
    assert!(
        long.is_empty(),
        "files of src/ over 900 lines (split them along their concerns): {long:?}"
    );
}

#[test]
fn every_kind_is_listed_once_and_named_by_its_module() {
    let types: Vec<&str> = perceptd::kinds::StageSpec::TYPES
        .iter()
        .chain(perceptd::kinds::SinkSpec::TYPES)
        .copied()
        .collect();
    let unique: BTreeSet<_> = types.iter().collect();
    assert_eq!(unique.len(), types.len(), "a type listed twice: {types:?}");
    let tree = read_tree();
    for t in perceptd::kinds::StageSpec::TYPES {
        assert!(
            tree.modules
                .contains_key(&vec!["stage".to_string(), t.to_string()]),
            "stage kind `{t}` lives in src/stage/{t}"
        );
    }
    for t in perceptd::kinds::SinkSpec::TYPES {
        assert!(
            tree.modules
                .contains_key(&vec!["sink".to_string(), t.to_string()]),
            "sink kind `{t}` lives in src/sink/{t}"
        );
    }
}

//! The runtime's shape, checked: its files import each other without a cycle, its
//! folders import only the folders below them (docs/ARCHITECTURE.md, "Layers"), and
//! no raw file descriptor is handled outside the transport (and `sys`, and the child
//! start in `pty`, which are outside `src/runtime`).
//!
//! Read from the source text, not the compiler: a `use`, a path in code and a `mod`
//! declaration each count as an import. Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The runtime's folders, top first: each may import only those after it.
/// Folders on one line are peers and must not import each other.
const LAYERS: &[&[&str]] = &[
    &["supervisor"],
    &["httpconn", "fleet", "handover"],
    &["api", "wsconn"],
    &["pty_task"],
    &["route"],
    &["worker"],
    &["transport", "access_log", "record"],
];

fn runtime_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime")
}

/// Every non-test source file of the runtime, by module path (`["worker", "live"]`).
fn files() -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![runtime_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if !name.ends_with(".rs") || name == "tests.rs" || name.ends_with("_tests.rs") {
                continue;
            }
            let rel = path.strip_prefix(runtime_dir()).unwrap();
            let mut module: Vec<String> = rel.iter().map(|c| c.to_str().unwrap().to_owned()).collect();
            let last = module.pop().unwrap();
            if last != "mod.rs" {
                module.push(last.trim_end_matches(".rs").to_owned());
            }
            out.insert(module, without_tests(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// The text before the first `#[cfg(test)]` item (test modules come last).
fn without_tests(text: &str) -> String {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i]).to_owned()
}

/// The paths a file names: `crate::runtime::a::b`, `super::a`, and its `mod a;`s, each
/// resolved to a module path inside the runtime.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        let mut parts = Vec::new();
        let mut rest = s;
        loop {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            parts.push(rest[..end].to_owned());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        parts
    };
    let mut refs = Vec::new();
    let code: String =
        text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    for (i, _) in code.match_indices("crate::runtime::") {
        refs.push(ident(&code[i + "crate::runtime::".len()..]));
    }
    for (i, _) in code.match_indices("super::") {
        if code[..i].ends_with("::") {
            continue;
        }
        // A file's module path ends with its own name (a folder's mod.rs, with the
        // folder's): `super` drops it either way.
        let mut base: Vec<String> = module.to_vec();
        base.pop();
        let mut rest = &code[i + "super::".len()..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        base.extend(ident(rest));
        refs.push(base);
    }
    for line in code.lines() {
        let line = line.trim();
        let decl = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod "));
        if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
            let mut child = module.to_vec();
            child.push(name.to_owned());
            refs.push(child);
        }
    }
    refs
}

/// The file a path names: its longest prefix that is a file.
fn resolve(files: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| files.contains_key(p))
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = files();
    let mut edges = BTreeMap::new();
    for (module, text) in &files {
        let mut to = BTreeSet::new();
        for r in references(module, text) {
            if let Some(target) = resolve(&files, &r) {
                if &target != module {
                    to.insert(target);
                }
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "runtime".to_owned()
    } else {
        m.join("::")
    }
}

#[test]
fn no_file_of_the_runtime_imports_itself_through_others() {
    let edges = graph();
    // Depth-first search for a back edge; reports the cycle it closes.
    fn visit(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        path: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(n.clone(), 1);
        path.push(n.clone());
        for m in &edges[n] {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let from = path.iter().position(|p| p == m).unwrap();
                    let mut cycle = path[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(cycle) = visit(n, &edges, &mut state, &mut Vec::new()) {
                let shown: Vec<String> = cycle.iter().map(|m| name(m)).collect();
                panic!("import cycle: {}", shown.join(" -> "));
            }
        }
    }
    assert!(edges.len() > 20, "the runtime's files were not found: {:?}", edges.keys());
}

#[test]
fn each_folder_imports_only_the_folders_below_it() {
    let rank = |folder: &str| LAYERS.iter().position(|layer| layer.contains(&folder));
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        let Some(top) = from.first() else { continue };
        let Some(r_from) = rank(top) else {
            wrong.push(format!("{} is in no layer of LAYERS", name(&from)));
            continue;
        };
        for to in targets {
            let Some(dest) = to.first() else { continue };
            if dest == top {
                continue;
            }
            match rank(dest) {
                Some(r_to) if r_to > r_from => {}
                _ => wrong.push(format!("{} imports {}", name(&from), name(&to))),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn raw_descriptors_stay_in_the_transport() {
    let mut found = Vec::new();
    for (module, text) in files() {
        if module.first().map(String::as_str) == Some("transport") {
            continue;
        }
        for word in ["RawFd", "as_raw_fd", "from_raw_fd", "into_raw_fd"] {
            if text.contains(word) {
                found.push(format!("{}: {word}", name(&module)));
            }
        }
    }
    assert!(found.is_empty(), "raw file descriptors outside src/runtime/transport: {found:?}");
}

//! The module layout keeps one direction: no module of `host/src` refers to one that refers
//! back to it, between top-level modules (`runtime`, `workflow`, `http`, …) and between the
//! files of one module (`http/rpc.rs`, `http/exposure.rs`, …). See docs/design/architecture.md.
//!
//! References are read from the source text (`crate::a::…`, `super::b`, `self::c`), outside
//! comments and `#[cfg(test)]` modules, which may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path below the crate root, `["runtime", "state"]` for runtime/state.rs.
type ModulePath = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading host/src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            // CLI templates are guest code written into new crates, not modules of ours.
            if path.file_name().is_some_and(|n| n != "templates") {
                source_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_path(src: &Path, file: &Path) -> ModulePath {
    let relative = file.strip_prefix(src).expect("a file below src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file: without its `#[cfg(test)]` items (tests sit at the end of a file)
/// and without comments (a doc link is not a dependency).
fn code_of(text: &str) -> String {
    let text = text.find("#[cfg(test)]").map_or(text, |at| &text[..at]);
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The first path segment of each item after a `prefix::` at every place it occurs:
/// `super::{a, b::c}` gives `a` and `b`.
fn segments_after<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.extend(ident_at(group[item_start..i].trim_start()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.extend(ident_at(group[item_start..i].trim_start()));
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.extend(ident_at(rest));
        }
    }
    found
}

/// Every module each module refers to, resolved to the files that exist.
fn references(src: &Path) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    let modules: BTreeSet<ModulePath> = files.iter().map(|f| module_path(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_path(src, file);
        let is_mod_file = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        // The module `super::` and `self::` name, seen from this file.
        let parent: ModulePath = if is_mod_file {
            module
                .iter()
                .take(module.len().saturating_sub(1))
                .cloned()
                .collect()
        } else {
            module[..module.len() - 1].to_vec()
        };
        let this_dir: ModulePath = if is_mod_file {
            module.clone()
        } else {
            parent.clone()
        };
        let text = std::fs::read_to_string(file).expect("reading a source file");
        let text = code_of(&text);
        let text = text.as_str();
        let mut targets = BTreeSet::new();
        let mut resolve = |base: &ModulePath, segment: &str, rest: Option<&str>| {
            let mut target = base.clone();
            target.push(segment.to_string());
            if modules.contains(&target) {
                // One level further when that names a file too: `crate::runtime::state`.
                if let Some(next) = rest {
                    let mut deeper = target.clone();
                    deeper.push(next.to_string());
                    if modules.contains(&deeper) {
                        targets.insert(deeper);
                        return;
                    }
                }
                targets.insert(target);
            }
        };
        for segment in segments_after(text, "crate::") {
            let after = format!("crate::{segment}::");
            let next = segments_after(text, &after);
            if next.is_empty() {
                resolve(&vec![], segment, None);
            }
            for n in next {
                resolve(&vec![], segment, Some(n));
            }
        }
        for segment in segments_after(text, "super::") {
            resolve(&parent, segment, None);
        }
        for segment in segments_after(text, "self::") {
            resolve(&this_dir, segment, None);
        }
        targets.remove(&module);
        graph.insert(module, targets);
    }
    graph
}

/// Pairs (a, b) where a refers to b and b, directly or not, to a.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            if seen.insert(node.clone()) {
                stack.extend(edges.get(&node).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut found = Vec::new();
    for (from, targets) in edges {
        for to in targets {
            if reaches(to, from) {
                found.push(format!("{from} -> {to} -> … -> {from}"));
            }
        }
    }
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn top_level_modules_depend_one_way() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, targets) in references(&src()) {
        let Some(from) = module.first() else { continue };
        for target in targets {
            if let Some(to) = target.first()
                && to != from
            {
                edges.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn files_of_a_module_depend_one_way() {
    let mut by_parent: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, targets) in references(&src()) {
        if module.len() < 2 {
            continue;
        }
        let parent = module[..module.len() - 1].to_vec();
        for target in targets {
            if target.len() == module.len() && target[..target.len() - 1] == parent[..] {
                by_parent
                    .entry(parent.clone())
                    .or_default()
                    .entry(module.join("::"))
                    .or_default()
                    .insert(target.join("::"));
            }
        }
    }
    let found: Vec<String> = by_parent.values().flat_map(cycles).collect();
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn the_reader_finds_references() {
    // The checker itself: it must see the references it is meant to see.
    let graph = references(&src());
    let runtime_engine = graph
        .get(&vec!["runtime".to_string(), "engine".to_string()])
        .expect("runtime/engine.rs is read");
    assert!(runtime_engine.contains(&vec!["limits".to_string()]));
    assert_eq!(
        segments_after("use super::{Problem, body_problem::x};", "super::"),
        vec!["Problem", "body_problem"]
    );
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&edges).len(), 2);
}

/// HTTP handlers reach state through the host's services (`Host`, `Tenancy`, the workflow
/// engine), never the store itself: the services keep their caches and invariants (quotas
/// remembered, keys forgotten at a revocation, one conditional write per quota change).
#[test]
fn no_http_handler_reaches_the_store() {
    let mut files = Vec::new();
    source_files(&src().join("http"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).expect("a source file"));
        for reach in [".store()", "shared_store()", "crate::store::open"] {
            assert!(
                !code.contains(reach),
                "{} reaches the store ({reach}): go through a service",
                file.display()
            );
        }
    }
}

/// One HTTP client and one TLS stack in the build: a second version of either doubles its
/// compile time and its audit (reqwest 0.12 for the CLI beside 0.13 for the OTLP exporter
/// was once built; aws-lc beside ring is another).
#[test]
fn one_version_of_the_http_and_tls_stacks_is_built() {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .expect("Cargo.lock");
    for crate_name in ["reqwest", "hyper", "rustls", "tokio-rustls"] {
        let versions = lock
            .matches(&format!("[[package]]\nname = \"{crate_name}\"\n"))
            .count();
        assert_eq!(
            versions, 1,
            "{crate_name}: {versions} versions in Cargo.lock"
        );
    }
    for crate_name in ["aws-lc-rs", "aws-lc-sys", "native-tls", "openssl-sys"] {
        assert!(
            !lock.contains(&format!("name = \"{crate_name}\"\n")),
            "{crate_name} is in Cargo.lock"
        );
    }
}

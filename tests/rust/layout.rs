//! The core's modules depend on each other one way only: the import graph over every file of
//! `native/src` (folders included: `auth::aws::sources` is a module of its own), read from the
//! code outside comments and test modules, has no circle, and neither has the same graph folded
//! to the top-level modules; so the data's path can be read from the boundary down without
//! doubling back. The producers of a sink's series (the Spark name table, the self-metrics,
//! the node statistics and the listener's signals) never import each other: they share only the sink's label context.
//! Wire formats stay at the edge: only the modules that send (and the jar's probe) import
//! `remote_write`, and nothing upstream of them reaches it by any path: the producers, the label
//! context and the ingest thread make the core's model (`sample`), which each encoder writes as
//! its protocol says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The producers of series: none may refer to another.
const PRODUCERS: &[&str] = &["spark_series", "self_metrics", "node", "signals"];

/// The only modules that may import a wire format: the sender thread (encodes and sends), the
/// sink (builds the HTTP client) and `check` (the jar's probe request).
const EDGE: &[&str] = &["sender", "sink", "check"];

/// Where the wire formats live.
const WIRE: &str = "remote_write";

/// Every module of native/src (`a::b` for `a/b.rs`, `a` for `a/mod.rs`) and its code outside
/// test modules.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("native/src");
    let mut found = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).expect("native/src is readable");
            files.extend(entries.map(|e| e.expect("a directory entry").path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).expect("below native/src");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts == ["lib"] {
            continue; // declares every module, imports none
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: Vec<&str> = code
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect();
        found.insert(parts.join("::"), code.join("\n"));
    }
    found
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// The deepest module named by `base` followed by the path segments of `rest`.
fn resolve(known: &BTreeSet<String>, base: &str, rest: &str) -> Option<String> {
    let mut found = (!base.is_empty()).then(|| base.to_string());
    let mut path = base.to_string();
    for segment in rest.split("::") {
        let segment: String = segment
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if segment.is_empty() {
            break;
        }
        path = if path.is_empty() {
            segment
        } else {
            format!("{path}::{segment}")
        };
        if !known.contains(&path) {
            break;
        }
        found = Some(path.clone());
    }
    found
}

/// The modules `module` declares as its children (`mod x;`, `pub mod x;`).
fn children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|line| {
            let line = line
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Module -> the modules its code refers to: `crate::` paths, `super::` and `self::` paths, and
/// paths through the children it declares.
fn file_graph() -> Graph {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, code) in &modules {
        let deps = graph.entry(module.clone()).or_default();
        let own_children = children(code);
        let bytes = code.as_bytes();
        for (at, _) in code.match_indices("::") {
            // The path segment that ends here, and what stands before it.
            let start = code[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            if start >= 2 && &bytes[start - 2..start] == b"::" {
                continue; // not the first segment of its path
            }
            let head = &code[start..at];
            let rest = &code[at + 2..];
            let target = match head {
                "crate" => resolve(&known, "", rest),
                "super" => resolve(&known, &parent(module), rest).or_else(|| Some(parent(module))),
                "self" => resolve(&known, module, rest),
                child if own_children.iter().any(|c| c == child) => {
                    resolve(&known, module, &format!("{child}::{rest}"))
                }
                _ => None,
            };
            if let Some(target) = target.filter(|t| !t.is_empty() && t != module) {
                deps.insert(target);
            }
        }
    }
    graph
}

/// The same graph with each module folded to its top-level module.
fn top_level_graph(files: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_string();
    let mut graph = Graph::new();
    for (module, deps) in files {
        let entry = graph.entry(top(module)).or_default();
        entry.extend(deps.iter().map(|d| top(d)).filter(|d| *d != top(module)));
    }
    graph
}

/// A circle through the last module of `path`, if there is one.
fn circle(graph: &Graph, path: &mut Vec<String>) -> Option<Vec<String>> {
    let last = path.last().expect("a path starts somewhere").clone();
    for next in graph.get(&last).into_iter().flatten() {
        if let Some(at) = path.iter().position(|m| m == next) {
            let mut found = path[at..].to_vec();
            found.push(next.clone());
            return Some(found);
        }
        path.push(next.clone());
        if let Some(found) = circle(graph, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}

fn assert_no_circle(graph: &Graph, what: &str) {
    for module in graph.keys() {
        if let Some(found) = circle(graph, &mut vec![module.clone()]) {
            panic!("import circle among {what}: {}", found.join(" -> "));
        }
    }
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let files = file_graph();
    // The graph sees paths of every kind: crate::, super::, and a folder's own children.
    for (from, to) in [
        ("sink", "ingest"),
        ("node::series", "labels"),
        ("auth::aws::container", "auth::aws::environment"),
        ("auth::aws::imds", "auth::aws::answer"),
        ("auth::aws", "auth::aws::cache"),
        ("node", "node::procfs"),
    ] {
        assert!(
            files.get(from).is_some_and(|d| d.contains(to)),
            "{from} -> {to} not seen: {files:?}"
        );
    }
    assert_no_circle(&files, "the files of native/src");
    assert_no_circle(&top_level_graph(&files), "the top-level modules");
}

#[test]
fn producers_of_series_never_import_each_other() {
    let top = top_level_graph(&file_graph());
    for producer in PRODUCERS {
        let deps = &top[*producer];
        let others: Vec<_> = PRODUCERS
            .iter()
            .filter(|p| *p != producer && deps.contains(**p))
            .collect();
        assert!(
            others.is_empty(),
            "{producer} imports {others:?}: producers share only labels::SinkLabels"
        );
    }
}

/// The top-level modules `from` reaches through imports, itself excluded.
fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(module) = todo.pop() {
        for dep in graph.get(&module).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen.remove(from);
    seen
}

#[test]
fn only_the_edge_knows_a_wire_format() {
    let top = top_level_graph(&file_graph());
    let importers: Vec<&String> = top
        .iter()
        .filter(|(module, deps)| deps.contains(WIRE) && module.as_str() != WIRE)
        .map(|(module, _)| module)
        .collect();
    assert!(!importers.is_empty(), "the sender is seen importing {WIRE}");
    for module in importers {
        assert!(
            EDGE.contains(&module.as_str()),
            "{module} imports {WIRE}: only {EDGE:?} may; make the core's model (sample) and let an encoder write it"
        );
    }
    for upstream in PRODUCERS
        .iter()
        .chain(&["sample", "labels", "ingest", "queue", "metadata"])
    {
        let reached = reachable(&top, upstream);
        assert!(
            !reached.contains(WIRE),
            "{upstream} reaches {WIRE} through {reached:?}: a producer must not know a wire format"
        );
    }
}

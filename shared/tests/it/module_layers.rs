//! The shared crate's modules form layers: no cycle between its top-level modules, and no
//! capability module reaches the AWS adapters (`aws`) or the composition root (`runtime`); those
//! depend on the capabilities, never the other way. Read from the source: each `crate::<module>`
//! path outside comments and test modules is an edge. `cargo test -p shared --test it
//! module_layers -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that must not depend on `aws` or `runtime`.
const CAPABILITIES: [&str; 9] =
    ["balancing", "cost", "domain", "performance", "scaling", "simulation", "store", "telemetry", "warming"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `module` -> the modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let top = |path: &Path| {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = all.iter().map(|p| top(p)).filter(|m| m != "lib").collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let from = top(path);
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let entry = graph.entry(from.clone()).or_default();
        for line in code.lines().map(|l| l.split("//").next().unwrap_or_default()) {
            for (at, _) in line.match_indices("crate::") {
                let name: String =
                    line[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if name != from && modules.contains(&name) {
                    entry.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, if any: the path back to it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_shared_modules_form_layers() {
    let graph = graph();
    for (module, uses) in &graph {
        println!("{module} -> {}", uses.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    assert!(graph.len() > 10, "the modules were read: {graph:?}");
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_from(&graph, m)).map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "module cycles:\n  {}", cycles.join("\n  "));
    let upward: Vec<String> = CAPABILITIES
        .iter()
        .flat_map(|m| {
            graph
                .get(*m)
                .into_iter()
                .flatten()
                .filter(|u| *u == "aws" || *u == "runtime")
                .map(move |u| format!("{m} -> {u}"))
        })
        .collect();
    assert!(upward.is_empty(), "capability modules reaching adapters or the root: {upward:?}");
}

//! `commander replay scaling` as a user runs it.

use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/scaling/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn prints_one_json_line_per_observation() {
    let out = Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(["replay", "scaling", &fixture("example.json")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[1]["t"], 15);
    assert_eq!(lines[1]["current"], 3);
    assert_eq!(lines[1]["desired"], 6);
    assert!(lines[1]["reasons"][0].as_str().unwrap().contains("ratio 1.700"));
    assert_eq!(lines[2]["current"], 6, "each decision is applied before the next observation");
}

#[test]
fn a_bad_trace_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"policy": {"min_replicas": 3, "max_replicas": 1, "target_utilization": 0.5}, "replicas": 1, "observations": []}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(["replay", "scaling"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not a scaling trace") && err.contains("min_replicas"), "{err}");
}

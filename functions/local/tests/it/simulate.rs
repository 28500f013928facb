//! `commander simulate balancing` as a user runs it.

use std::process::Command;

#[test]
fn prints_a_table_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("short.json");
    let path = format!("{}/../../tests/fixtures/balancing/slow-replica.json", env!("CARGO_MANIFEST_DIR"));
    let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    s["duration_s"] = 3.into();
    std::fs::write(&scenario, s.to_string()).unwrap();
    let json = dir.path().join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(["simulate", "balancing"])
        .arg(&scenario)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| round_robin |") && table.contains("| peak_ewma |"), "{table}");
    let results: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(results.as_array().unwrap().len(), 3);
    for r in results.as_array().unwrap() {
        for field in ["share", "region_share", "latency_s", "success_within_timeout"] {
            assert!(!r[field].is_null(), "{field} in {r}");
        }
    }
}

//! `commander warm-plan` as a user runs it.

use std::process::Command;

use serde_json::Value;

fn plan(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_commander")).arg("warm-plan").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.success(),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn plans_the_agent_functions_in_each_region_by_its_local_time() {
    // Monday 9 March 2026, 12:30 UTC: 08:30 in New York (DST began the day before), 05:30 in
    // Los Angeles, 12:30 in London, 20:30 in Singapore.
    let (ok, entries, stderr) = plan(&["--at", "2026-03-09T12:30:00Z"]);
    assert!(ok, "{stderr}");
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 20, "five agent functions in four regions");
    let entry =
        |f: &str, r: &str| entries.iter().find(|e| e["function"] == f && e["region"] == r).unwrap().clone();
    let east = entry("detection-agent", "us-east-1");
    assert_eq!(east["local_time"], "2026-03-09T08:30:00-04:00");
    assert_eq!((east["factor"].as_f64(), east["concurrency"].as_u64()), (Some(1.0), Some(1)));
    assert!(east["skip_reason"].is_null());
    for (region, warm) in [("us-west-2", false), ("eu-west-1", true), ("ap-southeast-1", false)] {
        let e = entry("resolution-agent", region);
        assert_eq!(e["concurrency"].as_u64().unwrap() > 0, warm, "{e}");
        if !warm {
            assert!(e["skip_reason"].as_str().unwrap().starts_with("outside business hours"), "{e}");
        }
    }
    for e in entries {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["concurrency", "factor", "function", "local_time", "region", "skip_reason"]);
    }
}

#[test]
fn a_configuration_file_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warm.json");
    std::fs::write(
        &config,
        r#"{"targets": [{"function": "api", "regions": ["eu-west-1"], "qualifier": "live", "concurrency": 3}],
            "calendars": {"eu-west-1": {"timezone": "Europe/Dublin", "holidays": ["2026-03-17"]}}}"#,
    )
    .unwrap();
    let (ok, entries, _) = plan(&["--at", "2026-03-16T10:00:00Z", "--config", config.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(entries[0]["concurrency"], 3);
    let (_, holiday, _) = plan(&["--at", "2026-03-17T10:00:00Z", "--config", config.to_str().unwrap()]);
    assert_eq!((holiday[0]["factor"].as_f64(), holiday[0]["concurrency"].as_u64()), (Some(0.1), Some(0)));
    let (ok, _, stderr) = plan(&["--at", "tomorrow"]);
    assert!(!ok && stderr.contains("RFC 3339"), "{stderr}");
    std::fs::write(&config, r#"{"targets": [{"function": "api", "regions": ["me-south-1"]}]}"#).unwrap();
    let (ok, _, stderr) = plan(&["--at", "2026-03-16T10:00:00Z", "--config", config.to_str().unwrap()]);
    assert!(!ok && stderr.contains("time zone"), "{stderr}");
}

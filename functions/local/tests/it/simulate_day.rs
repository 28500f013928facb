//! `commander simulate day` end to end: the binary reads a scenario, runs the suite and both
//! baselines, and writes the same report and plots for the same seed.

use std::process::Command;

const SCENARIO: &str = r#"{"name": "short", "description": "An hour across New York's morning.",
    "start": "2026-03-10T12:30:00Z", "hours": 1, "seed": 11,
    "regions": {"us-east-1": {"off_hours_per_minute": 5.0, "business_per_minute": 60.0},
                "eu-west-1": {"off_hours_per_minute": 5.0, "business_per_minute": 20.0}},
    "agent_mix": {"detection": 0.6, "diagnosis": 0.4},
    "severity_mix": {"critical": 0.1, "medium": 0.9},
    "service": {"detection": {"median_s": 20.0, "p95_s": 40.0},
                "diagnosis": {"median_s": 90.0, "p95_s": 160.0}}}"#;

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(["simulate", "day"])
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the commander binary runs")
}

#[test]
fn the_same_seed_writes_the_same_report_with_its_plots() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("short.json");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let args = ["--scenario", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let first = simulate(&args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("| | suite | suite, reactive only | static peak capacity | prototype rules |"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for plot in ["replicas.svg", "utilization.svg", "starts.svg", "fleet.svg", "response.svg", "spend.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline"), "{plot} has no lines");
        assert!(report.contains(&format!("]({plot})")), "the report shows {plot}");
    }
    assert!(report.contains("An hour across New York's morning."));
    assert!(simulate(&args).status.success());
    assert_eq!(report, std::fs::read_to_string(out.join("report.md")).unwrap(), "same seed, same report");
    let other = simulate(&[&args[..], &["--seed", "12"]].concat());
    assert!(other.status.success());
    assert_ne!(report, std::fs::read_to_string(out.join("report.md")).unwrap(), "another seed, another day");
}

#[test]
fn a_bad_scenario_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.json");
    std::fs::write(&scenario, SCENARIO.replace(r#""hours": 1"#, r#""hours": 0"#)).unwrap();
    let out = simulate(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hours"), "{stderr}");
    assert!(!dir.path().join("o").exists(), "nothing written for a refused scenario");
}

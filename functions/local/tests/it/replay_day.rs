//! A what-if replay end to end: a day of recorded demand on the DynamoDB-API server, exported by
//! `commander export-day`, replayed by `commander simulate replay` under the policy in force and
//! a proposed one that caps the type at two replicas; the report shows the cap's cost in waits.

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use integration_tests::{dynamodb_endpoint, fresh_dynamo_store};
use shared::clock::ManualClock;
use shared::domain::AgentType;
use shared::scaling::ScalingPolicy;
use shared::scaling::recorded::{DemandRecorder, HourRecord, MinuteRecord};
use shared::store::Store;

fn commander(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_commander"))
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the commander binary runs")
}

/// Cells of the report's row `name`, one per policy.
fn row(report: &str, name: &str) -> Vec<String> {
    let line = report
        .lines()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no {name} row in\n{report}"));
    line.trim_matches('|').split('|').skip(1).map(|c| c.trim().to_owned()).collect()
}

#[tokio::test]
async fn a_recorded_day_is_exported_from_the_table_and_replayed_under_two_policies() {
    let Some(endpoint) = dynamodb_endpoint("what-if replay") else { return };
    let day: DateTime<Utc> =
        DateTime::parse_from_rfc3339("2027-01-18T00:00:00Z").unwrap().with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(day + Duration::hours(30)));
    let store = fresh_dynamo_store(&endpoint, clock.clone()).await;
    let table = store.table_name().to_owned();
    let recorder = DemandRecorder::new(Arc::new(store) as Arc<dyn Store>);
    let detection = AgentType::parse("detection").unwrap();
    // Business hours at 20 incidents a minute, the rest at 2; each two minutes' work. Recorded the
    // way the tick writes its hours.
    let hours: Vec<HourRecord> = (0..24)
        .map(|h| {
            let served = if (9..17).contains(&h) { 20.0 } else { 2.0 };
            let mut m = MinuteRecord { busy: served * 2.0, live: 3, desired: 3, ..MinuteRecord::default() };
            m.demand.served.medium = served;
            HourRecord::steady(day + Duration::hours(h), m)
        })
        .collect();
    recorder.put_hours(&detection, &hours).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("day.json");
    let exported = commander(&[
        "export-day",
        "--day",
        "2027-01-18",
        "--table",
        &table,
        "--endpoint-url",
        &endpoint,
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    assert!(
        String::from_utf8_lossy(&exported.stdout).contains("1 types with 24 recorded hours"),
        "{exported:?}"
    );

    let mut capped = ScalingPolicy::default_for(&detection);
    capped.max_replicas = 2;
    let policy = dir.path().join("capped.json");
    std::fs::write(&policy, serde_json::to_string(&capped).unwrap()).unwrap();
    let out = dir.path().join("replay");
    let replay = |day: &str| {
        commander(&[
            "simulate",
            "replay",
            "--from",
            export.to_str().unwrap(),
            "--day",
            day,
            "--type",
            "detection",
            "--policy",
            policy.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let replayed = replay("2027-01-18");
    assert!(replayed.status.success(), "{}", String::from_utf8_lossy(&replayed.stderr));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| | policy in force | proposed policy |"), "{report}");
    // 40 in progress at the peak needs 3 replicas of 20 at 70 %: the cap of 2 saves replica-hours
    // and costs waits.
    let hours: Vec<f64> = row(&report, "replica-hours").iter().map(|c| c.parse().unwrap()).collect();
    assert!(hours[1] < hours[0], "{hours:?}");
    let completed = row(&report, "incidents completed");
    assert!(completed[0].ends_with(&format!("of {}", 60 * (8 * 20 + 16 * 2))), "{completed:?}");
    let waited = row(&report, "waited longer than the maximum response time");
    let share = |c: &str| c.trim_end_matches(" %").parse::<f64>().unwrap();
    assert!(share(&waited[1]) > share(&waited[0]), "{waited:?}");
    for plot in ["replicas.svg", "waits.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.contains("<polyline") && report.contains(&format!("]({plot})")), "{plot}");
    }
    // The wrong day is refused, naming it.
    let wrong = replay("2027-01-19");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("2027-01-18"), "{wrong:?}");

    replays_straight_from_the_table(&table, &endpoint, &policy, dir.path(), &report);
}

/// The same day read straight from the table, without an export file: the same figures.
fn replays_straight_from_the_table(
    table: &str,
    endpoint: &str,
    policy: &std::path::Path,
    dir: &std::path::Path,
    report: &str,
) {
    let direct_out = dir.join("direct");
    let direct = commander(&[
        "simulate",
        "replay",
        "--table",
        table,
        "--endpoint-url",
        endpoint,
        "--day",
        "2027-01-18",
        "--type",
        "detection",
        "--policy",
        policy.to_str().unwrap(),
        "--out",
        direct_out.to_str().unwrap(),
    ]);
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    let direct_report = std::fs::read_to_string(direct_out.join("report.md")).unwrap();
    for name in ["incidents completed", "replica-hours", "wait for an agent p50 / p95 / p99"] {
        assert_eq!(row(&direct_report, name), row(report, name), "{name}");
    }
    assert!(direct_report.contains(&format!("--table {table} --day 2027-01-18")), "{direct_report}");
    // Reading from the table needs the day.
    let no_day = commander(&[
        "simulate",
        "replay",
        "--table",
        table,
        "--endpoint-url",
        endpoint,
        "--type",
        "detection",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(!no_day.status.success());
    assert!(String::from_utf8_lossy(&no_day.stderr).contains("--day"), "{no_day:?}");
}

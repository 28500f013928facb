//! `commander serve` as a user runs it: a real process on loopback, a state file, a restart.

use std::time::Duration;

use serde_json::{Value, json};

use crate::local_server::{start, start_with, start_with_env};

#[tokio::test]
async fn serve_keeps_state_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");

    let server = start(&state).await;
    let (status, body) = server.request("GET", "/scaling/status", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["scaling_policies"].as_object().unwrap().len(), 5);
    assert_eq!(body["scaling_policies"]["diagnosis"]["max_replicas"], 8);

    let (_, mut policy) = server.request("GET", "/scaling/policies/diagnosis", None).await;
    policy["max_replicas"] = json!(12);
    let (status, stored) = server.request("PUT", "/scaling/policies/diagnosis", Some(&policy)).await;
    assert_eq!(status, 200, "{stored}");
    let beat = json!({"agent_type": "diagnosis", "replica_id": "diag-1", "region": "eu-west-1",
                      "load": 3, "capacity": 10, "healthy": true, "performance_score": 0.95});
    assert_eq!(server.request("POST", "/replicas/heartbeat", Some(&beat)).await.0, 200);
    server.stop().await;

    let server = start(&state).await;
    let (_, body) = server.request("GET", "/scaling/status", None).await;
    assert_eq!(body["scaling_policies"]["diagnosis"]["max_replicas"], 12, "the policy change survived");
    assert_eq!(body["scaling_policies"]["diagnosis"]["version"], 1);
    assert_eq!(body["replica_status"]["diagnosis"][0]["replica_id"], "diag-1", "the heartbeat survived");
    assert_eq!(body["geographic_distribution"]["eu-west-1"], 1);
    server.stop().await;
}

#[tokio::test]
async fn alarms_posted_locally_drive_the_scaler() {
    // No tick: only the alarm evaluates.
    let server = start_with(&["--memory".as_ref(), "--tick-seconds".as_ref(), "0".as_ref()]).await;
    for (id, region) in [("d0", "us-east-1"), ("d1", "us-west-2")] {
        let beat = json!({"agent_type": "detection", "replica_id": id, "region": region, "load": 19.0,
                          "capacity": 20, "healthy": true, "performance_score": 0.9});
        assert_eq!(server.request("POST", "/replicas/heartbeat", Some(&beat)).await.0, 200);
    }
    let path =
        format!("{}/../../tests/fixtures/cloudwatch-alarm-direct-high.json", env!("CARGO_MANIFEST_DIR"));
    let alarm: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let alarm = integration_tests::alarm_at(alarm, chrono::Utc::now());
    let (status, outcome) = server.request("POST", "/local/alarms", Some(&alarm)).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["status"], "applied");
    let (_, again) = server.request("POST", "/local/alarms", Some(&alarm)).await;
    assert_eq!(again["status"], "replayed");
    let (_, body) = server.request("GET", "/scaling/status", None).await;
    assert_eq!(body["scaling_metrics"]["detection"]["desired_replicas"], 3);
    let (status, problem) = server.request("POST", "/local/alarms", Some(&json!({"not": "an alarm"}))).await;
    assert_eq!(status, 400, "{problem}");
    server.stop().await;
}

/// A Lambda Invoke API on loopback that answers every invocation as a warm container does.
async fn lambda_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app =
        axum::Router::new().fallback(|| async { axum::Json(json!({"warm": true, "correlation_id": "x"})) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn performance_metrics_show_pools_caches_and_query_times_of_a_serving_suite() {
    let lambda = lambda_api().await;
    // The agent_configs cache is forced to a zero TTL: every policy read misses.
    let env = [("COMMANDER_LAMBDA_ENDPOINT", lambda.as_str()), ("COMMANDER_CACHE_AGENT_CONFIGS", "100/0")];
    let server = start_with_env(&["--memory".as_ref()], &env).await;
    for _ in 0..10 {
        // (The status is read once a second at most; the policies list reads every policy.)
        assert_eq!(server.request("GET", "/scaling/status", None).await.0, 200);
        assert_eq!(server.request("GET", "/scaling/policies", None).await.0, 200);
        assert_eq!(server.request("GET", "/cost/prices", None).await.0, 200);
    }
    let (status, warm) = server.request("POST", "/lambda/warm", Some(&json!(["detection-agent"]))).await;
    assert_eq!(status, 200, "{warm}");

    let (status, metrics) = server.request("GET", "/performance/metrics", None).await;
    assert_eq!(status, 200, "{metrics}");
    let perf = &metrics["performance_optimization"];
    let aws = &perf["connection_pools"]["aws"];
    assert!(aws["requests"].as_u64().unwrap() > 0 && aws["peak_in_flight"].as_u64().unwrap() > 0, "{aws}");
    assert_eq!(aws["max"], 50);
    let prices_hit_rate = perf["cache_hit_rates"]["business_rules"].as_f64().unwrap();
    assert!(prices_hit_rate > 0.8, "the price table is read from the cache: {prices_hit_rate}");
    assert_eq!(perf["cache_hit_rates"]["agent_configs"], 0.0, "{perf}");
    // Every policy list reads all policies in one batched read.
    let policy_reads = &perf["query_response_times"]["get_many AGENT/POLICY"];
    assert!(policy_reads["count"].as_u64().unwrap() >= 10, "{policy_reads}");
    assert!(policy_reads["p95_ms"].as_f64().unwrap() > 0.0, "{policy_reads}");
    assert!(
        perf["query_response_times"].get("get CONTROL/PRICES").is_some_and(|p| p["count"] == 1),
        "{perf}"
    );
    assert!(metrics["scaling"]["scaling_metrics"].is_object());
    assert!(metrics["timestamp"].is_string());

    let (status, advice) = server.request("GET", "/performance/recommendations", None).await;
    assert_eq!(status, 200, "{advice}");
    let found = advice["performance_recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "low_cache_hit_rate")
        .unwrap_or_else(|| panic!("no low hit rate advice: {advice}"));
    assert_eq!(found["target"], "agent_configs");
    assert!(found["evidence"].as_str().unwrap().starts_with("0 hits in "), "{found}");
    let summary = &advice["summary"];
    assert_eq!(
        summary["performance_issues"],
        advice["performance_recommendations"].as_array().unwrap().len()
    );
    server.stop().await;
}

/// The loop as it runs locally: `--tick-seconds 2` evaluates every type on its heartbeats, the
/// status shows live and desired counts, the last evaluation's trigger, refused demand by
/// severity, and a region whose replicas went silent marked by the scaler itself.
#[tokio::test]
async fn the_tick_closes_the_loop_locally_and_the_status_shows_it() {
    let server = start_with_env(
        &["--memory".as_ref(), "--tick-seconds".as_ref(), "2".as_ref()],
        &[("COMMANDER_HEARTBEAT_INTERVAL_SECONDS", "1")],
    )
    .await;
    let beat = |id: &str, region: &str| {
        json!({"agent_type": "detection", "replica_id": id, "region": region, "load": 19.0,
               "capacity": 20, "healthy": true, "performance_score": 0.9})
    };
    let report = |ids: &'static [(&'static str, &'static str)]| {
        let server = &server;
        async move {
            for (id, region) in ids {
                let (status, body) =
                    server.request("POST", "/replicas/heartbeat", Some(&beat(id, region))).await;
                assert_eq!(status, 200, "{body}");
            }
        }
    };
    let everywhere: &'static [(&str, &str)] =
        &[("d0", "us-east-1"), ("d1", "us-west-2"), ("d2", "eu-west-1")];
    let west_only: &'static [(&str, &str)] = &[("d1", "us-west-2"), ("d2", "eu-west-1")];
    let refused = json!({"agent_type": "communication", "severity": "critical", "incident_id": "inc-1"});
    let (status, _) = server.request("POST", "/replicas/select", Some(&refused)).await;
    assert_eq!(status, 503, "no communication replica reports");

    // Every replica reports while the ticks run: the busy type grows.
    let mut status = Value::Null;
    for _ in 0..5 {
        report(everywhere).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        status = server.request("GET", "/scaling/status", None).await.1;
    }
    let detection = &status["scaling_metrics"]["detection"];
    assert_eq!(detection["live_replicas"], 3, "{detection}");
    assert!(detection["desired_replicas"].as_u64().unwrap() > 3, "{detection}");
    assert_eq!(detection["last_evaluation"]["trigger"], "tick", "{detection}");
    assert_eq!(detection["signal"], "heartbeats");
    let communication = &status["scaling_metrics"]["communication"];
    assert_eq!(communication["demand"]["refused"]["critical"], 1.0, "{communication}");
    assert_eq!(status["region_health"]["us-east-1"]["healthy"], true);

    // us-east-1's replica goes silent while the others keep reporting: the scaler marks it.
    let mut marked = Value::Null;
    for _ in 0..12 {
        report(west_only).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        marked = server.request("GET", "/scaling/status", None).await.1;
        if marked["region_health"]["us-east-1"]["healthy"] == false {
            break;
        }
    }
    let east = &marked["region_health"]["us-east-1"];
    assert_eq!(
        (east["healthy"].as_bool(), east["source"].as_str()),
        (Some(false), Some("silence")),
        "{east}"
    );
    assert!(east["reason"].as_str().unwrap().contains("detection"), "{east}");
    assert_eq!(east["events"][0]["source"], "silence", "{east}");
    assert_eq!(marked["region_health"]["us-west-2"]["source"], Value::Null, "{marked}");
    server.stop().await;
}

/// Issue 17, item 13: a page the operator visits cannot drive the local fleet, by rebinding its
/// name to loopback or by posting across sites; the operator's own requests still go through.
#[tokio::test]
async fn only_this_machines_own_requests_are_served() {
    let server = start_with(&["--memory".as_ref(), "--sweep-every-minutes".as_ref(), "0".as_ref()]).await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let port = host.rsplit_once(':').unwrap().1.to_owned();
    let own_origin = format!("Origin: http://{host}\r\n");
    let cases = [
        ("the CLI or curl", host.clone(), String::new(), 200),
        ("localhost", format!("localhost:{port}"), String::new(), 200),
        (
            "the dashboard, same origin",
            host.clone(),
            format!("{own_origin}Sec-Fetch-Site: same-origin\r\n"),
            200,
        ),
        ("a rebound name", format!("evil.example:{port}"), String::new(), 403),
        (
            "a rebound name, its own origin",
            format!("evil.example:{port}"),
            format!("Origin: http://evil.example:{port}\r\n"),
            403,
        ),
        ("another site's form", host.clone(), "Origin: https://evil.example\r\n".to_owned(), 403),
        ("another site's fetch", host.clone(), "Sec-Fetch-Site: cross-site\r\n".to_owned(), 403),
    ];
    for (who, host, extra, expected) in cases {
        let status = server.post_as("/scaling/optimize", &host, &extra).await;
        assert_eq!(status, expected, "{who}");
        let alarm = server.post_as("/local/alarms", &host, &extra).await;
        assert_eq!(alarm == 403, expected == 403, "{who}: the alarm route answered {alarm}");
    }
    server.stop().await;
}

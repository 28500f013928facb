//! The api binary (deployed as `bootstrap`) run as Lambda runs it: its `AWS_LAMBDA_RUNTIME_API`
//! points at a Lambda Runtime API served by this test on loopback, which hands it real API Gateway
//! events from `tests/fixtures/` and collects its answers. The store is the DynamoDB-API server.

use integration_tests::bootstrap::{Case, run_cases};
use integration_tests::fixture;
use serde_json::Value;

/// The JSON body inside an API Gateway proxy response.
fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("a string body")).unwrap()
}

/// The JSON log lines of invocation `request_id`: each names its request, its function and its
/// service at the top level (the Powertools convention), and whether it was the cold start.
fn lines_of(lines: &[String], request_id: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["function_request_id"] == request_id)
        .collect()
}

/// The invocation's JSON lines (at DEBUG here) name it, its function and service; none of them is
/// an INFO access-log line: in Lambda the access log is API Gateway's.
fn assert_logged_with_request_id(lines: &[String], request_id: &str) {
    let logged = lines_of(lines, request_id);
    let line = logged.first().unwrap_or_else(|| panic!("a JSON log line names {request_id}: {lines:#?}"));
    assert_eq!(
        (&line["service"], &line["function_name"], &line["function_memory_size"]),
        (&Value::from("api"), &Value::from("commander-api"), &Value::from("256")),
        "{line}"
    );
    assert_eq!(line["cold_start"], false, "a warm ping came first: {line}");
    assert!(line["timestamp"].is_string() && line["message"].is_string(), "{line}");
    let info: Vec<_> = logged.iter().filter(|l| l["level"] == "INFO" && l.get("_aws").is_none()).collect();
    assert!(info.is_empty(), "no access-log line in Lambda: {info:#?}");
}

/// The container's start, phase by phase, at DEBUG (what docs/performance.md's breakdown reads).
fn assert_init_phases_logged(lines: &[String]) {
    let phases: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "init phase" && l["took_us"].is_u64())
        .filter_map(|l| l["phase"].as_str().map(ToOwned::to_owned))
        .collect();
    assert_eq!(phases, ["settings", "logging", "sdk_config", "store", "services", "router"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_answers_api_gateway_events_through_the_runtime_api() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("api under a local Lambda Runtime API") else {
        return;
    };
    let table = format!("lambda-{}", uuid::Uuid::new_v4().simple());
    shared::store::create_table(&shared::aws::local_dynamodb(&endpoint), &table).await.unwrap();

    let ping = serde_json::json!({"warmer": {"correlation_id": "warm-1", "concurrency": 1, "hold_ms": 5}});
    let cases = [
        Case::new("ping-cold", ping.clone()).expect("/warm", true).expect("/cold_start", true),
        Case::new("req-status-1", fixture("apigw-v2-get-scaling-status.json")).expect("/statusCode", 200),
        Case::new("req-heartbeat", fixture("apigw-v2-post-heartbeat.json")).expect("/statusCode", 200),
        Case::new("req-status-2", fixture("apigw-v2-get-scaling-status.json")).expect("/statusCode", 200),
        // A REST API (v1) event.
        Case::new("req-rest-status", fixture("apigw-rest-get-scaling-status.json"))
            .expect("/statusCode", 200),
        // The container was used since.
        Case::new("ping-warm", ping).expect("/cold_start", false).expect("/correlation_id", "warm-1"),
    ];
    let env = [
        ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true"),
        ("COMMANDER_TABLE_NAME", table.as_str()),
        ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint),
        ("COMMANDER_COST_SOURCES", "none"),
        ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
    ];
    let ran = run_cases(env!("CARGO_BIN_EXE_api"), "commander-api", &env, &cases).await;
    assert_eq!(ran.answer("ping-warm")["container_id"], ran.answer("ping-cold")["container_id"]);

    let first = body(ran.answer("req-status-1"));
    let types: Vec<&String> = first["scaling_policies"].as_object().unwrap().keys().collect();
    assert_eq!(types, ["communication", "detection", "diagnosis", "prediction", "resolution"]);
    assert_eq!(first["scaling_policies"]["detection"]["max_replicas"], 10);
    let after = body(ran.answer("req-status-2"));
    assert_eq!(after["replica_status"]["detection"][0]["replica_id"], "det-use1-a");
    assert_eq!(after["geographic_distribution"]["us-east-1"], 1);
    assert_eq!(
        body(ran.answer("req-rest-status"))["replica_status"]["detection"][0]["replica_id"],
        "det-use1-a"
    );

    let lines = ran.lines;
    assert_logged_with_request_id(&lines, "req-heartbeat");
    assert_init_phases_logged(&lines);
    // (The runtime's own DEBUG lines name every invocation, pings too.)
    let at_info = |l: &&String| !l.contains(r#""level":"DEBUG""#) && !l.contains(r#""level":"TRACE""#);
    assert!(
        !lines.iter().filter(at_info).any(|l| l.contains("ping-cold") || l.contains("ping-warm")),
        "pings leave no log line or metric behind"
    );
    // The first request flushed the container's figures (at most once a minute after that).
    let report = integration_tests::assert_reported(&endpoint, &table, "api").await;
    assert!(report.patterns.keys().any(|p| p == "get_many AGENT/POLICY"), "{:?}", report.patterns.keys());
}

/// Lambda drops JSON lines below the function's log level, and a line without a `level` counts
/// as INFO: every EMF line the bootstrap prints must survive each `LogLevel` the template allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reach_cloudwatch_at_every_log_level() {
    let Some(endpoint) =
        integration_tests::dynamodb_endpoint("api EMF lines under Lambda's log-level filter")
    else {
        return;
    };
    // The same replica reports twice in a row: one utilization sample, so the alarms' average
    // weighs replicas, not how often each reports.
    let events = vec![
        ("heartbeat", fixture("apigw-v2-post-heartbeat.json")),
        ("heartbeat-again", fixture("apigw-v2-post-heartbeat.json")),
        ("status", fixture("apigw-v2-get-scaling-status.json")),
    ];
    let lines = integration_tests::emf::assert_metrics_survive_every_log_level(
        env!("CARGO_BIN_EXE_api"),
        "commander-api",
        &endpoint,
        &events,
        &[],
        &["AgentUtilization"],
    )
    .await;
    let counts: Vec<(&str, usize)> = lines.iter().map(|(level, l)| (*level, l.len())).collect();
    println!("api: EMF lines per log level {counts:?}");
    for (level, emf) in &lines {
        let samples = emf.iter().filter(|l| l.contains("\"AgentUtilization\"")).count();
        assert_eq!(samples, 1, "{level}: one sample for two reports of one replica");
    }
}

/// At `LogLevel` WARN (Lambda drops INFO lines) the WARN lines that remain still name their
/// request and say the container's first invocation was the cold start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_lines_name_their_request_when_info_is_filtered() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("api WARN lines under a WARN filter") else {
        return;
    };
    let table = format!("lambda-{}", uuid::Uuid::new_v4().simple());
    shared::store::create_table(&shared::aws::local_dynamodb(&endpoint), &table).await.unwrap();
    let mut pause = fixture("apigw-v2-post-heartbeat.json");
    pause["routeKey"] = "PUT /scaling/policies/detection/pause".into();
    pause["rawPath"] = "/scaling/policies/detection/pause".into();
    pause["requestContext"]["http"]["method"] = "PUT".into();
    pause["requestContext"]["http"]["path"] = "/scaling/policies/detection/pause".into();
    pause["body"] = r#"{"reason": "load test"}"#.into();
    let cases = [
        Case::new("pause-cold", pause.clone()).expect("/statusCode", 200),
        Case::new("pause-warm", pause).expect("/statusCode", 200),
    ];
    let env = [
        ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true"),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ("COMMANDER_TABLE_NAME", table.as_str()),
        ("COMMANDER_DYNAMODB_ENDPOINT", &endpoint),
        ("COMMANDER_COST_SOURCES", "none"),
    ];
    let ran = run_cases(env!("CARGO_BIN_EXE_api"), "commander-api", &env, &cases).await;
    for (id, cold) in [("pause-cold", true), ("pause-warm", false)] {
        let logged = lines_of(&ran.lines, id);
        let paused = logged
            .iter()
            .find(|l| l["message"] == "autoscaling paused")
            .unwrap_or_else(|| panic!("{id}: the WARN line: {:#?}", ran.lines));
        assert_eq!(
            (&paused["level"], &paused["cold_start"]),
            (&Value::from("WARN"), &Value::from(cold)),
            "{paused}"
        );
        assert_eq!(paused["agent_type"], "detection");
        assert!(logged.iter().all(|l| l["level"] != "INFO"), "{id}: INFO is filtered: {logged:#?}");
    }
}

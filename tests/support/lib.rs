//! Helpers for tests that need a real DynamoDB-API server. The README's test command starts one
//! on loopback and exports its address as `COMMANDER_TEST_DYNAMODB_ENDPOINT`.

pub mod bootstrap;
pub mod commander_serve;
pub mod emf;
pub mod local_lambda;
pub mod relay;
pub mod runtime_api;
pub mod tick;

use std::sync::Arc;

use shared::clock::Clock;
use shared::store::{DynamoStore, create_table};

/// The instant the tests' manual clocks start at (2027-01-15T08:00:00Z), so no test depends on
/// when it runs.
pub const TEST_EPOCH: i64 = 1_800_000_000;

/// A manual clock at [`TEST_EPOCH`].
///
/// # Panics
/// Never: the epoch is a valid instant.
pub fn test_clock() -> Arc<shared::clock::ManualClock> {
    Arc::new(shared::clock::ManualClock::new(
        chrono::DateTime::from_timestamp(TEST_EPOCH, 0).expect("a valid instant"),
    ))
}

/// A container over `store` as given (neither timed nor cached) whose settings `env` gives, as a
/// `commander serve` started with that environment reads them.
///
/// # Panics
/// When a setting is bad.
pub fn container_with_env(
    env: &impl shared::config::Env,
    clock: Arc<dyn Clock>,
    store: Arc<dyn shared::store::Store>,
) -> shared::runtime::Container {
    let config = shared::config::Config::default();
    let settings = shared::runtime::Settings::local(env, config.clone()).expect("usable settings");
    shared::runtime::Container { settings, ..shared::runtime::Container::bare(config, clock, store) }
}

/// A JSON fixture from `tests/fixtures/` (real AWS sample events, scenarios, traces).
///
/// # Panics
/// When it is missing or not JSON.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Where the test DynamoDB-API server listens.
pub const ENDPOINT_VAR: &str = "COMMANDER_TEST_DYNAMODB_ENDPOINT";
/// Set (as the README's test command does) to make a missing server a failure instead of a skip.
pub const REQUIRE_VAR: &str = "COMMANDER_REQUIRE_DYNAMODB";

/// The server's endpoint, or `None` (with a note on stderr) when tests run without one.
///
/// # Panics
/// When the server is required but not configured, so CI cannot pass without it.
pub fn dynamodb_endpoint(test: &str) -> Option<String> {
    if let Some(endpoint) = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty()) {
        return Some(endpoint);
    }
    assert!(
        std::env::var(REQUIRE_VAR).is_err(),
        "{REQUIRE_VAR} is set but {ENDPOINT_VAR} is not: start a DynamoDB-API server (see README)"
    );
    eprintln!(
        "SKIPPED {test}: no DynamoDB-API server ({ENDPOINT_VAR} unset); the README test command starts one"
    );
    None
}

/// A DynamoStore on a fresh table of its own, so tests never see each other's items.
pub async fn fresh_dynamo_store(endpoint: &str, clock: Arc<dyn Clock>) -> DynamoStore {
    let client = shared::aws::local_dynamodb(endpoint);
    let table = format!("test-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table).await.expect("create the test table on the DynamoDB-API server");
    DynamoStore::new(client, table, clock)
}

/// The performance reports `function`'s containers wrote to `table` in the current and previous
/// statistics windows (the functions flush at the end of a run or once a minute).
pub async fn performance_reports(
    endpoint: &str,
    table: &str,
    function: &str,
) -> Vec<shared::performance::report::ContainerReport> {
    let store =
        DynamoStore::new(shared::aws::local_dynamodb(endpoint), table, Arc::new(shared::clock::SystemClock));
    let current = shared::performance::query_stats::window_of(chrono::Utc::now());
    let mut reports = Vec::new();
    for start in [current - shared::performance::query_stats::WINDOW_SECONDS, current] {
        reports.extend(
            shared::performance::report::reports_of_window(&store, start).await.expect("read reports"),
        );
    }
    reports.retain(|r| r.function == function);
    reports
}

/// The latest report `function` wrote to `table`, checked for what every function's wiring must
/// show: store calls timed per access pattern and carried by the AWS pool.
///
/// # Panics
/// When there is no such report, or it shows no store call or no AWS request.
pub async fn assert_reported(
    endpoint: &str,
    table: &str,
    function: &str,
) -> shared::performance::report::ContainerReport {
    let reports = performance_reports(endpoint, table, function).await;
    let report = reports
        .into_iter()
        .max_by_key(|r| r.flushed_at)
        .unwrap_or_else(|| panic!("{function} wrote no performance report"));
    assert!(!report.patterns.is_empty(), "{function}: no store call timed");
    let aws = report.pools.iter().find(|p| p.service == "aws").expect("an AWS pool");
    assert!(aws.requests > 0 && aws.max == 50, "{function}: {aws:?}");
    report
}

/// An alarm event (either form) whose transition happened at `at`: the scaler ignores
/// transitions older than two periods, so tests date the fixtures' transitions to their clock.
pub fn alarm_at(mut event: serde_json::Value, at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let stamp = at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    if let Some(state) = event.pointer_mut("/alarmData/state") {
        state["timestamp"] = stamp.clone().into();
    }
    if let Some(state) = event.pointer_mut("/detail/state") {
        state["timestamp"] = stamp.into();
    }
    event
}

/// Creates (or finds) a function named `name` on the test server's Lambda API, with `reserved`
/// concurrency, and answers a client for it. The server (moto) keeps functions' configuration
/// (reserved concurrency among it) without running them; it wants the function's role to exist,
/// so the role is created first through the IAM query API.
pub async fn moto_function(endpoint: &str, name: &str, reserved: Option<u32>) -> aws_sdk_lambda::Client {
    let role = moto_role(endpoint).await;
    let client = shared::aws::local_lambda(
        endpoint,
        "us-east-1",
        shared::performance::Pools::default().get(shared::performance::Service::Aws),
    );
    let created = client
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(role)
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder().zip_file(b"PK\x05\x06".as_slice().into()).build(),
        )
        .send()
        .await;
    if let Err(e) = created {
        let conflict = e.as_service_error().is_some_and(
            aws_sdk_lambda::operation::create_function::CreateFunctionError::is_resource_conflict_exception,
        );
        assert!(conflict, "create {name}: {}", aws_sdk_lambda::error::DisplayErrorContext(&e));
    }
    let describe = |e: &dyn std::error::Error| format!("reserve for {name}: {e:?}");
    let set = if let Some(n) = reserved {
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        let put = client.put_function_concurrency().function_name(name).reserved_concurrent_executions(n);
        put.send().await.map(|_| ()).map_err(|e| describe(&e))
    } else {
        let delete = client.delete_function_concurrency().function_name(name);
        delete.send().await.map(|_| ()).map_err(|e| describe(&e))
    };
    set.unwrap_or_else(|e| panic!("{e}"));
    client
}

/// The test server's IAM role for functions (created once; IAM is global there).
async fn moto_role(endpoint: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let body = "Action=CreateRole&Version=2010-05-08&RoleName=commander-test-function\
                &AssumeRolePolicyDocument=%7B%7D";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/iam/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(host).await.expect("reach the test server");
    socket.write_all(request.as_bytes()).await.expect("send CreateRole");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.expect("read CreateRole's answer");
    // 200, or 409 EntityAlreadyExists on every call after the first.
    let status = answer.split_whitespace().nth(1);
    assert!(status == Some("200") || answer.contains("EntityAlreadyExists"), "{answer}");
    "arn:aws:iam::123456789012:role/commander-test-function".to_owned()
}

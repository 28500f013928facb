//! The client against `commander serve` (the binary the workspace builds): what an agent does,
//! in the order it does it.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use commander_client::wire::{ReleaseRequest, ReplicaRef, SelectRequest, UsageRequest};
use commander_client::{Client, Error, Heartbeat, RetryPolicy, answer_warm_ping};
use integration_tests::commander_serve::Serve;
use serde_json::json;
use shared::domain::{AgentType, Region, ReplicaId, Severity};
use shared::scaling::ReplicaHeartbeat;

fn quick(url: &str) -> Client {
    Client::with_signer(url, None).unwrap().with_retry(RetryPolicy {
        attempts: 6,
        base: Duration::from_millis(50),
        cap: Duration::from_millis(500),
    })
}

fn beat(agent: &str, id: &str, load: f64, capacity: u32) -> ReplicaHeartbeat {
    ReplicaHeartbeat {
        agent_type: AgentType::parse(agent).unwrap(),
        replica_id: ReplicaId::parse(id).unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        load,
        capacity,
        healthy: true,
        performance_score: 0.9,
        draining: false,
    }
}

fn pick(agent: &str) -> SelectRequest {
    SelectRequest {
        agent_type: AgentType::parse(agent).unwrap(),
        severity: Severity::High,
        region: None,
        strategy: None,
        incident_id: None,
    }
}

async fn live(client: &Client, agent: &str) -> Vec<String> {
    let status = client.status().await.unwrap();
    status["replica_status"][agent]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["replica_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn eventually<F: AsyncFnMut() -> bool>(mut check: F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_heartbeat_loop_survives_a_server_restart_and_leaves_cleanly() {
    let mut serve = Serve::start().await;
    let client = quick(&serve.url());
    let heartbeat =
        Heartbeat::spawn(client.clone(), Duration::from_millis(100), || beat("detection", "det-rs", 2.0, 20));
    assert!(eventually(async || live(&client, "detection").await == ["det-rs"]).await);
    serve.down();
    let failed = heartbeat.stats().failed.load(Ordering::Relaxed);
    let stats = heartbeat.stats();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.failed.load(Ordering::Relaxed) < failed + 2 {
        assert!(Instant::now() < deadline, "reports fail while the API is down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    serve.up().await; // an empty store: only a new report brings the replica back
    assert!(eventually(async || live(&client, "detection").await == ["det-rs"]).await, "the task kept going");
    heartbeat.stop(true).await.unwrap();
    assert!(live(&client, "detection").await.is_empty(), "drained, then deregistered");
}

#[tokio::test]
async fn an_assignment_is_released_when_the_work_fails() {
    let serve = Serve::start().await;
    let client = quick(&serve.url());
    client.heartbeat(&beat("resolution", "res-1", 0.0, 1)).await.unwrap();
    let held = client.assign(pick("resolution")).await.unwrap();
    assert_eq!(held.selected.replica_id, "res-1");
    let outcome: Result<(), &str> = held.run(async { Err("the fix failed") }).await;
    assert_eq!(outcome, Err("the fix failed"));
    // Its one slot is free again: the next incident is assigned at once, and a guard dropped
    // without a release (a panic, a cancelled task) releases too.
    let dropped = client.assign(pick("resolution")).await.unwrap();
    drop(dropped);
    assert!(
        eventually(async || client.select(pick("resolution")).await.is_ok()).await,
        "the dropped assignment was released"
    );
}

#[tokio::test]
async fn a_retried_usage_report_counts_once() {
    let serve = Serve::start().await;
    let client = quick(&serve.url());
    let call = UsageRequest {
        model: "anthropic.claude-sonnet-4".into(),
        task_type: serde_json::from_value(json!("diagnosis")).unwrap(),
        severity: Severity::High,
        input_tokens: 1000,
        output_tokens: 200,
        latency_ms: None,
        timestamp: None,
        request_id: Some("inc-9:call-1".into()),
    };
    let first = client.report_usage(call.clone()).await.unwrap();
    let again = client.report_usage(call.clone()).await.unwrap();
    assert_eq!((first.counted, again.counted), (true, false));
    let other = client.report_usage(UsageRequest { input_tokens: 5, ..call }).await.unwrap_err();
    assert_eq!(other.status().map(|s| s.as_u16()), Some(409));
}

#[tokio::test]
async fn retries_wait_for_retry_after_and_refusals_are_not_retried() {
    let serve = Serve::start().await;
    let client = Client::with_signer(&serve.url(), None).unwrap().with_retry(RetryPolicy {
        attempts: 2,
        base: Duration::ZERO,
        cap: Duration::ZERO,
    });
    // No prediction replica: 503 with Retry-After: 1; the second attempt waits for it.
    let started = Instant::now();
    let busy = client.select(pick("prediction")).await.unwrap_err();
    assert_eq!(busy.status().map(|s| s.as_u16()), Some(503));
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    let started = Instant::now();
    let missing = ReleaseRequest {
        replica_id: ReplicaId::parse("ghost").unwrap(),
        agent_type: AgentType::parse("prediction").unwrap(),
        ok: true,
        latency_ms: 1.0,
        incident_id: None,
    };
    let refused = client.release(&missing).await.unwrap_err();
    assert!(matches!(&refused, Error::Api { status, .. } if status.as_u16() == 404), "{refused}");
    assert!(started.elapsed() < Duration::from_millis(900), "a refusal is not retried");
}

#[tokio::test]
async fn a_drained_replica_gets_no_new_selections() {
    let serve = Serve::start().await;
    let client = quick(&serve.url());
    client.heartbeat(&beat("diagnosis", "dia-a", 0.0, 5)).await.unwrap();
    client.heartbeat(&beat("diagnosis", "dia-b", 0.0, 5)).await.unwrap();
    let a = ReplicaRef {
        agent_type: AgentType::parse("diagnosis").unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        replica_id: ReplicaId::parse("dia-a").unwrap(),
    };
    assert!(client.drain(&a).await.unwrap().draining);
    for _ in 0..4 {
        assert_eq!(client.select(pick("diagnosis")).await.unwrap().replica_id, "dia-b");
    }
    assert!(client.deregister(&a).await.unwrap().deregistered);
    assert_eq!(live(&client, "diagnosis").await, ["dia-b"]);
}

#[tokio::test]
async fn warm_pings_are_answered_and_work_is_not() {
    let ping = json!({"warmer": {"correlation_id": "c-1", "concurrency": 1, "hold_ms": 20}});
    let started = Instant::now();
    let answer = answer_warm_ping(&ping).await.unwrap();
    assert!(answer.warm && answer.correlation_id == "c-1");
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert!(answer_warm_ping(&json!({"incident": "inc-1"})).await.is_none());
    assert!(answer_warm_ping(&json!({"warmer": {}, "incident": "x"})).await.is_none());
}

/// Two regional APIs (two `commander serve`s standing in for a control plane's home and standby
/// regions): calls go to the first while it answers, fail over to the second when it stops, and
/// come back to the first once its health check passes again.
#[tokio::test]
async fn calls_fail_over_to_the_next_endpoint_and_back_after_a_health_check() {
    let mut home = Serve::start().await;
    let standby = Serve::start().await;
    let (home_url, standby_url) = (home.url(), standby.url());
    let client = Client::connect_many(&[home_url.as_str(), standby_url.as_str()], None)
        .await
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
        })
        .with_recheck(Duration::from_millis(300));
    assert!(!client.signs(), "loopback endpoints go unsigned");
    let via = |url: &str| quick(url);

    client.heartbeat(&beat("detection", "det-home", 1.0, 20)).await.unwrap();
    assert_eq!(client.endpoint(), home_url);
    assert_eq!(live(&via(&home_url), "detection").await, ["det-home"], "the first endpoint took it");

    home.down();
    client.heartbeat(&beat("detection", "det-failover", 1.0, 20)).await.unwrap();
    assert_eq!(client.endpoint(), standby_url, "the home endpoint is passed over");
    assert_eq!(live(&via(&standby_url), "detection").await, ["det-failover"], "the standby took it");
    // While it is passed over, calls go straight to the standby.
    client.heartbeat(&beat("detection", "det-second", 1.0, 20)).await.unwrap();
    assert!(live(&via(&standby_url), "detection").await.contains(&"det-second".to_owned()));

    // Back up: once the recheck time has passed, its health check passes and calls return to it.
    home.up().await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    client.heartbeat(&beat("detection", "det-back", 1.0, 20)).await.unwrap();
    assert_eq!(client.endpoint(), home_url);
    assert_eq!(live(&via(&home_url), "detection").await, ["det-back"], "the restarted home API took it");

    let none: [&str; 0] = [];
    assert!(matches!(Client::connect_many(&none, None).await, Err(Error::Invalid(_))));
}

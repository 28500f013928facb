//! `commander serve --demo`: a small fleet seeded through the API, so the dashboard shows
//! something on the first run: six replicas of two types in three regions (one unhealthy), the
//! scaler's decisions for them, and enough model spend in the current hour for emergency mode.
//! The dashboard's browser tests run on exactly this. It also lays down what the scaler's tick
//! would have recorded of yesterday's morning ramp for detection, so a what-if replay has a day
//! to run on.

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The replicas: type, id, region, load, capacity, healthy.
const REPLICAS: [(&str, &str, &str, f64, u32, bool); 6] = [
    ("detection", "det-1", "us-east-1", 12.0, 20, true),
    ("detection", "det-2", "us-east-1", 18.0, 20, true),
    ("detection", "det-3", "us-east-1", 0.0, 20, false),
    ("detection", "det-4", "eu-west-1", 5.0, 20, true),
    ("diagnosis", "dia-1", "eu-west-1", 9.0, 10, true),
    ("diagnosis", "dia-2", "us-west-2", 2.0, 10, true),
];

/// Seeds the fleet through `api` (the api's router), as agents and an operator would.
pub async fn seed(api: &Router) -> anyhow::Result<()> {
    for (agent_type, replica_id, region, load, capacity, healthy) in REPLICAS {
        let score = if healthy { 0.9 } else { 0.1 };
        post(api, "/replicas/heartbeat", json!({"agent_type": agent_type, "replica_id": replica_id,
            "region": region, "load": load, "capacity": capacity, "healthy": healthy, "performance_score": score}))
        .await?;
    }
    post(api, "/scaling/optimize", json!({})).await?;
    for _ in 0..6 {
        post(
            api,
            "/usage",
            json!({"model": "anthropic.claude-opus-4-5", "task_type": "resolution",
            "severity": "critical", "input_tokens": 10_000_000, "output_tokens": 10_000_000}),
        )
        .await?;
    }
    post(
        api,
        "/usage",
        json!({"model": "amazon.nova-pro", "task_type": "diagnosis", "severity": "low",
        "input_tokens": 200_000, "output_tokens": 30_000}),
    )
    .await?;
    post(api, "/cost/optimize", json!({})).await?;
    Ok(())
}

async fn post(api: &Router, path: &str, body: Value) -> anyhow::Result<Value> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .context("a demo request")?;
    let response = api.clone().oneshot(request).await.context("the api did not answer")?;
    let status = response.status();
    let bytes =
        http_body_util::BodyExt::collect(response.into_body()).await.context("the api's answer")?.to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("seeding the demo: POST {path} answered {status}: {answer}");
    }
    Ok(answer)
}

/// Yesterday's 08:00-10:00 (UTC) of detection as the tick records it: the morning ramp from 4 to
/// 30 incidents a minute, each two minutes' work, on three replicas.
pub async fn record_morning(
    store: std::sync::Arc<dyn shared::store::Store>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use shared::scaling::recorded::{DemandRecorder, HourRecord, MinuteRecord};
    let start = (now - chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .context("a valid hour")?
        .and_utc();
    let hours: Vec<HourRecord> = (0..2u32)
        .map(|h| {
            let minutes = (0..60u32)
                .map(|m| {
                    let served = 4.0 + 26.0 * f64::from(h * 60 + m) / 119.0;
                    let mut minute =
                        MinuteRecord { busy: served * 2.0, live: 3, desired: 3, ..MinuteRecord::default() };
                    minute.demand.served.high = served;
                    (m, minute)
                })
                .collect();
            HourRecord { hour: start + chrono::Duration::hours(i64::from(h)), minutes, forecast: None }
        })
        .collect();
    let detection = shared::domain::AgentType::parse("detection")?;
    DemandRecorder::new(store).put_hours(&detection, &hours).await.context("recording the demo's morning")?;
    Ok(())
}

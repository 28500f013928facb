//! The event loop of the event-driven functions (scaler, cost sweeper, warmer): answer a warm
//! ping at once, else handle the event with its invocation's deadline, then flush the
//! container's performance figures.

use std::future::Future;

use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::lambda::{RetryableError, deadline_of};
use crate::performance::Performance;

/// When a container's performance figures go to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// After every run (scheduled functions, a few runs an hour).
    EveryRun,
    /// At most once a minute (functions invoked often, as the scaler by ticks and alarms).
    AtMostEveryMinute,
}

/// Serves the Lambda Runtime API: each event goes to `handle` (its payload and deadline).
pub async fn serve_events<F, Fut, T>(
    performance: &Performance,
    flush: Flush,
    handle: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value, Option<DateTime<Utc>>) -> Fut,
    Fut: Future<Output = Result<T, RetryableError>>,
    T: Serialize,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let deadline = deadline_of(&event.context);
        let payload = event.payload;
        crate::warming::ping_or(&payload, || {
            performance.after(flush == Flush::EveryRun, handle(payload.clone(), deadline))
        })
        .await
    }))
    .await
}

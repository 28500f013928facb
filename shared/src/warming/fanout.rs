//! Delivering a plan: N concurrent pings per target, each holding its container, so N containers
//! answer where N exist. Answers are counted by container id, cold starts by the containers' own
//! word, and the warming's cost from each ping's billed duration.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ping::{PingAnswer, WarmPing};
use super::plan::WarmTarget;
use crate::cost::PriceTable;
use crate::cost::billing::{LambdaUsage, MonthToDate, lambda_cost};
use crate::error::AdapterError;

/// One synchronous invocation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    pub payload: Value,
    /// Set when the function itself failed (Lambda's `FunctionError`).
    pub function_error: Option<String>,
    /// From the invocation's REPORT line, when Lambda returned it.
    pub billed_ms: Option<u64>,
}

/// Invokes functions with RequestResponse (per-region Lambda clients, or a local Lambda-API
/// endpoint).
#[async_trait]
pub trait Invoker: Send + Sync + std::fmt::Debug {
    async fn invoke(&self, target: &WarmTarget, payload: &Value) -> Result<Invoked, AdapterError>;
}

/// What warming one target did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetResult {
    pub ok: bool,
    pub pings: u32,
    /// Distinct containers that answered.
    pub containers: u32,
    pub cold_starts: u32,
    pub errors: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// USD: request charges plus the pings' billed duration.
    pub cost: f64,
}

/// Sends `concurrency` pings at once to `target` and tallies the answers.
pub async fn warm_target(
    invoker: &dyn Invoker,
    target: &WarmTarget,
    concurrency: u32,
    hold_ms: u64,
    prices: &PriceTable,
) -> TargetResult {
    let ping = WarmPing { correlation_id: uuid::Uuid::new_v4().to_string(), concurrency, hold_ms };
    let payload = ping.payload();
    let calls = (0..concurrency).map(|_| invoker.invoke(target, &payload));
    let outcomes = futures::future::join_all(calls).await;
    let mut containers = BTreeSet::new();
    let mut result = TargetResult { pings: concurrency, ..TargetResult::default() };
    let mut billed_ms = 0;
    for outcome in outcomes {
        let answer = outcome.map_err(|e| e.to_string()).and_then(|invoked| {
            billed_ms += invoked.billed_ms.unwrap_or(hold_ms + 1);
            if let Some(e) = invoked.function_error {
                return Err(format!("the function failed: {e}: {}", invoked.payload));
            }
            serde_json::from_value::<PingAnswer>(invoked.payload.clone())
                .ok()
                .filter(|a| a.correlation_id == ping.correlation_id)
                .ok_or_else(|| {
                    format!("not a warm-ping answer (does the function handle pings?): {}", invoked.payload)
                })
        });
        match answer {
            Ok(a) => {
                containers.insert(a.container_id);
                result.cold_starts += u32::from(a.cold_start);
            }
            Err(e) => {
                result.errors += 1;
                result.error.get_or_insert(e);
            }
        }
    }
    result.containers = u32::try_from(containers.len()).unwrap_or(u32::MAX);
    result.ok = result.errors == 0 && result.containers > 0;
    let usage = LambdaUsage {
        architecture: target.architecture,
        memory_mb: target.memory_mb,
        invocations: u64::from(concurrency),
        billed_ms,
        ephemeral_storage_mb: 512,
    };
    result.cost = lambda_cost(prices, &usage, MonthToDate::default()).total();
    result
}

/// The billed duration in the tail of a Lambda invocation's log: the platform's report, written
/// as a text `REPORT` line (text log format) or as a JSON `platform.report` record (JSON log
/// format). Either is there only while the function's system log level keeps INFO lines;
/// without one the caller estimates.
pub fn billed_ms_from_log(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| {
        if let Some(after) = line.split("Billed Duration: ").nth(1) {
            return after.split_whitespace().next()?.parse().ok();
        }
        let record: Value = serde_json::from_str(line.trim()).ok()?;
        if record.get("type").and_then(Value::as_str) != Some("platform.report") {
            return None;
        }
        let billed = record.pointer("/record/metrics/billedDurationMs")?.as_f64()?;
        (billed.is_finite() && billed >= 0.0).then(|| billed.ceil() as u64)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::cost::Architecture;
    use crate::domain::Region;

    /// Containers that answer pings in turn; the last `failing` calls fail.
    #[derive(Debug)]
    struct Pool {
        next: Mutex<u32>,
        containers: u32,
        failing: u32,
    }

    #[async_trait]
    impl Invoker for Pool {
        async fn invoke(&self, _: &WarmTarget, payload: &Value) -> Result<Invoked, AdapterError> {
            let n = {
                let mut next = self.next.lock().unwrap();
                *next += 1;
                *next
            };
            if n > self.containers * 10 - self.failing {
                return Err(crate::error::AdapterError::transient("Lambda invoke", "connection refused"));
            }
            let ping = WarmPing::detect(payload).unwrap();
            let answer = PingAnswer {
                warm: true,
                cold_start: n <= self.containers,
                container_id: format!("c{}", (n - 1) % self.containers),
                correlation_id: ping.correlation_id,
            };
            Ok(Invoked {
                payload: serde_json::to_value(answer).unwrap(),
                function_error: None,
                billed_ms: Some(80),
            })
        }
    }

    fn target() -> WarmTarget {
        WarmTarget {
            function: "f".into(),
            region: Region::parse("us-east-1").unwrap(),
            qualifier: Some("live".into()),
            concurrency: 3,
            memory_mb: 1024,
            architecture: Architecture::Arm64,
            idle_window_s: 300,
        }
    }

    #[tokio::test]
    async fn answers_are_counted_by_container_and_failures_reported() {
        let prices = PriceTable::bundled();
        let pool = Pool { next: Mutex::new(0), containers: 3, failing: 0 };
        let r = warm_target(&pool, &target(), 3, 75, &prices).await;
        assert_eq!((r.ok, r.containers, r.cold_starts, r.errors), (true, 3, 3, 0));
        assert!((r.cost - (3.0 * 0.000_000_2 + 3.0 * 0.08 * 0.000_013_333_4)).abs() < 1e-15, "{}", r.cost);
        let flaky = Pool { next: Mutex::new(0), containers: 1, failing: 9 };
        let r = warm_target(&flaky, &target(), 3, 75, &prices).await;
        assert_eq!((r.ok, r.containers, r.errors), (false, 1, 2));
        assert_eq!(r.error.as_deref(), Some("Lambda invoke: connection refused"));
    }

    #[test]
    fn billed_duration_is_read_from_the_report_in_either_log_format() {
        let text = "START RequestId: 1\nEND RequestId: 1\nREPORT RequestId: 1\tDuration: 76.12 ms\tBilled Duration: 77 ms\tMemory Size: 1024 MB";
        // As Lambda writes it with LogFormat JSON: the application's lines, then the platform's.
        let json = concat!(
            r#"{"timestamp":"2026-12-04T10:00:00.100Z","level":"INFO","message":"pong"}"#,
            "\n",
            r#"{"time":"2026-12-04T10:00:00.120Z","type":"platform.runtimeDone","record":{"requestId":"1","status":"success"}}"#,
            "\n",
            r#"{"time":"2026-12-04T10:00:00.121Z","type":"platform.report","record":{"requestId":"1","metrics":{"durationMs":76.12,"billedDurationMs":77,"memorySizeMB":1024,"maxMemoryUsedMB":40},"status":"success"}}"#,
        );
        let table = [
            (text, Some(77)),
            (json, Some(77)),
            // A system log level above INFO drops the report: nothing to read.
            (r#"{"timestamp":"2026-12-04T10:00:00.100Z","level":"INFO","message":"pong"}"#, None),
            ("no report", None),
            (r#"{"type":"platform.report","record":{"metrics":{"billedDurationMs":-3}}}"#, None),
        ];
        for (log, billed) in table {
            assert_eq!(billed_ms_from_log(log), billed, "{log}");
        }
    }
}

//! Warm pings: the warmer's payload `{"warmer": {"correlation_id", "concurrency", "hold_ms"}}`,
//! recognised before any other work. A ping holds its container for `hold_ms` (so concurrent pings
//! land on distinct containers), never touches the store or AWS, and bypasses the handler, so it
//! leaves no access-log line and no metric behind.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest a ping may hold its container.
pub const MAX_HOLD_MS: u64 = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmPing {
    #[serde(default)]
    pub correlation_id: String,
    #[serde(default = "one")]
    pub concurrency: u32,
    #[serde(default)]
    pub hold_ms: u64,
}

fn one() -> u32 {
    1
}

/// A ping's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingAnswer {
    pub warm: bool,
    /// This was the container's first invocation.
    pub cold_start: bool,
    /// Distinguishes the containers that answered.
    pub container_id: String,
    pub correlation_id: String,
}

/// What a handler answers: a ping's answer or its real work's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answered<T> {
    Ping(PingAnswer),
    Work(T),
}

/// This process's identity as a Lambda container.
struct Container {
    id: String,
    invoked: AtomicBool,
}

fn container() -> &'static Container {
    static CONTAINER: OnceLock<Container> = OnceLock::new();
    CONTAINER
        .get_or_init(|| Container { id: uuid::Uuid::new_v4().to_string(), invoked: AtomicBool::new(false) })
}

/// Records an invocation of this container; true for its first (a cold start). Call once per
/// invocation, pings and real events alike.
pub fn note_invocation() -> bool {
    !container().invoked.swap(true, Ordering::AcqRel)
}

impl WarmPing {
    /// The ping in `payload`, if it is one.
    pub fn detect(payload: &Value) -> Option<Self> {
        let inner = payload.as_object()?.get("warmer")?;
        if payload.as_object().is_some_and(|o| o.len() != 1) {
            return None;
        }
        serde_json::from_value(inner.clone()).ok()
    }

    /// The ping payload the warmer sends.
    pub fn payload(&self) -> Value {
        serde_json::json!({ "warmer": self })
    }

    /// Holds the container, then answers.
    pub async fn answer(&self, cold_start: bool) -> PingAnswer {
        let hold = self.hold_ms.min(MAX_HOLD_MS);
        if hold > 0 {
            // A thread sleep is precise to tens of microseconds; tokio's timer rounds up to the
            // next millisecond, which would put a whole millisecond on every ping.
            let slept =
                tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(hold))).await;
            if slept.is_err() {
                tokio::time::sleep(Duration::from_millis(hold)).await;
            }
        }
        tracing::debug!(correlation_id = %self.correlation_id, cold_start, "warm ping");
        PingAnswer {
            warm: true,
            cold_start,
            container_id: container().id.clone(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// Answers a ping, or runs `work` on a real event. Either way the invocation is noted for the
/// container's cold-start flag.
pub async fn ping_or<T, E, F, Fut>(payload: &Value, work: F) -> Result<Answered<T>, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let cold = note_invocation();
    match WarmPing::detect(payload) {
        Some(ping) => Ok(Answered::Ping(ping.answer(cold).await)),
        None => work().await.map(Answered::Work),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pings_are_told_from_events() {
        let ping =
            WarmPing::detect(&json!({"warmer": {"correlation_id": "c", "concurrency": 3, "hold_ms": 75}}));
        assert_eq!(ping, Some(WarmPing { correlation_id: "c".into(), concurrency: 3, hold_ms: 75 }));
        assert_eq!(WarmPing::detect(&json!({"warmer": {}})).unwrap().concurrency, 1, "fields default");
        for not_a_ping in [
            json!({"detail-type": "Scheduled Event"}),
            json!({"warmer": {"hold_ms": "long"}}),
            json!({"warmer": {}, "body": "x"}),
            json!([{"warmer": {}}]),
        ] {
            assert_eq!(WarmPing::detect(&not_a_ping), None, "{not_a_ping}");
        }
        let sent = WarmPing { correlation_id: "x".into(), concurrency: 2, hold_ms: 10 };
        assert_eq!(WarmPing::detect(&sent.payload()), Some(sent));
    }

    #[tokio::test]
    async fn a_ping_answers_without_running_the_work_and_real_events_do_run_it() {
        let ping = json!({"warmer": {"correlation_id": "c-1", "hold_ms": 20}});
        let started = std::time::Instant::now();
        let answered: Answered<u32> =
            ping_or(&ping, || async { Err::<u32, String>("the work must not run".into()) }).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20), "the container was held");
        let Answered::Ping(answer) = answered else { panic!("a ping answer") };
        assert!(answer.warm);
        assert_eq!(answer.correlation_id, "c-1");
        let again: Answered<u32> = ping_or(&ping, || async { Ok::<u32, String>(0) }).await.unwrap();
        let Answered::Ping(second) = again else { panic!("a ping answer") };
        assert!(!second.cold_start, "only a container's first invocation is cold");
        assert_eq!(second.container_id, answer.container_id, "one process, one container");
        let work: Answered<u32> =
            ping_or(&json!({"id": 1}), || async { Ok::<u32, String>(7) }).await.unwrap();
        assert_eq!(work, Answered::Work(7));
        assert_eq!(
            serde_json::to_value(Answered::<u32>::Work(7)).unwrap(),
            json!(7),
            "answers stay as they were"
        );
    }
}

//! Exactly-once effects for at-least-once events, after the Powertools for AWS Lambda idempotency
//! schema: one record per event id with a status (`INPROGRESS` / `COMPLETED`), an expiry (our
//! `ttl`), an in-progress expiry in milliseconds, and the saved result (`data`).

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Condition, Item, Key, Store, StoreError};
use crate::clock::Clock;

/// Where a record's event stands (stored as Powertools writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum RecordStatus {
    #[serde(rename = "INPROGRESS")]
    InProgress,
    #[serde(rename = "COMPLETED")]
    Completed,
}
/// Conflicting deliveries racing for one record give up after this many rounds.
const CLAIM_ATTEMPTS: usize = 3;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    status: RecordStatus,
    /// Epoch milliseconds after which an in-progress record may be taken over.
    in_progress_expiration: i64,
    /// The handler's result as JSON text, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
}

/// What happened to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyOutcome<T> {
    /// First delivery: the work ran and its result was saved.
    Executed(T),
    /// A repeat delivery: the saved result of the first one.
    Replayed(T),
}

#[derive(Debug, Error)]
pub enum IdempotencyError<E> {
    /// Another delivery of the same event is being handled right now; retry later.
    #[error("the same event is being handled by another invocation")]
    InProgress,
    #[error("invalid event id: {0}")]
    InvalidId(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The work itself failed; its record was removed so a retry runs it again.
    #[error(transparent)]
    Handler(E),
}

/// Runs work at most once per event id while its record lives.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    store: &'a dyn Store,
    clock: &'a dyn Clock,
    /// How long a completed result is kept and replayed.
    pub expires_after: Duration,
    /// How long an in-progress claim holds before another delivery may take it over; set it to the
    /// function's timeout.
    pub in_progress_timeout: Duration,
    /// When the invocation doing the work must be done (Lambda's deadline): the claim holds until
    /// then, and not past it, whatever `in_progress_timeout` says.
    pub deadline: Option<DateTime<Utc>>,
}

impl<'a> Idempotency<'a> {
    pub fn new(store: &'a dyn Store, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            clock,
            expires_after: Duration::hours(1),
            in_progress_timeout: Duration::seconds(60),
            deadline: None,
        }
    }

    /// Holds the claim until the invoking function's deadline (when it is known).
    #[must_use]
    pub fn until(mut self, deadline: Option<DateTime<Utc>>) -> Self {
        self.deadline = deadline;
        self
    }

    #[must_use]
    pub fn expires_after(mut self, d: Duration) -> Self {
        self.expires_after = d;
        self
    }

    #[must_use]
    pub fn in_progress_timeout(mut self, d: Duration) -> Self {
        self.in_progress_timeout = d;
        self
    }

    pub async fn run<T, E, F, Fut>(
        &self,
        event_id: &str,
        work: F,
    ) -> Result<IdempotencyOutcome<T>, IdempotencyError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if event_id.is_empty() || event_id.len() > 1024 {
            return Err(IdempotencyError::InvalidId("an event id is 1 to 1024 bytes".into()));
        }
        let key = Key::new(format!("IDEMPOTENCY#{event_id}"), "EVENT");
        let version = match self.claim(&key).await? {
            Claim::Claimed(version) => version,
            Claim::Completed(data) => {
                let saved = serde_json::from_str(&data).map_err(|e| {
                    StoreError::Corrupt(format!("saved result of {event_id} does not read back: {e}"))
                })?;
                return Ok(IdempotencyOutcome::Replayed(saved));
            }
        };
        match work().await {
            Ok(result) => {
                let data = serde_json::to_string(&result)
                    .map_err(|e| StoreError::Invalid(format!("result does not serialize: {e}")))?;
                let record =
                    Record { status: RecordStatus::Completed, in_progress_expiration: 0, data: Some(data) };
                let item = self.item(key, &record)?.with_version(version + 1);
                match self.store.put(item, Condition::Version(version)).await {
                    // Someone took the claim over because we ran past the timeout; the work is done
                    // either way, and their result will be the one replayed.
                    Ok(()) | Err(StoreError::ConditionFailed) => Ok(IdempotencyOutcome::Executed(result)),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => {
                match self.store.delete(&key, Condition::Version(version)).await {
                    Ok(()) | Err(StoreError::ConditionFailed) => {}
                    Err(store) => {
                        tracing::warn!(error = %store, "could not release the idempotency claim");
                    }
                }
                Err(IdempotencyError::Handler(e))
            }
        }
    }

    fn item(&self, key: Key, record: &Record) -> Result<Item, StoreError> {
        Ok(Item::from_record(key, record)?.with_ttl(self.clock.now() + self.expires_after))
    }

    async fn claim<E>(&self, key: &Key) -> Result<Claim, IdempotencyError<E>> {
        for _ in 0..CLAIM_ATTEMPTS {
            let now = self.clock.now();
            let record = Record {
                status: RecordStatus::InProgress,
                in_progress_expiration: self
                    .deadline
                    .unwrap_or(now + self.in_progress_timeout)
                    .timestamp_millis(),
                data: None,
            };
            match self.store.put(self.item(key.clone(), &record)?.with_version(1), Condition::Absent).await {
                Ok(()) => return Ok(Claim::Claimed(1)),
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(existing) = self.store.get(key).await? else {
                continue;
            };
            let found: Record = existing.record()?;
            if found.status == RecordStatus::Completed {
                let data =
                    found.data.ok_or_else(|| StoreError::Corrupt("completed record without data".into()))?;
                return Ok(Claim::Completed(data));
            }
            if found.in_progress_expiration > now.timestamp_millis() {
                return Err(IdempotencyError::InProgress);
            }
            let version = existing.version().unwrap_or(0);
            let takeover = self.item(key.clone(), &record)?.with_version(version + 1);
            return match self.store.put(takeover, Condition::Version(version)).await {
                Ok(()) => Ok(Claim::Claimed(version + 1)),
                Err(StoreError::ConditionFailed) => Err(IdempotencyError::InProgress),
                Err(e) => Err(e.into()),
            };
        }
        Err(IdempotencyError::InProgress)
    }
}

enum Claim {
    Claimed(u64),
    Completed(String),
}

//! The audit trail: who changed what, from which value to which, when, under which request.
//! The api records one entry per successful operator change (policies, pauses, region marks,
//! prices, emergency overrides, optimisations, warming); the entries live in one partition of
//! the table for [`RETENTION`] and are read back newest first, filtered and paged.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Condition, Item, Query, Store, StoreError};
use crate::table;

/// How long an entry is kept (then DynamoDB's TTL removes it).
pub const RETENTION: Duration = Duration::days(90);

/// A before or after value larger than this (as JSON) is recorded as its size only: an entry
/// stays far inside DynamoDB's 400 KB item limit whatever a route returns.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The IAM principal API Gateway verified (`local` under `commander serve`).
    pub principal: String,
    /// The route, as method and template: `PUT /scaling/policies/{agent_type}`.
    pub action: String,
    /// The path the change was made on: `/scaling/policies/detection`.
    pub target: String,
    /// The HTTP status the change was answered with.
    pub status: u16,
    /// API Gateway's request id (the access log's and the function's log lines carry it too).
    pub request_id: String,
    /// The value before the change, where the route knows it.
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    /// The value after the change: the stored value, or what the route answered.
    #[serde(default)]
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    /// `value` as recorded: itself, or a note of its size past [`MAX_VALUE_BYTES`].
    pub fn bounded(value: serde_json::Value) -> serde_json::Value {
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len());
        if size <= MAX_VALUE_BYTES {
            value
        } else {
            serde_json::json!({ "omitted": "larger than the audit trail keeps", "bytes": size })
        }
    }
}

/// Which entries a reader wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub principal: Option<String>,
    /// Entries whose action starts with this (`PUT /cost` matches every price change).
    pub action_prefix: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    fn admits(&self, entry: &AuditEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| &entry.principal == p)
            && self.action_prefix.as_ref().is_none_or(|a| entry.action.starts_with(a.as_str()))
    }
}

/// One page of entries, newest first; `next` continues after the last.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
}

/// Reads pass over at most this many stored entries per page asked for, so a filter that
/// matches little answers with a cursor instead of reading the whole trail.
const MAX_SCANNED_PER_PAGE: usize = 1_000;

/// The audit trail in the table.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    store: Arc<dyn Store>,
}

impl AuditTrail {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records `entry`, kept for [`RETENTION`].
    pub async fn record(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let item = Item::from_record(table::audit_entry(entry.at, &entry.request_id), entry)?
            .with_ttl(entry.at + RETENTION);
        self.store.put(item, Condition::Always).await
    }

    /// Up to `limit` entries matching `filter`, newest first, continuing after `cursor`.
    pub async fn read(
        &self,
        filter: &AuditFilter,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<AuditPage, StoreError> {
        let lo = filter.since.map_or_else(|| "0".to_owned(), sort_key_at);
        // Every sort key of an instant starts with its timestamp and goes on with `#`: `$` sorts
        // after `#`, so the upper bound takes in every entry of `until` itself.
        let hi = filter.until.map_or_else(|| "9".to_owned(), |t| format!("{}$", sort_key_at(t)));
        let mut entries = Vec::new();
        let mut after = cursor;
        let mut scanned = 0;
        loop {
            let query = Query::partition(table::AUDIT)
                .between(lo.clone(), hi.clone())
                .descending()
                .limit(limit.clamp(1, 100) * 4)
                .after(after.clone());
            let page = self.store.query(&query).await?;
            for item in &page.items {
                scanned += 1;
                let entry: AuditEntry = item.record()?;
                if filter.admits(&entry) {
                    entries.push(entry);
                }
                after = Some(item.key.sk.clone());
                if entries.len() == limit {
                    return Ok(AuditPage { entries, next: after });
                }
            }
            if page.next.is_none() {
                return Ok(AuditPage { entries, next: None });
            }
            if scanned >= MAX_SCANNED_PER_PAGE {
                return Ok(AuditPage { entries, next: after });
            }
        }
    }
}

fn sort_key_at(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

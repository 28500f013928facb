//! The state store: one narrow trait, three backends that honour one contract.
//!
//! Items are JSON objects addressed by a partition key (`pk`) and a sort key (`sk`), as in the
//! suite's single DynamoDB table. Two attributes are special everywhere: `ttl` (epoch seconds;
//! an item whose `ttl` has passed is invisible, as if deleted) and `version` (a number the caller
//! maintains for optimistic locking through [`Condition::Version`]).

mod dynamodb;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod idempotency;
mod item;
mod local;
mod memory;
mod query;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use dynamodb::{CapacitySink, DynamoStore, create_table};
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use idempotency::{Idempotency, IdempotencyError, IdempotencyOutcome};
pub use item::{Item, Key, MAX_ITEM_BYTES, item_size, storable};
pub use memory::MemoryStore;
pub use query::{Page, Query, SortKey};

/// What must be true of the stored item for a write to go ahead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Condition {
    /// Write whatever is there.
    #[default]
    Always,
    /// There must be no (unexpired) item under the key.
    Absent,
    /// There must be an unexpired item under the key.
    Exists,
    /// The item must exist, unexpired, with exactly this `version`.
    Version(u64),
}

/// An atomic change to one item, creating it if absent: `set` replaces attributes, `add` adds to
/// numeric attributes (a missing attribute counts as 0). An expired item is replaced, not added to.
/// With a `condition` other than `Always`, the change is made only if it holds, else the update
/// fails with [`StoreError::ConditionFailed`] and changes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Map<String, Value>,
    pub add: Vec<(String, f64)>,
    pub condition: Condition,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.insert(name.into(), value.into());
        self
    }

    #[must_use]
    pub fn add(mut self, name: impl Into<String>, delta: f64) -> Self {
        self.add.push((name.into(), delta));
        self
    }

    /// Makes the change only if `condition` holds (a read-modify-write's guard).
    #[must_use]
    pub fn only_if(mut self, condition: Condition) -> Self {
        self.condition = condition;
        self
    }
}

/// The suite's state. Every backend must pass `tests/it/store_contract.rs` unchanged.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The item under `key`, unless absent or expired.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// The items under `keys`, in the order of `keys` (`None` for an absent or expired one; a
    /// key given twice answers twice). Reads that a caller needs together go as one request per
    /// [`GET_MANY_BATCH`] keys to DynamoDB (BatchGetItem) instead of one round trip per key; at
    /// most [`MAX_GET_MANY`] keys per call.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        check_get_many(keys)?;
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            items.push(self.get(key).await?);
        }
        Ok(items)
    }

    /// Writes `item` whole if `condition` holds, else fails with [`StoreError::ConditionFailed`].
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;

    /// Applies `update` atomically, if its condition holds, and answers the item as it is
    /// afterwards.
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError>;

    /// One page of a partition's unexpired items, in sort-key order.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Removes the item if `condition` holds. Deleting an absent item with `Always` succeeds.
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;

    /// Writes many items unconditionally; on a repeated key the last one wins. All or an error.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError>;

    /// Deletes expired items now and answers how many. Readers never see them either way;
    /// DynamoDB's TTL deletes them itself (within days), so only the local backends, which would
    /// otherwise keep them for ever, have anything to do.
    async fn purge_expired(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// Keys one BatchGetItem request takes at most (DynamoDB's limit).
pub const GET_MANY_BATCH: usize = 100;
/// Keys one [`Store::get_many`] call takes at most: the suite's largest read (every policy of a
/// fleet at its type limit) fits, and a caller with more splits them.
pub const MAX_GET_MANY: usize = 10 * GET_MANY_BATCH;

/// Refuses a [`Store::get_many`] call past [`MAX_GET_MANY`] keys, or with a key no backend takes.
pub(crate) fn check_get_many(keys: &[Key]) -> Result<(), StoreError> {
    if keys.len() > MAX_GET_MANY {
        return Err(StoreError::Invalid(format!("{} keys in one read; at most {MAX_GET_MANY}", keys.len())));
    }
    keys.iter().try_for_each(item::validate_key)
}

/// Whether stored attributes carry a `ttl` at or before `now` (epoch seconds).
pub(crate) fn expired(attrs: &serde_json::Map<String, Value>, now: i64) -> bool {
    attrs.get(item::TTL).and_then(Value::as_i64).is_some_and(|ttl| ttl <= now)
}

impl Update {
    /// Rejects updates DynamoDB would refuse, so every backend refuses them alike.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let names = self.set.keys().map(String::as_str).chain(self.add.iter().map(|(n, _)| n.as_str()));
        let mut seen = std::collections::BTreeSet::new();
        for name in names {
            if name == item::PK || name == item::SK {
                return Err(StoreError::Invalid(format!("attribute {name:?} is the key, not data")));
            }
            if name.is_empty() {
                return Err(StoreError::Invalid("attribute names must not be empty".into()));
            }
            if !seen.insert(name) {
                return Err(StoreError::Invalid(format!("attribute {name:?} appears twice in one update")));
            }
        }
        if let Some((name, _)) = self.add.iter().find(|(_, d)| !item::storable(*d)) {
            return Err(StoreError::Invalid(format!(
                "the amount added to {name:?} is not a number DynamoDB stores"
            )));
        }
        for (name, value) in &self.set {
            item::storable_number(name, value)?;
        }
        Ok(())
    }
}

//! Which price table is in force: the operator's in the table's `CONTROL`/`PRICES` item if there
//! is one, else the one the function started with (the operator's file, or the bundled table).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::prices::PriceTable;
use crate::store::{Condition, Item, Key, Store, StoreError};

fn key() -> Key {
    crate::table::prices()
}

/// Where the table in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    Bundled,
    File,
    ControlItem,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    table: PriceTable,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PriceBook {
    store: Arc<dyn Store>,
    base: Arc<PriceTable>,
    base_source: PriceSource,
}

impl PriceBook {
    pub fn new(store: Arc<dyn Store>, base: PriceTable, base_source: PriceSource) -> Self {
        Self { store, base: Arc::new(base), base_source }
    }

    /// The table in force. A control item that no longer validates is skipped with a warning,
    /// never used.
    pub async fn current(&self) -> Result<(Arc<PriceTable>, PriceSource), StoreError> {
        let Some(item) = self.store.get(&key()).await? else {
            return Ok((Arc::clone(&self.base), self.base_source));
        };
        match item.record::<Stored>().map_err(|e| e.to_string()).and_then(|s| {
            s.table.validate().map_err(|e| e.to_string())?;
            Ok(s.table)
        }) {
            Ok(table) => Ok((Arc::new(table), PriceSource::ControlItem)),
            Err(error) => {
                tracing::warn!(%error, "the CONTROL/PRICES item is not a valid price table; using the base table");
                Ok((Arc::clone(&self.base), self.base_source))
            }
        }
    }

    /// Puts `table` in force (validated by the caller), replacing any earlier override only if it
    /// is still at `expected_version` (0: there was none).
    pub async fn set(
        &self,
        table: &PriceTable,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let condition =
            if expected_version == 0 { Condition::Absent } else { Condition::Version(expected_version) };
        let item = Item::from_record(key(), &Stored { table: table.clone(), updated_at: now })?
            .with_version(expected_version + 1);
        self.store.put(item, condition).await?;
        Ok(expected_version + 1)
    }

    /// The version of the override in force (0: none).
    pub async fn version(&self) -> Result<u64, StoreError> {
        Ok(self.store.get(&key()).await?.and_then(|i| i.version()).unwrap_or(0))
    }
}

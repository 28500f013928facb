use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::{Map, Value};

use super::item::validate_key;
use super::{Condition, Item, Key, Page, Query, Store, StoreError, Update, local};
use crate::clock::Clock;

/// (pk, sk) -> the item's attributes as JSON.
const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");

/// A store in one embedded database file (redb): what `commander serve` keeps its state in, so a
/// local run survives restarts. Writes are ACID transactions; the file is crash-safe.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
}

fn internal(what: &'static str) -> impl FnOnce(redb::Error) -> StoreError {
    move |e| StoreError::internal(format!("embedded database: {what}"), e)
}

fn encode(attrs: &Map<String, Value>) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(attrs).map_err(|e| StoreError::Invalid(format!("item does not encode: {e}")))
}

fn decode(key: Key, bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes)
        .map(|attrs| Item::new(key, attrs))
        .map_err(|e| StoreError::Corrupt(format!("embedded item is not JSON: {e}")))
}

impl EmbeddedStore {
    /// Opens the database file, creating it (and its folder) when missing.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::internal(format!("cannot create folder {}", dir.display()), e))?;
        }
        let db = Database::create(path)
            .map_err(|e| StoreError::unavailable(format!("cannot open state file {}", path.display()), e))?;
        let txn = db.begin_write().map_err(|e| internal("begin")(e.into()))?;
        txn.open_table(ITEMS).map_err(|e| internal("create table")(e.into()))?;
        txn.commit().map_err(|e| internal("commit")(e.into()))?;
        Ok(Self { db: Arc::new(db), clock })
    }

    /// Runs blocking database work off the async executor.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::internal("embedded database task failed", e))?
    }

    /// Reads, decides and writes one item in a single write transaction.
    async fn modify<T: Send + 'static>(
        &self,
        key: Key,
        decide: impl FnOnce(Option<Item>) -> Result<(Option<Item>, T), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(|e| internal("begin")(e.into()))?;
            let answer = {
                let mut table = txn.open_table(ITEMS).map_err(|e| internal("open table")(e.into()))?;
                let existing = table
                    .get((key.pk.as_str(), key.sk.as_str()))
                    .map_err(|e| internal("read")(e.into()))?
                    .map(|bytes| decode(key.clone(), bytes.value()))
                    .transpose()?;
                let (write, answer) = decide(existing)?;
                match write {
                    Some(item) => {
                        let bytes = encode(&item.attrs)?;
                        table
                            .insert((item.key.pk.as_str(), item.key.sk.as_str()), bytes.as_slice())
                            .map_err(|e| internal("write")(e.into()))?;
                    }
                    None => {
                        table
                            .remove((key.pk.as_str(), key.sk.as_str()))
                            .map_err(|e| internal("delete")(e.into()))?;
                    }
                }
                answer
            };
            txn.commit().map_err(|e| internal("commit")(e.into()))?;
            Ok(answer)
        })
        .await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let key = key.clone();
        let now = self.clock.now();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| internal("begin")(e.into()))?;
            let table = txn.open_table(ITEMS).map_err(|e| internal("open table")(e.into()))?;
            let found =
                table.get((key.pk.as_str(), key.sk.as_str())).map_err(|e| internal("read")(e.into()))?;
            Ok(found.map(|b| decode(key.clone(), b.value())).transpose()?.filter(|i| i.is_live(now)))
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let item = local::prepare(item)?;
        let now = self.clock.now();
        self.modify(item.key.clone(), move |existing| {
            local::check(existing.as_ref(), condition, now)?;
            Ok((Some(item), ()))
        })
        .await
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        validate_key(key)?;
        let now = self.clock.now();
        let target = key.clone();
        self.modify(key.clone(), move |existing| {
            let updated = local::apply_update(&target, existing, &update, now)?;
            Ok((Some(updated.clone()), updated))
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        query.validate()?;
        let query = query.clone();
        let now = self.clock.now();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| internal("begin")(e.into()))?;
            let table = txn.open_table(ITEMS).map_err(|e| internal("open table")(e.into()))?;
            let pk = query.pk.as_str();
            let partition_end = format!("{pk}\0");
            let lower = match (&query.after, query.descending) {
                (Some(after), false) => Bound::Excluded((pk, after.as_str())),
                _ => Bound::Included((pk, "")),
            };
            let upper = match (&query.after, query.descending) {
                (Some(after), true) => Bound::Excluded((pk, after.as_str())),
                _ => Bound::Excluded((partition_end.as_str(), "")),
            };
            let range =
                table.range::<(&str, &str)>((lower, upper)).map_err(|e| internal("range")(e.into()))?;
            let to_item = |entry: Result<
                (redb::AccessGuard<'_, (&str, &str)>, redb::AccessGuard<'_, &[u8]>),
                redb::StorageError,
            >| {
                let (k, v) = entry.map_err(|e| internal("range")(e.into()))?;
                let (p, s) = k.value();
                decode(Key::new(p, s), v.value())
            };
            if query.descending {
                local::page(range.rev().map(to_item), &query, now)
            } else {
                local::page(range.map(to_item), &query, now)
            }
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        validate_key(key)?;
        let now = self.clock.now();
        self.modify(key.clone(), move |existing| {
            local::check(existing.as_ref(), condition, now)?;
            Ok((None, ()))
        })
        .await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let items = items.into_iter().map(local::prepare).collect::<Result<Vec<_>, _>>()?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(|e| internal("begin")(e.into()))?;
            {
                let mut table = txn.open_table(ITEMS).map_err(|e| internal("open table")(e.into()))?;
                for item in local::last_write_wins(items) {
                    let bytes = encode(&item.attrs)?;
                    table
                        .insert((item.key.pk.as_str(), item.key.sk.as_str()), bytes.as_slice())
                        .map_err(|e| internal("write")(e.into()))?;
                }
            }
            txn.commit().map_err(|e| internal("commit")(e.into()))
        })
        .await
    }

    /// In one write transaction; an item that does not decode is kept (and reported by readers).
    async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.clock.now().timestamp();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(|e| internal("begin")(e.into()))?;
            let mut purged = 0;
            {
                let mut table = txn.open_table(ITEMS).map_err(|e| internal("open table")(e.into()))?;
                table
                    .retain(|_, bytes| {
                        let gone = serde_json::from_slice::<Map<String, Value>>(bytes)
                            .is_ok_and(|attrs| super::expired(&attrs, now));
                        purged += usize::from(gone);
                        !gone
                    })
                    .map_err(|e| internal("purge")(e.into()))?;
            }
            txn.commit().map_err(|e| internal("commit")(e.into()))?;
            Ok(purged)
        })
        .await
    }
}

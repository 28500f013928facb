use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::item::validate_key;
use super::{Condition, Item, Key, Page, Query, Store, StoreError, Update, local};
use crate::clock::Clock;

type Table = BTreeMap<(String, String), Map<String, Value>>;

/// A store in process memory, for unit and handler tests and `commander serve --memory`.
#[derive(Debug)]
pub struct MemoryStore {
    items: Mutex<Table>,
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { items: Mutex::new(BTreeMap::new()), clock }
    }

    /// Every item as stored, in key order: what a test compares to prove a request changed nothing.
    pub fn snapshot(&self) -> Vec<Item> {
        self.table()
            .iter()
            .map(|((pk, sk), attrs)| Item::new(Key::new(pk.clone(), sk.clone()), attrs.clone()))
            .collect()
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every mutation below completes before it can panic, so a poisoned map is still consistent.
        crate::sync::lock(&self.items)
    }
}

fn entry(key: &Key, table: &Table) -> Option<Item> {
    table.get(&(key.pk.clone(), key.sk.clone())).map(|attrs| Item::new(key.clone(), attrs.clone()))
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let now = self.clock.now();
        Ok(entry(key, &self.table()).filter(|i| i.is_live(now)))
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let item = local::prepare(item)?;
        let mut table = self.table();
        local::check(entry(&item.key, &table).as_ref(), condition, self.clock.now())?;
        table.insert((item.key.pk, item.key.sk), item.attrs);
        Ok(())
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        validate_key(key)?;
        let mut table = self.table();
        let updated = local::apply_update(key, entry(key, &table), &update, self.clock.now())?;
        table.insert((key.pk.clone(), key.sk.clone()), updated.attrs.clone());
        Ok(updated)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        query.validate()?;
        let table = self.table();
        let pk = query.pk.clone();
        let bounds = match (&query.after, query.descending) {
            (None, _) => (Bound::Included((pk.clone(), String::new())), Bound::Unbounded),
            (Some(after), false) => (Bound::Excluded((pk.clone(), after.clone())), Bound::Unbounded),
            (Some(after), true) => {
                (Bound::Included((pk.clone(), String::new())), Bound::Excluded((pk.clone(), after.clone())))
            }
        };
        let in_partition = table.range(bounds).take_while(|((p, _), _)| *p == pk);
        let to_item = |((p, s), attrs): (&(String, String), &Map<String, Value>)| {
            Ok(Item::new(Key::new(p.clone(), s.clone()), attrs.clone()))
        };
        let now = self.clock.now();
        if query.descending {
            let entries: Vec<_> = in_partition.collect();
            local::page(entries.into_iter().rev().map(to_item), query, now)
        } else {
            local::page(in_partition.map(to_item), query, now)
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        validate_key(key)?;
        let mut table = self.table();
        local::check(entry(key, &table).as_ref(), condition, self.clock.now())?;
        table.remove(&(key.pk.clone(), key.sk.clone()));
        Ok(())
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let items = items.into_iter().map(local::prepare).collect::<Result<Vec<_>, _>>()?;
        let mut table = self.table();
        for item in local::last_write_wins(items) {
            table.insert((item.key.pk, item.key.sk), item.attrs);
        }
        Ok(())
    }

    async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.clock.now().timestamp();
        let mut table = self.table();
        let before = table.len();
        table.retain(|_, attrs| !super::expired(attrs, now));
        Ok(before - table.len())
    }
}

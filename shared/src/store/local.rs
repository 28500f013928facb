//! The semantics the two local backends (memory and embedded) share, written once so they cannot
//! drift apart. The DynamoDB backend gets the same behaviour from DynamoDB's own expressions.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::item::{normalize_numbers, number};
use super::{Condition, Item, Key, Page, Query, StoreError, Update};

pub(crate) fn check(
    existing: Option<&Item>,
    condition: Condition,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let live = existing.filter(|i| i.is_live(now));
    let holds = match condition {
        Condition::Always => true,
        Condition::Absent => live.is_none(),
        Condition::Exists => live.is_some(),
        Condition::Version(v) => live.and_then(Item::version) == Some(v),
    };
    if holds { Ok(()) } else { Err(StoreError::ConditionFailed) }
}

/// Prepares an item for a whole-item write.
pub(crate) fn prepare(mut item: Item) -> Result<Item, StoreError> {
    item.validate()?;
    item.attrs.values_mut().for_each(normalize_numbers);
    Ok(item)
}

pub(crate) fn apply_update(
    key: &Key,
    existing: Option<Item>,
    update: &Update,
    now: DateTime<Utc>,
) -> Result<Item, StoreError> {
    update.validate()?;
    check(existing.as_ref(), update.condition, now)?;
    let mut attrs = existing.filter(|i| i.is_live(now)).map(|i| i.attrs).unwrap_or_default();
    for (name, value) in &update.set {
        attrs.insert(name.clone(), value.clone());
    }
    for (name, delta) in &update.add {
        let current = match attrs.get(name) {
            None => 0.0,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(_) => {
                return Err(StoreError::Invalid(format!("attribute {name:?} is not a number")));
            }
        };
        attrs.insert(name.clone(), number(current + delta)?);
    }
    prepare(Item::new(key.clone(), attrs))
}

/// Collects one page from a partition's entries, given in the query's direction and already past
/// its cursor.
pub(crate) fn page(
    entries: impl Iterator<Item = Result<Item, StoreError>>,
    query: &Query,
    now: DateTime<Utc>,
) -> Result<Page, StoreError> {
    let before = if query.descending { Ordering::Greater } else { Ordering::Less };
    let mut items: Vec<Item> = Vec::new();
    for entry in entries {
        let item = entry?;
        match query.sort_key.position(&item.key.sk) {
            Ordering::Equal if item.is_live(now) => {
                if items.len() == query.limit {
                    let next = items.last().map(|i| i.key.sk.clone());
                    return Ok(Page { items, next });
                }
                items.push(item);
            }
            Ordering::Equal => {}
            pos if pos == before => {}
            _ => break,
        }
    }
    Ok(Page { items, next: None })
}

/// Dedupes a batch so the last write of a key wins, keeping first-seen order.
pub(crate) fn last_write_wins(items: Vec<Item>) -> Vec<Item> {
    let mut order: Vec<Key> = Vec::new();
    let mut latest: std::collections::HashMap<Key, Item> = std::collections::HashMap::new();
    for item in items {
        if latest.insert(item.key.clone(), item.clone()).is_none() {
            order.push(item.key);
        }
    }
    order.into_iter().filter_map(|k| latest.remove(&k)).collect()
}

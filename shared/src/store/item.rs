use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::StoreError;

/// Attribute names with a meaning to the store itself.
pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const TTL: &str = "ttl";
pub(crate) const VERSION: &str = "version";

/// Where an item lives: partition key and sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// One stored item: its key and its attributes (which may include `ttl` and `version`).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub attrs: Map<String, Value>,
}

impl Item {
    pub fn new(key: Key, attrs: Map<String, Value>) -> Self {
        Self { key, attrs }
    }

    /// Builds an item from a record that serializes to a JSON object.
    pub fn from_record<T: Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        match serde_json::to_value(record) {
            Ok(Value::Object(attrs)) => Ok(Self { key, attrs }),
            Ok(other) => Err(StoreError::Invalid(format!("a record must be an object, not {other}"))),
            Err(e) => Err(StoreError::Invalid(format!("record does not serialize: {e}"))),
        }
    }

    /// Reads the item back as a record; `ttl` and `version` are left out, they belong to the store.
    pub fn record<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        let mut attrs = self.attrs.clone();
        attrs.remove(TTL);
        attrs.remove(VERSION);
        serde_json::from_value(Value::Object(attrs)).map_err(|e| {
            StoreError::Corrupt(format!("item {}/{} does not read back: {e}", self.key.pk, self.key.sk))
        })
    }

    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.attrs.insert(VERSION.into(), version.into());
        self
    }

    #[must_use]
    pub fn with_ttl(mut self, expires_at: DateTime<Utc>) -> Self {
        self.attrs.insert(TTL.into(), expires_at.timestamp().into());
        self
    }

    pub fn version(&self) -> Option<u64> {
        self.attrs.get(VERSION).and_then(Value::as_u64)
    }

    pub fn ttl(&self) -> Option<i64> {
        self.attrs.get(TTL).and_then(Value::as_i64)
    }

    /// An item is visible until the second its `ttl` names.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.ttl().is_none_or(|ttl| ttl > now.timestamp())
    }

    /// Rejects what the backends cannot store identically: key attributes inside `attrs`, empty
    /// keys, and `ttl` or `version` that are not whole numbers.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        validate_key(&self.key)?;
        for reserved in [PK, SK] {
            if self.attrs.contains_key(reserved) {
                return Err(StoreError::Invalid(format!("attribute {reserved:?} is the key, not data")));
            }
        }
        if self.attrs.get(TTL).is_some_and(|v| v.as_i64().is_none()) {
            return Err(StoreError::Invalid("ttl must be whole epoch seconds".into()));
        }
        if self.attrs.get(VERSION).is_some_and(|v| v.as_u64().is_none()) {
            return Err(StoreError::Invalid("version must be a whole number >= 0".into()));
        }
        Ok(())
    }
}

pub(crate) fn validate_key(key: &Key) -> Result<(), StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid("pk and sk must not be empty".into()));
    }
    Ok(())
}

/// Stores numbers the way DynamoDB gives them back: a whole number is an integer (`5.0` reads as
/// `5`). The local backends apply it on every write so all backends answer alike.
pub(crate) fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| !n.is_i64() && !n.is_u64())
                && let Some(int) = whole(f)
            {
                *value = Value::from(int);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

/// `f` as an i64 when it is a whole number that fits.
pub(crate) fn whole(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it f64 no longer counts in ones
    (f.fract() == 0.0 && f.abs() <= LIMIT).then_some(f as i64)
}

/// A JSON number for `f`, integral when it is whole.
pub(crate) fn number(f: f64) -> Result<Value, StoreError> {
    if let Some(int) = whole(f) {
        return Ok(Value::from(int));
    }
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| StoreError::Invalid(format!("{f} is not a storable number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_normalised_like_dynamodb() {
        let mut v = json!({"a": 5.0, "b": 2.5, "c": [1.0, {"d": -3.0}], "e": 7});
        normalize_numbers(&mut v);
        assert_eq!(v, json!({"a": 5, "b": 2.5, "c": [1, {"d": -3}], "e": 7}));
    }

    #[test]
    fn reserved_attributes_are_checked() {
        let key = Key::new("P", "S");
        let bad = [json!({"pk": "x"}), json!({"ttl": "soon"}), json!({"version": -1}), json!({"ttl": 1.5})];
        for attrs in bad {
            let Value::Object(attrs) = attrs else { unreachable!() };
            assert!(Item::new(key.clone(), attrs).validate().is_err());
        }
        assert!(Item::new(Key::new("", "S"), Map::new()).validate().is_err());
        assert!(Item::new(key, Map::new()).with_version(3).validate().is_ok());
    }

    #[test]
    fn ttl_hides_the_item_from_that_second_on() {
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        let item = Item::new(Key::new("P", "S"), Map::new());
        assert!(item.is_live(now));
        assert!(item.clone().with_ttl(DateTime::from_timestamp(1_001, 0).unwrap()).is_live(now));
        assert!(!item.clone().with_ttl(now).is_live(now));
    }
}

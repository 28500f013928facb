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

    /// Rejects what the backends cannot store identically, and what DynamoDB refuses, so every
    /// backend refuses it alike: key attributes inside `attrs`, empty or oversized keys, `ttl` or
    /// `version` that are not whole numbers, numbers outside DynamoDB's range, and items over
    /// DynamoDB's 400 KB.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        validate_key(&self.key)?;
        for (name, value) in &self.attrs {
            storable_number(name, value)?;
        }
        let size = item_size(self);
        if size > MAX_ITEM_BYTES {
            return Err(StoreError::Invalid(format!(
                "item {}/{} is {size} bytes as DynamoDB counts them, over its {MAX_ITEM_BYTES}",
                self.key.pk, self.key.sk
            )));
        }
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

/// DynamoDB's largest item: 400 KB, names and values together.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's largest partition key value, in bytes.
pub const MAX_PK_BYTES: usize = 2048;
/// DynamoDB's largest sort key value, in bytes.
pub const MAX_SK_BYTES: usize = 1024;
/// The smallest magnitude DynamoDB stores besides zero (1E-130).
pub const MIN_MAGNITUDE: f64 = 1e-130;
/// DynamoDB stores magnitudes below 1E+126 (9.99...E+125 and less).
pub const MAX_MAGNITUDE: f64 = 1e126;

pub(crate) fn validate_key(key: &Key) -> Result<(), StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid("pk and sk must not be empty".into()));
    }
    if key.pk.len() > MAX_PK_BYTES || key.sk.len() > MAX_SK_BYTES {
        return Err(StoreError::Invalid(format!(
            "keys are at most {MAX_PK_BYTES} bytes (pk) and {MAX_SK_BYTES} bytes (sk)"
        )));
    }
    Ok(())
}

/// Whether DynamoDB can store `x`: zero, or a magnitude from 1E-130 below 1E+126.
pub fn storable(x: f64) -> bool {
    x == 0.0 || (x.is_finite() && (MIN_MAGNITUDE..MAX_MAGNITUDE).contains(&x.abs()))
}

/// Every number in `value` (at any depth) is one DynamoDB stores.
pub(crate) fn storable_number(name: &str, value: &Value) -> Result<(), StoreError> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if storable(f) => Ok(()),
            _ => Err(StoreError::Invalid(format!(
                "attribute {name:?} holds {n}, outside the numbers DynamoDB stores (0, or 1E-130 to below 1E+126)"
            ))),
        },
        Value::Array(items) => items.iter().try_for_each(|v| storable_number(name, v)),
        Value::Object(map) => map.values().try_for_each(|v| storable_number(name, v)),
        _ => Ok(()),
    }
}

/// An item's size as DynamoDB counts it: key and attribute names and values in UTF-8; a number
/// about one byte per two significant digits plus one (at most 21); null and booleans one byte;
/// a list or map three bytes plus one per element, plus its elements (and a map's names).
pub fn item_size(item: &Item) -> usize {
    let names_and_values: usize = item.attrs.iter().map(|(n, v)| n.len() + value_size(v)).sum();
    PK.len() + item.key.pk.len() + SK.len() + item.key.sk.len() + names_and_values
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => {
            let digits = n.to_string().bytes().filter(u8::is_ascii_digit).count();
            (digits.div_ceil(2) + 1).min(21)
        }
        Value::Array(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
    }
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
    fn dynamodbs_limits_are_the_stores() {
        let key = Key::new("P", "S");
        for bad in [json!({"x": 1e-131}), json!({"x": [1, {"y": -2e126}]}), json!({"x": 1.5e200})] {
            let Value::Object(attrs) = bad.clone() else { unreachable!() };
            assert!(Item::new(key.clone(), attrs).validate().is_err(), "{bad}");
        }
        for good in [json!({"x": 0.0}), json!({"x": 1e-129}), json!({"x": -9.9e125, "s": ""})] {
            let Value::Object(attrs) = good.clone() else { unreachable!() };
            assert!(Item::new(key.clone(), attrs).validate().is_ok(), "{good}");
        }
        let big = |n: usize| {
            let mut attrs = Map::new();
            attrs.insert("blob".into(), Value::String("x".repeat(n)));
            Item::new(key.clone(), attrs)
        };
        let overhead = item_size(&big(0));
        assert!(big(MAX_ITEM_BYTES - overhead).validate().is_ok(), "exactly 400 KB");
        assert!(big(MAX_ITEM_BYTES - overhead + 1).validate().is_err());
        assert!(validate_key(&Key::new("P".repeat(2048), "S".repeat(1024))).is_ok());
        assert!(validate_key(&Key::new("P".repeat(2049), "S")).is_err());
        assert!(validate_key(&Key::new("P", "S".repeat(1025))).is_err());
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

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConsumedCapacity, KeySchemaElement, KeyType,
    KeysAndAttributes, PutRequest, ReturnConsumedCapacity, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use super::item::{PK, SK, TTL, VERSION, number, validate_key};
use super::{
    Condition, GET_MANY_BATCH, Item, Key, Page, Query, SortKey, Store, StoreError, Update, check_get_many,
    local,
};
use crate::clock::Clock;

type Attributes = HashMap<String, AttributeValue>;

/// The parts of a request that carry a condition; all `None` for an unconditional write.
struct ConditionExpression {
    text: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Attributes>,
}

/// BatchWriteItem takes at most this many requests.
const BATCH_SIZE: usize = 25;
/// Attempts at a batch's unprocessed items before giving up.
const BATCH_ATTEMPTS: u32 = 8;
/// BatchGetItem requests of one `get_many` call in flight at once.
const READ_BATCHES_AT_ONCE: usize = 4;
/// Attempts at an update racing with the expiry of the item it updates.
const UPDATE_ATTEMPTS: u32 = 5;

/// The suite's table in DynamoDB (or any server that speaks its API).
///
/// Reads are strongly consistent so a read-modify-write sees the latest version. Expired items,
/// which DynamoDB deletes only eventually, are filtered out here.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    clock: Arc<dyn Clock>,
    capacity: Option<Arc<dyn CapacitySink>>,
}

/// Where the capacity units DynamoDB reports for each call go (the performance figures), so the
/// store depends on no one: `op` is `get`, `put`, `update`, `query` or `delete`, with the key the
/// call was for.
pub trait CapacitySink: Send + Sync + std::fmt::Debug {
    fn consumed(&self, op: &str, pk: &str, sk: Option<&str>, units: f64);
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<Arc<str>>, clock: Arc<dyn Clock>) -> Self {
        Self { client, table: table.into(), clock, capacity: None }
    }

    /// The table this store reads and writes.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Tells `sink` the capacity units each call consumed, as DynamoDB reports them.
    #[must_use]
    pub fn with_capacity_sink(mut self, sink: Arc<dyn CapacitySink>) -> Self {
        self.capacity = Some(sink);
        self
    }

    fn consumed(&self, op: &str, pk: &str, sk: Option<&str>, capacity: Option<&ConsumedCapacity>) {
        if let (Some(sink), Some(units)) =
            (&self.capacity, capacity.and_then(ConsumedCapacity::capacity_units))
        {
            sink.consumed(op, pk, sk, units);
        }
    }

    fn now_secs(&self) -> AttributeValue {
        AttributeValue::N(self.clock.now().timestamp().to_string())
    }

    /// A [`Condition`] as a DynamoDB condition expression, treating expired items as absent.
    fn condition(&self, condition: Condition) -> ConditionExpression {
        let names = |pairs: &[(&str, &str)]| {
            Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
        };
        match condition {
            Condition::Always => ConditionExpression { text: None, names: None, values: None },
            Condition::Absent => ConditionExpression {
                text: Some("attribute_not_exists(#pk) OR #ttl <= :now".into()),
                names: names(&[("#pk", PK), ("#ttl", TTL)]),
                values: Some(HashMap::from([(":now".to_owned(), self.now_secs())])),
            },
            Condition::Exists => ConditionExpression {
                text: Some("attribute_exists(#pk) AND (attribute_not_exists(#ttl) OR #ttl > :now)".into()),
                names: names(&[("#pk", PK), ("#ttl", TTL)]),
                values: Some(HashMap::from([(":now".to_owned(), self.now_secs())])),
            },
            Condition::Version(v) => ConditionExpression {
                text: Some("#version = :v AND (attribute_not_exists(#ttl) OR #ttl > :now)".into()),
                names: names(&[("#version", VERSION), ("#ttl", TTL)]),
                values: Some(HashMap::from([
                    (":v".to_owned(), AttributeValue::N(v.to_string())),
                    (":now".to_owned(), self.now_secs()),
                ])),
            },
        }
    }

    /// Applies `update` to a live or absent item (`Ok(None)` when the item is there but expired),
    /// or, when its condition asks for a live item, only to one that meets it.
    async fn try_update(&self, key: &Key, update: &Update) -> Result<Option<Item>, StoreError> {
        let guarded = matches!(update.condition, Condition::Exists | Condition::Version(_));
        let (condition, mut names, mut values) = if guarded {
            let c = self.condition(update.condition);
            (c.text.unwrap_or_default(), c.names.unwrap_or_default(), c.values.unwrap_or_default())
        } else {
            (
                "attribute_not_exists(#pk) OR attribute_not_exists(#ttl) OR #ttl > :now".to_owned(),
                HashMap::from([("#pk".to_owned(), PK.to_owned()), ("#ttl".to_owned(), TTL.to_owned())]),
                HashMap::from([(":now".to_owned(), self.now_secs())]),
            )
        };
        let mut sets = Vec::new();
        for (i, (name, value)) in update.set.iter().enumerate() {
            names.insert(format!("#s{i}"), name.clone());
            values.insert(format!(":s{i}"), to_attribute(value)?);
            sets.push(format!("#s{i} = :s{i}"));
        }
        let mut adds = Vec::new();
        for (i, (name, delta)) in update.add.iter().enumerate() {
            names.insert(format!("#a{i}"), name.clone());
            values.insert(format!(":a{i}"), to_attribute(&number(*delta)?)?);
            adds.push(format!("#a{i} :a{i}"));
        }
        let mut expression = Vec::new();
        if !sets.is_empty() {
            expression.push(format!("SET {}", sets.join(", ")));
        }
        if !adds.is_empty() {
            expression.push(format!("ADD {}", adds.join(", ")));
        }
        let mut request = self
            .client
            .update_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_attributes(key)))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if !expression.is_empty() {
            request = request.update_expression(expression.join(" "));
        }
        match request.send().await {
            Ok(out) => {
                self.consumed("update", &key.pk, Some(&key.sk), out.consumed_capacity());
                from_attributes(out.attributes.unwrap_or_default()).map(Some)
            }
            Err(e) => match classify(e) {
                StoreError::ConditionFailed if !guarded => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Replaces an expired item with a fresh one built from `update`, if it is still expired.
    async fn replace_expired(&self, key: &Key, update: &Update) -> Result<Option<Item>, StoreError> {
        let fresh = local::apply_update(key, None, update, self.clock.now())?;
        let result = self
            .client
            .put_item()
            .table_name(self.table.as_ref())
            .set_item(Some(to_attributes(&fresh)?))
            .condition_expression("#ttl <= :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", self.now_secs())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.consumed("update", &key.pk, Some(&key.sk), out.consumed_capacity());
                Ok(Some(fresh))
            }
            Err(e) => match classify(e) {
                StoreError::ConditionFailed => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Reads up to [`GET_MANY_BATCH`] distinct keys with BatchGetItem, asking again for the keys
    /// DynamoDB leaves unprocessed (throttling, or the 16 MB answer limit): at once while each
    /// answer brings something, backing off when one brings nothing.
    async fn read_batch(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let pattern_pk = keys.first().map_or_else(|| "EMPTY".to_owned(), |k| k.pk.clone());
        let mut wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(key_attributes).collect()))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut found = Vec::with_capacity(keys.len());
        let mut idle = 0;
        while idle < BATCH_ATTEMPTS {
            if idle > 0 {
                tokio::time::sleep(Duration::from_millis(25 << idle.min(6))).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(self.table.as_ref(), wanted.clone())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            for capacity in out.consumed_capacity() {
                self.consumed("get_many", &pattern_pk, None, Some(capacity));
            }
            let answered = out.responses.and_then(|mut r| r.remove(self.table.as_ref())).unwrap_or_default();
            idle = if answered.is_empty() { idle + 1 } else { 0 };
            for attrs in answered {
                found.push(from_attributes(attrs)?);
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(self.table.as_ref())) {
                Some(rest) if !rest.keys().is_empty() => wanted = rest,
                _ => return Ok(found),
            }
        }
        Err(StoreError::Unavailable {
            message: format!(
                "{} keys still unprocessed after {BATCH_ATTEMPTS} attempts without progress",
                wanted.keys().len()
            ),
            source: None,
        })
    }

    async fn write_batch(&self, mut requests: Vec<WriteRequest>, pattern_pk: &str) -> Result<(), StoreError> {
        for attempt in 0..BATCH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(self.table.as_ref(), requests)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            for capacity in out.consumed_capacity() {
                self.consumed("batch_put", pattern_pk, None, Some(capacity));
            }
            requests =
                out.unprocessed_items.and_then(|mut u| u.remove(self.table.as_ref())).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable {
            message: format!(
                "{} batch items still unprocessed after {BATCH_ATTEMPTS} attempts",
                requests.len()
            ),
            source: None,
        })
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        self.consumed("get", &key.pk, Some(&key.sk), out.consumed_capacity());
        let now = self.clock.now();
        out.item.map(from_attributes).transpose().map(|i| i.filter(|i| i.is_live(now)))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        check_get_many(keys)?;
        // BatchGetItem refuses a key given twice: each distinct key is asked for once.
        let distinct: Vec<Key> = keys.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let batches: Vec<_> =
            distinct.chunks(GET_MANY_BATCH).map(|chunk| self.read_batch(chunk.to_vec())).collect();
        let pages: Vec<Vec<Item>> =
            futures::stream::iter(batches).buffer_unordered(READ_BATCHES_AT_ONCE).try_collect().await?;
        let now = self.clock.now();
        let by_key: HashMap<Key, Item> =
            pages.into_iter().flatten().filter(|i| i.is_live(now)).map(|i| (i.key.clone(), i)).collect();
        Ok(keys.iter().map(|key| by_key.get(key).cloned()).collect())
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        item.validate()?;
        let expression = self.condition(condition);
        let out = self
            .client
            .put_item()
            .table_name(self.table.as_ref())
            .set_item(Some(to_attributes(&item)?))
            .set_condition_expression(expression.text)
            .set_expression_attribute_names(expression.names)
            .set_expression_attribute_values(expression.values)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        self.consumed("put", &item.key.pk, Some(&item.key.sk), out.consumed_capacity());
        Ok(())
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        validate_key(key)?;
        update.validate()?;
        match update.condition {
            Condition::Always => {}
            Condition::Absent => {
                // Nothing live to add to: the result is the update applied to nothing.
                let fresh = local::apply_update(key, None, &update, self.clock.now())?;
                self.put(fresh.clone(), Condition::Absent).await?;
                return Ok(fresh);
            }
            Condition::Exists | Condition::Version(_) => {
                return self.try_update(key, &update).await?.ok_or(StoreError::ConditionFailed);
            }
        }
        for _ in 0..UPDATE_ATTEMPTS {
            if let Some(item) = self.try_update(key, &update).await? {
                return Ok(item);
            }
            if let Some(item) = self.replace_expired(key, &update).await? {
                return Ok(item);
            }
        }
        Err(StoreError::Unavailable {
            message: format!("update of {}/{} kept racing with its expiry", key.pk, key.sk),
            source: None,
        })
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        query.validate()?;
        let mut names = HashMap::from([("#pk".to_owned(), PK.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let condition = match &query.sort_key {
            SortKey::All => "#pk = :pk",
            SortKey::Prefix(p) => {
                names.insert("#sk".into(), SK.into());
                values.insert(":p".into(), AttributeValue::S(p.clone()));
                "#pk = :pk AND begins_with(#sk, :p)"
            }
            SortKey::Between(lo, hi) => {
                names.insert("#sk".into(), SK.into());
                values.insert(":lo".into(), AttributeValue::S(lo.clone()));
                values.insert(":hi".into(), AttributeValue::S(hi.clone()));
                "#pk = :pk AND #sk BETWEEN :lo AND :hi"
            }
        };
        let now = self.clock.now();
        let mut items = Vec::new();
        let mut start =
            query.after.as_ref().map(|sk| key_attributes(&Key::new(query.pk.clone(), sk.clone())));
        loop {
            let remaining = query.limit - items.len();
            let out = self
                .client
                .query()
                .table_name(self.table.as_ref())
                .key_condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            self.consumed("query", &query.pk, None, out.consumed_capacity());
            for attrs in out.items.unwrap_or_default() {
                let item = from_attributes(attrs)?;
                if item.is_live(now) {
                    items.push(item);
                }
            }
            let Some(last) = out.last_evaluated_key else {
                return Ok(Page { items, next: None });
            };
            if items.len() == query.limit {
                let next = match last.get(SK) {
                    Some(AttributeValue::S(sk)) => sk.clone(),
                    _ => {
                        return Err(StoreError::Corrupt("LastEvaluatedKey has no sort key".into()));
                    }
                };
                return Ok(Page { items, next: Some(next) });
            }
            start = Some(last);
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        validate_key(key)?;
        let expression = self.condition(condition);
        let out = self
            .client
            .delete_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(expression.text)
            .set_expression_attribute_names(expression.names)
            .set_expression_attribute_values(expression.values)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        self.consumed("delete", &key.pk, Some(&key.sk), out.consumed_capacity());
        Ok(())
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let pattern_pk = items.first().map_or_else(|| "EMPTY".to_owned(), |i| i.key.pk.clone());
        let mut requests = Vec::with_capacity(items.len());
        for item in local::last_write_wins(items) {
            item.validate()?;
            let put = PutRequest::builder()
                .set_item(Some(to_attributes(&item)?))
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(BATCH_SIZE));
            self.write_batch(std::mem::replace(&mut requests, rest), &pattern_pk).await?;
        }
        Ok(())
    }
}

/// Creates the suite's table as template.yaml declares it (on-demand, `pk`/`sk`, TTL on `ttl`).
/// For tests and development against a DynamoDB-API server; production tables come from SAM.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))
    };
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(PK)?)
        .attribute_definitions(attribute(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(classify)?;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

fn key_attributes(key: &Key) -> Attributes {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn to_attribute(value: &Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| StoreError::Invalid(format!("value does not map to DynamoDB: {e}")))
}

fn to_attributes(item: &Item) -> Result<Attributes, StoreError> {
    let mut attrs: Attributes = serde_dynamo::to_item(&item.attrs)
        .map_err(|e| StoreError::Invalid(format!("item does not map to DynamoDB: {e}")))?;
    attrs.extend(key_attributes(&item.key));
    Ok(attrs)
}

fn from_attributes(mut attrs: Attributes) -> Result<Item, StoreError> {
    let mut key_part = |name: &str| match attrs.remove(name) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(StoreError::Corrupt(format!("item without a string {name}"))),
    };
    let key = Key::new(key_part(PK)?, key_part(SK)?);
    let attrs: Map<String, Value> = serde_dynamo::from_item(attrs)
        .map_err(|e| StoreError::Corrupt(format!("item does not read back: {e}")))?;
    Ok(Item::new(key, attrs))
}

/// Sorts an SDK error into what the caller can do about it.
fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "ResourceNotFoundException"
                | "UnrecognizedClientException",
            ) => StoreError::unavailable(message, err),
            Some("ValidationException") => StoreError::Invalid(message),
            _ => StoreError::internal(message, err),
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::unavailable(message, err)
        }
        _ => StoreError::internal(message, err),
    }
}

//! The api test harness: the Router driven with `oneshot` on the in-memory store and a manual
//! clock, and the table of refused requests.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::clock::ManualClock;
use shared::config::Config;
use shared::store::MemoryStore;
use tower::ServiceExt;

pub struct App {
    pub router: Router,
    pub clock: Arc<ManualClock>,
}

pub fn app() -> App {
    let clock = integration_tests::test_clock();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    App { router: api::router(api::AppState::new(store, clock.clone(), Config::default())), clock }
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl App {
    pub async fn send(&self, method: Method, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            content_type: headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            retry_after: headers.get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned()),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, None, Vec::new()).await
    }

    pub async fn json(&self, method: Method, uri: &str, body: &Value) -> Answer {
        self.send(method, uri, Some("application/json"), body.to_string().into_bytes()).await
    }
}

/// One bad request and the status it must get.
pub struct Case {
    pub name: &'static str,
    pub method: Method,
    pub uri: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub expected: StatusCode,
}

pub fn case(name: &'static str, method: Method, uri: &str, expected: StatusCode) -> Case {
    Case { name, method, uri: uri.to_owned(), content_type: None, body: Vec::new(), expected }
}

pub fn json_case(name: &'static str, method: Method, uri: &str, body: &Value, expected: StatusCode) -> Case {
    Case {
        content_type: Some("application/json"),
        body: body.to_string().into_bytes(),
        ..case(name, method, uri, expected)
    }
}

pub fn with(base: &Value, field: &str, value: Value) -> Value {
    let mut v = base.clone();
    v[field] = value;
    v
}

pub fn without(base: &Value, field: &str) -> Value {
    let mut v = base.clone();
    v.as_object_mut().unwrap().remove(field);
    v
}

/// Sends every case, checks each gets its status as a problem document, and that none of them
/// changed any state.
pub async fn assert_refused(app: &App, cases: Vec<Case>) {
    let before = app.get("/scaling/status").await.body;
    for c in cases {
        let a = app.send(c.method, &c.uri, c.content_type, c.body).await;
        assert_eq!(a.status, c.expected, "{}: {:?}", c.name, a.body);
        assert_eq!(a.content_type, "application/problem+json", "{}", c.name);
        assert_eq!(a.body["status"], c.expected.as_u16(), "{}", c.name);
        assert_eq!(a.body["type"], "about:blank", "{}", c.name);
        assert!(!a.body["detail"].as_str().unwrap_or_default().is_empty(), "{}", c.name);
    }
    let mut after = app.get("/scaling/status").await.body;
    after["timestamp"] = before["timestamp"].clone();
    assert_eq!(after, before, "no rejected request changed any state");
}

/// The api on `store`, with the clock the store runs on.
pub fn app_on(store: Arc<dyn shared::store::Store>, clock: Arc<ManualClock>) -> App {
    App { router: api::router(api::AppState::new(store, clock.clone(), Config::default())), clock }
}

/// What [`Watched`] runs before each request: its name and partition in, `Err` to refuse it.
type Before = dyn Fn(&str, &str) -> Result<(), shared::store::StoreError> + Send + Sync;

/// The in-memory store with a look at every request first: `before` sees each request's name
/// (`get`, `put`, `update`, `query`, `delete`, `batch_put`) and partition, and may refuse it.
pub struct Watched {
    pub inner: MemoryStore,
    before: Box<Before>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl Watched {
    pub fn new(
        clock: Arc<ManualClock>,
        before: impl Fn(&str, &str) -> Result<(), shared::store::StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self { inner: MemoryStore::new(clock), before: Box::new(before) }
    }
}

#[async_trait::async_trait]
impl shared::store::Store for Watched {
    async fn get(
        &self,
        key: &shared::store::Key,
    ) -> Result<Option<shared::store::Item>, shared::store::StoreError> {
        (self.before)("get", &key.pk)?;
        self.inner.get(key).await
    }
    /// One call is one request, as DynamoDB sees a BatchGetItem (named by its first key).
    async fn get_many(
        &self,
        keys: &[shared::store::Key],
    ) -> Result<Vec<Option<shared::store::Item>>, shared::store::StoreError> {
        (self.before)("get_many", keys.first().map_or("", |k| k.pk.as_str()))?;
        self.inner.get_many(keys).await
    }
    async fn put(
        &self,
        item: shared::store::Item,
        condition: shared::store::Condition,
    ) -> Result<(), shared::store::StoreError> {
        (self.before)("put", &item.key.pk)?;
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &shared::store::Key,
        update: shared::store::Update,
    ) -> Result<shared::store::Item, shared::store::StoreError> {
        (self.before)("update", &key.pk)?;
        self.inner.update(key, update).await
    }
    async fn query(
        &self,
        query: &shared::store::Query,
    ) -> Result<shared::store::Page, shared::store::StoreError> {
        (self.before)("query", &query.pk)?;
        self.inner.query(query).await
    }
    async fn delete(
        &self,
        key: &shared::store::Key,
        condition: shared::store::Condition,
    ) -> Result<(), shared::store::StoreError> {
        (self.before)("delete", &key.pk)?;
        self.inner.delete(key, condition).await
    }
    async fn batch_put(&self, items: Vec<shared::store::Item>) -> Result<(), shared::store::StoreError> {
        (self.before)("batch_put", items.first().map_or("", |i| i.key.pk.as_str()))?;
        self.inner.batch_put(items).await
    }
}

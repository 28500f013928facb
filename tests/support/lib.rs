//! Helpers for tests that need a real DynamoDB-API server. The README's test command starts one
//! on loopback and exports its address as `COMMANDER_TEST_DYNAMODB_ENDPOINT`.

pub mod local_lambda;
pub mod runtime_api;

use std::sync::Arc;

use shared::clock::Clock;
use shared::store::{DynamoStore, create_table};

/// Where the test DynamoDB-API server listens.
pub const ENDPOINT_VAR: &str = "COMMANDER_TEST_DYNAMODB_ENDPOINT";
/// Set (as the README's test command does) to make a missing server a failure instead of a skip.
pub const REQUIRE_VAR: &str = "COMMANDER_REQUIRE_DYNAMODB";

/// The server's endpoint, or `None` (with a note on stderr) when tests run without one.
///
/// # Panics
/// When the server is required but not configured, so CI cannot pass without it.
pub fn dynamodb_endpoint(test: &str) -> Option<String> {
    if let Some(endpoint) = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty()) {
        return Some(endpoint);
    }
    assert!(
        std::env::var(REQUIRE_VAR).is_err(),
        "{REQUIRE_VAR} is set but {ENDPOINT_VAR} is not: start a DynamoDB-API server (see README)"
    );
    eprintln!(
        "SKIPPED {test}: no DynamoDB-API server ({ENDPOINT_VAR} unset); the README test command starts one"
    );
    None
}

/// A DynamoStore on a fresh table of its own, so tests never see each other's items.
pub async fn fresh_dynamo_store(endpoint: &str, clock: Arc<dyn Clock>) -> DynamoStore {
    let client = shared::aws::local_dynamodb(endpoint);
    let table = format!("test-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table).await.expect("create the test table on the DynamoDB-API server");
    DynamoStore::new(client, table, clock)
}

//! The smallest Lambda function lambda_runtime makes: the baseline the suite's cold starts and
//! event handling are measured against.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) },
    ))
    .await
}

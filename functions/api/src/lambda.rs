//! The api's Lambda event loop: warm pings are answered before an event is read as an HTTP
//! request, so they never reach the Router (no access log, no metrics); everything else is an API
//! Gateway event the Router serves.

use axum::Router;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service, service_fn};
use serde_json::Value;

/// Serves the Lambda Runtime API with `app`.
pub async fn serve(app: Router) -> Result<(), lambda_http::Error> {
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let mut http = Adapter::from(app.clone());
        async move {
            let LambdaEvent { payload, context } = event;
            shared::warming::ping_or(&payload, || async {
                let request: LambdaRequest = serde_json::from_value(payload.clone())?;
                let response = http.call(LambdaEvent::new(request, context)).await?;
                Ok::<_, lambda_http::Error>(response)
            })
            .await
        }
    }))
    .await
}

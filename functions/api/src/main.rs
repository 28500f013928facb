//! The api Lambda: its container and state built once, then the Router serves every request.

use shared::runtime::{Container, Reads};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let container = Container::lambda("api", Reads::Cached).await?;
    api::lambda::serve(api::router(api::AppState::from_container(container))).await
}

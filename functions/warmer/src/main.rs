//! The warmer Lambda: its container built once, then every scheduled event handled.

use shared::runtime::{Container, Flush, Reads, serve_events};
use warmer::WarmerDeps;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let container = Container::lambda("warmer", Reads::Cached).await?;
    let deps = &WarmerDeps::of(&container);
    serve_events(&container.performance, Flush::EveryRun, |payload, deadline| async move {
        warmer::handle_schedule(deps, &payload, deadline).await
    })
    .await
}

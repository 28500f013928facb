//! The warmer Lambda: its container built once, then every scheduled event handled.

use shared::runtime::{Container, Flush, InitPhases, Reads, serve_events};
use warmer::WarmerDeps;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut init = InitPhases::start();
    let container = Container::lambda_timed("warmer", Reads::Cached, &mut init).await?;
    let deps = &WarmerDeps::of(&container);
    init.phase("handlers");
    init.log();
    serve_events(&container.performance, Flush::EveryRun, |payload, deadline| async move {
        warmer::handle_schedule(deps, &payload, deadline).await
    })
    .await
}

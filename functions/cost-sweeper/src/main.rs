//! The cost-sweeper Lambda: its container built once, then every scheduled event handled.

use cost_sweeper::SweeperDeps;
use shared::runtime::{Container, Flush, Reads, serve_events};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let container = Container::lambda("cost-sweeper", Reads::Direct).await?;
    let deps = &SweeperDeps::of(&container);
    serve_events(&container.performance, Flush::EveryRun, |payload, deadline| async move {
        cost_sweeper::handle_schedule(deps, &payload, deadline).await
    })
    .await
}

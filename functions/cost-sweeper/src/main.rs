//! The cost-sweeper Lambda: its container built once, then every scheduled event handled.

use cost_sweeper::SweeperDeps;
use shared::runtime::{Container, Flush, InitPhases, Reads, serve_events};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut init = InitPhases::start();
    let container = Container::lambda_timed("cost-sweeper", Reads::Direct, &mut init).await?;
    let deps = &SweeperDeps::of(&container);
    init.phase("handlers");
    init.log();
    serve_events(&container.performance, Flush::EveryRun, |payload, deadline| async move {
        cost_sweeper::handle_schedule(deps, &payload, deadline).await
    })
    .await
}

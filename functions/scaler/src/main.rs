//! The scaler Lambda: its container built once, then every tick and alarm handled (they come
//! often, so the performance figures go to the table at most once a minute).

use scaler::ScalerDeps;
use shared::runtime::{Container, Flush, InitPhases, Reads, serve_events};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut init = InitPhases::start();
    let container = Container::lambda_timed("scaler", Reads::Direct, &mut init).await?;
    let deps = &ScalerDeps::of(&container);
    init.phase("handlers");
    init.log();
    serve_events(&container.performance, Flush::AtMostEveryMinute, |payload, deadline| async move {
        scaler::handle_event(deps, &payload, deadline).await
    })
    .await
}

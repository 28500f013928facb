//! The api Lambda: its container and state built once, then the Router serves every request.

use shared::runtime::{Container, InitPhases, Reads};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let mut init = InitPhases::start();
    let container = Container::lambda_timed("api", Reads::Cached, &mut init).await?;
    let state = api::AppState::from_container(container);
    init.phase("services");
    let router = api::router(state);
    init.phase("router");
    init.log();
    api::lambda::serve(router).await
}

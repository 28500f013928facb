//! A bare axum server answering `GET /` with a small JSON body: the baseline the local API's
//! throughput is measured against. Prints its address, then serves until killed.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new().route("/", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    axum::serve(listener, app).await
}

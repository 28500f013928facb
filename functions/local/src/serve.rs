use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use shared::clock::{Clock, SystemClock};
use shared::config::Config;
use shared::store::{EmbeddedStore, MemoryStore, Store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// State file of the embedded database; created when missing.
    #[arg(long, default_value = ".commander/state.redb", conflicts_with = "memory")]
    pub state: PathBuf,
    /// Keep state in memory only: nothing survives the process.
    #[arg(long)]
    pub memory: bool,
}

pub async fn serve(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (store, where_state): (Arc<dyn Store>, String) = if args.memory {
        (Arc::new(MemoryStore::new(clock.clone())), "in memory (lost on exit)".into())
    } else {
        let store = EmbeddedStore::open(&args.state, clock.clone()).with_context(|| {
            format!("cannot use state file {} (is another commander using it?)", args.state.display())
        })?;
        (Arc::new(store), args.state.display().to_string())
    };
    let app = api::router(api::AppState::new(store, clock, config));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(state = %where_state, "commander serving on http://{addr}/ (Ctrl-C stops)");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("server failed")?;
    tracing::info!("commander stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

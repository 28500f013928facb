use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use clap::Args;

use crate::admission::Admission;
use cost_sweeper::SweeperDeps;
use scaler::ScalerDeps;
use shared::clock::{Clock, SystemClock};
use shared::config::{Config, ProcessEnv};
use shared::runtime::{Container, Settings};
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
    /// Run a cost sweep every this many minutes, as the cost-sweeper's schedule does in AWS
    /// (0: only on `POST /cost/optimize`).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=1440))]
    pub sweep_every_minutes: u64,
    /// Seed a small fleet (six replicas of two types in three regions, their scaling decisions and
    /// enough model spend for emergency mode) so the dashboard shows something at once.
    #[arg(long)]
    pub demo: bool,
    /// Run the scaler's tick (every agent type evaluated on its live signals) every this many
    /// seconds, as its EventBridge schedule does in AWS (0: only on `POST /scaling/optimize`).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub tick_seconds: u64,
    /// Write one INFO line per request (method, path, status, latency). Off by default: it
    /// costs a third of the server's throughput, and the deployed api leaves it to API Gateway.
    #[arg(long)]
    pub access_log: bool,
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
    // The same parts a Lambda container has, over this store: the store timed per access
    // pattern with the seed caches in front (the figures at `GET /performance/metrics`),
    // decisions recorded in it, heartbeats as the live signal, warming through whatever
    // Lambda-API endpoint COMMANDER_LAMBDA_ENDPOINT names (else no target is reachable).
    let mut settings = Settings::local(&ProcessEnv, config)?;
    if args.sweep_every_minutes > 0 {
        // The controls a sweep writes count as current for three of its periods.
        settings.cost.settings.period =
            chrono::Duration::minutes(i64::try_from(args.sweep_every_minutes).unwrap_or(1440));
    }
    let container = Container::local(settings, clock.clone(), store);
    tokio::spawn(purge_on_schedule(container.table.clone(), PURGE_EVERY));
    let state = api::AppState::from_container(container);
    if args.sweep_every_minutes > 0 {
        let deps = SweeperDeps {
            sweeper: state.sweeper.clone(),
            store: state.store.clone(),
            clock: clock.clone(),
            metrics: state.metrics.clone(),
            leadership: None,
        };
        tokio::spawn(sweep_on_schedule(deps, std::time::Duration::from_secs(args.sweep_every_minutes * 60)));
    }
    let alarms = ScalerDeps {
        scaler: state.scaler.clone(),
        store: state.store.clone(),
        clock,
        metrics: state.metrics.clone(),
        leadership: None,
    };
    if args.tick_seconds > 0 {
        tokio::spawn(tick_on_schedule(alarms.clone(), std::time::Duration::from_secs(args.tick_seconds)));
    }
    if args.demo {
        crate::demo::seed(&api::router(state.clone())).await?;
        crate::demo::record_morning(state.store.clone(), state.clock.now()).await?;
        tracing::info!(
            "demo fleet seeded: six replicas of detection and diagnosis, an hour of emergency spend, and yesterday's 08:00-10:00 of detection recorded for a what-if replay"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    // Whoever reaches the server changes the fleet: only this machine's own requests, not a
    // page from elsewhere (DNS rebinding, cross-site posts). Bound to a non-loopback address it
    // also answers to that address.
    let admission = if addr.ip().is_loopback() {
        Admission::loopback(addr.port())
    } else {
        Admission::by_address(addr.port())
    };
    let access_log = if args.access_log { api::AccessLog::On } else { api::AccessLog::Off };
    let app = api::router_with(state, access_log)
        .merge(alarm_route(alarms))
        .layer(axum::middleware::from_fn_with_state(admission, crate::admission::admit));
    tracing::info!(state = %where_state, "commander serving on http://{addr}/ (Ctrl-C stops)");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("server failed")?;
    tracing::info!("commander stopped");
    Ok(())
}

/// How often the local state drops expired items (DynamoDB's TTL does this in AWS).
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes expired items at start and every `every`, so a long-running local state stays the
/// size of what is live (replicas, idempotency records, snapshots all carry a `ttl`).
async fn purge_on_schedule(table: Arc<dyn Store>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        match table.purge_expired().await {
            Ok(purged) => tracing::info!(purged, "expired items purged from the local state"),
            Err(e) => tracing::warn!(error = %e, "purging expired items failed; the next hour tries again"),
        }
    }
}

/// Delivers a scheduled event to the cost sweeper every `every`, as EventBridge does in AWS.
async fn sweep_on_schedule(deps: SweeperDeps, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        match cost_sweeper::handle_schedule(&deps, &scheduled_event(), None).await {
            Ok(outcome) => tracing::info!(
                hourly_cost = outcome.hourly_cost,
                level = ?outcome.level,
                missing = ?outcome.missing_sources,
                "scheduled cost sweep"
            ),
            Err(e) => tracing::warn!(error = %e, "scheduled cost sweep failed; the next tick tries again"),
        }
    }
}

/// Delivers a scheduled event to the scaler every `every`, as its EventBridge schedule does in AWS.
async fn tick_on_schedule(deps: ScalerDeps, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        match scaler::handle_event(&deps, &scheduled_event(), None).await {
            Ok(outcome) => tracing::debug!(status = ?outcome.status, "scaler tick"),
            Err(e) => tracing::warn!(error = %e, "scaler tick failed; the next tick tries again"),
        }
    }
}

/// An EventBridge "Scheduled Event" with a fresh id, as a schedule delivers it.
fn scheduled_event() -> serde_json::Value {
    serde_json::json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
    })
}

/// `POST /local/alarms`: an alarm event (as CloudWatch invokes the scaler, or as EventBridge
/// delivers it) handled exactly as the scaler Lambda handles it, so the loop can be tried locally.
fn alarm_route(deps: ScalerDeps) -> Router {
    Router::new().route("/local/alarms", post(receive_alarm)).with_state(Arc::new(deps))
}

async fn receive_alarm(State(deps): State<Arc<ScalerDeps>>, body: axum::body::Bytes) -> Response {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return api::ApiError::BadRequest("the body must be a JSON alarm event".into()).into_response();
    };
    match scaler::handle_alarm(&deps, &payload, None).await {
        Ok(outcome) if outcome.status == scaler::Status::Ignored => {
            api::ApiError::BadRequest(outcome.reason.unwrap_or_default()).into_response()
        }
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "alarm not handled; the Lambda would be retried");
            api::ApiError::Unavailable.into_response()
        }
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
pub(crate) async fn shutdown_signal() {
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

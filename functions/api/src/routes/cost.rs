use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::cost::PriceTable;
use shared::cost::control::CostControl;
use shared::cost::levels::Thresholds;
use shared::cost::price_book::PriceSource;
use shared::cost::report::CostReport;
use shared::cost::sweep::{PricedHour, RecordedAction};
use shared::error::ValidationError;
use utoipa::{IntoParams, ToSchema};

use crate::audit::Change;
use crate::extract::Body;
use crate::{ApiError, AppState};

/// Most snapshots one report answers with.
const MAX_SNAPSHOTS: u32 = 200;
/// The most a report's JSON may take. Lambda answers at most 6 MB, counted on the invocation's
/// response, where the body is a JSON string (every quote escaped), so the report keeps to 4 MB.
const MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct PricesResponse {
    pub prices: PriceTable,
    pub source: PriceSource,
    /// Version of the operator's override in the table (0: none); send it back to replace it.
    pub version: u64,
    pub timestamp: DateTime<Utc>,
}

/// A new price table to put in force.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPricesRequest {
    pub prices: PriceTable,
    /// The version read from `GET /cost/prices`.
    pub version: u64,
}

/// The price table in force, where it came from and its version.
#[utoipa::path(get, path = "/cost/prices", tag = "cost",
    responses(
        (status = 200, body = PricesResponse),
    ))]
pub async fn prices(State(state): State<AppState>) -> Result<Json<PricesResponse>, ApiError> {
    let (table, source) = state.prices.current().await?;
    let version = state.prices.version().await?;
    Ok(Json(PricesResponse { prices: (*table).clone(), source, version, timestamp: state.clock.now() }))
}

/// Puts an operator's price table in force for every function (validated whole first).
#[utoipa::path(put, path = "/cost/prices", tag = "cost",
    request_body = PutPricesRequest,
    responses(
        (status = 200, body = PricesResponse),
        (status = 409, description = "The override changed since it was read", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_prices(
    State(state): State<AppState>,
    Body(request): Body<PutPricesRequest>,
) -> Result<(Change, Json<PricesResponse>), ApiError> {
    request.prices.validate()?;
    let now = state.clock.now();
    let (before, _) = state.prices.current().await?;
    let version = state.prices.set(&request.prices, request.version, now).await.map_err(|e| match e {
        shared::store::StoreError::ConditionFailed => ApiError::Conflict(format!(
            "the price override is no longer at version {}; read it again",
            request.version
        )),
        other => other.into(),
    })?;
    let change = Change::of(Some(before.as_ref()), Some(&request.prices));
    Ok((
        change,
        Json(PricesResponse {
            prices: request.prices,
            source: PriceSource::ControlItem,
            version,
            timestamp: now,
        }),
    ))
}

/// Runs a cost sweep now: prices the current and previous hour, projects the day, moves the cost
/// controls and answers what it found and did.
#[utoipa::path(post, path = "/cost/optimize", tag = "cost",
    responses(
        (status = 200, body = CostReport),
        (status = 409, description = "A concurrent sweep kept changing the controls, or this region's control plane stands by", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable, or emergency concurrency caps could not all be put in place (the report is stored)", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn optimize(State(state): State<AppState>) -> Result<Json<CostReport>, ApiError> {
    super::control_plane::require_active(&state, "cost sweep").await?;
    Ok(Json(state.sweeper.sweep(state.clock.now()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// How far back, 1 to 168 hours (default 24).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 168)]
    pub hours: Option<String>,
    /// At most this many snapshots, newest first: 1 to 200 (default 200). A dashboard that only
    /// needs the latest sweep asks for 1.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CostReportResponse {
    /// Stored sweeps, newest first.
    pub snapshots: Vec<CostReport>,
    /// More snapshots than those answered fall in the period: past the `limit` (at most 200), or
    /// past what one answer may carry (4 MB of JSON, inside Lambda's 6 MB response limit): ask
    /// for fewer `hours` or a smaller `limit`.
    pub truncated: bool,
    /// Cost-control changes in the period, newest first, with their reasons.
    pub actions: Vec<RecordedAction>,
    /// Each priced hour of the period, oldest first, the current one as far as swept.
    pub hourly: Vec<PricedHour>,
    /// The $/h each level starts at.
    pub thresholds: Thresholds,
    /// The cost controls in force (written by the last sweep).
    pub controls: CostControl,
    /// The last sweep is more than three sweep periods old (`controls.fresh_until` has passed):
    /// the cost sweeper has stopped, spend counts as unknown (the cost gate refuses low and
    /// medium scale-ups, model selection optimises, emergency mode is not trusted).
    pub controls_stale: bool,
    pub hours: u32,
    pub timestamp: DateTime<Utc>,
}

/// Stored sweep snapshots and control changes of the last hours.
#[utoipa::path(get, path = "/cost/report", tag = "cost", params(ReportParams),
    responses(
        (status = 200, body = CostReportResponse),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(state): State<AppState>,
    params: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CostReportResponse>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let hours = whole_in(params.hours.as_deref(), "hours", 24, 168)?;
    let limit = whole_in(params.limit.as_deref(), "limit", MAX_SNAPSHOTS, MAX_SNAPSHOTS)?;
    let now = state.clock.now();
    let (snapshots, mut truncated) = state.sweeper.snapshots(hours, limit as usize, now).await?;
    let actions = state.sweeper.recorded_actions(hours, now).await?;
    let hourly = state.sweeper.hourly(hours, now).await?;
    let thresholds = *state.sweeper.thresholds();
    let controls = state.fleet.cost_control().await?;
    let controls_stale = controls.is_stale(now);
    // The rest of the answer first (a few KB beside the lists), then the newest snapshots that fit.
    let mut budget =
        MAX_REPORT_BYTES.saturating_sub(json_len(&actions) + json_len(&hourly) + json_len(&controls) + 4096);
    let mut kept = Vec::with_capacity(snapshots.len());
    for snapshot in snapshots {
        let size = json_len(&snapshot) + 1;
        if size > budget {
            truncated = true;
            break;
        }
        budget -= size;
        kept.push(snapshot);
    }
    let snapshots = kept;
    Ok(Json(CostReportResponse {
        snapshots,
        truncated,
        actions,
        hourly,
        thresholds,
        controls,
        controls_stale,
        hours,
        timestamp: now,
    }))
}

/// Bytes of `value` as JSON.
fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// A query parameter that must be a whole number from 1 to `max` (`default` when absent).
pub(crate) fn whole_in(
    value: Option<&str>,
    field: &str,
    default: u32,
    max: u32,
) -> Result<u32, ValidationError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ValidationError::new(field, format!("must be a whole number from 1 to {max}"))),
    }
}

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::warming::warmer::{TargetStatus, WarmRequest, WarmRun};
use utoipa::ToSchema;

use crate::extract::OptionalBody;
use crate::{ApiError, AppState};

/// Which functions to warm: `{functions?, regions?, concurrency?}` or a bare list of names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WarmBody {
    Names(Vec<String>),
    Request(WarmRequest),
}

impl Default for WarmBody {
    fn default() -> Self {
        Self::Request(WarmRequest::default())
    }
}

/// Warms the configured targets now (all, or those named), whatever the time of day. Unknown
/// functions are reported in `results`, not refused.
#[utoipa::path(post, path = "/lambda/warm", tag = "warming",
    request_body(content = Option<WarmBody>, description = "Optional; an empty body warms every configured target"),
    responses(
        (status = 200, body = WarmRun),
        (status = 409, description = "This region's control plane stands by (a stack in two regions)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::Problem, content_type = "application/problem+json",
            description = "a bad name, or more pings than one call may send"),
        (status = 429, body = crate::Problem, content_type = "application/problem+json",
            description = "the minute's on-demand warming budget is spent",
            headers(("Retry-After" = u32, description = "Seconds until the next minute"))),
    ))]
pub async fn warm(
    State(state): State<AppState>,
    OptionalBody(body): OptionalBody<WarmBody>,
) -> Result<Json<WarmRun>, ApiError> {
    let request = match body {
        WarmBody::Names(functions) => WarmRequest { functions: Some(functions), ..WarmRequest::default() },
        WarmBody::Request(r) => r,
    };
    super::control_plane::require_active(&state, "warming").await?;
    let run = state.warmer.on_demand(&request, state.clock.now()).await?;
    Ok(Json(run))
}

/// Every warming target's last run.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarmingStatus {
    pub targets: Vec<TargetStatus>,
    pub timestamp: DateTime<Utc>,
}

/// Each configured target (function and region): its last run (when, pings, containers, cold
/// starts, errors), its region's zone and whether the region is in its warming window now.
#[utoipa::path(get, path = "/warming/status", tag = "warming",
    responses(
        (status = 200, body = WarmingStatus),
    ))]
pub async fn status(State(state): State<AppState>) -> Result<Json<WarmingStatus>, ApiError> {
    let now = state.clock.now();
    let targets = state.warmer.status(now).await?;
    Ok(Json(WarmingStatus { targets, timestamp: now }))
}

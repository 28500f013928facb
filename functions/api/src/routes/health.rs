use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApiError, AppState};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the state store answered.
    pub status: &'static str,
    pub store: &'static str,
    pub timestamp: DateTime<Utc>,
}

/// Whether the API can reach its state store (one strongly consistent GetItem).
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The store answered", body = Health),
        (status = 503, description = "The store is unreachable", body = crate::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    // Any failure to read means the store cannot serve us, whatever its kind.
    state.store.get(&shared::table::health_probe()).await.map_err(|e| {
        tracing::warn!(error = %e, "health probe failed");
        ApiError::Unavailable
    })?;
    Ok(Json(Health { status: "ok", store: "reachable", timestamp: state.clock.now() }))
}

use axum::Json;
use axum::extract::State;
use shared::cost::models::{CostMode, ModelRequest, NoModel, select as choose};
use shared::error::ValidationError;
use shared::wire::{ModelReportResponse, ReportRequest, SelectModelRequest, SelectModelResponse};

use crate::extract::Body;
use crate::{ApiError, AppState};

/// Chooses the model for one call.
#[utoipa::path(post, path = "/models/select", tag = "cost",
    request_body = SelectModelRequest,
    responses(
        (status = 200, body = SelectModelResponse),
        (status = 422, description = "No model meets the accuracy and cost limits", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every model that qualifies is cooling down, or the store is down", body = crate::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds until a model is ready"))),
    ))]
pub async fn select(
    State(state): State<AppState>,
    Body(r): Body<SelectModelRequest>,
) -> Result<Json<SelectModelResponse>, ApiError> {
    let request = ModelRequest {
        task_type: r.task_type,
        severity: r.severity,
        required_accuracy: r.required_accuracy,
        max_cost_per_1k: r.max_cost_per_1k,
        expected_input_tokens: r.expected_input_tokens,
        expected_output_tokens: r.expected_output_tokens,
    };
    request.validate()?;
    let now = state.clock.now();
    let (prices, _) = state.prices.current().await?;
    let control = state.fleet.cost_control().await?;
    let health = state.model_health.all().await?;
    let mode = CostMode::from_control(&control, state.clock.now());
    let cooling = |id: &str| health.get(id).map_or(0, |h| h.cooling_s(now));
    match choose(&prices, &request, mode, cooling) {
        Ok(choice) => Ok(Json(SelectModelResponse { choice, mode, timestamp: now })),
        Err(e @ NoModel::Unsatisfiable { cap, .. }) => {
            let field = if cap.is_some() { "max_cost_per_1k" } else { "required_accuracy" };
            Err(ValidationError::new(field, e.to_string()).into())
        }
        Err(e @ NoModel::CoolingDown { retry_after_s }) => Err(ApiError::Retry(e.to_string(), retry_after_s)),
    }
}

/// Reports a call's outcome: three failures in a row cool the model down (5 s, then longer).
#[utoipa::path(post, path = "/models/report", tag = "cost",
    request_body = ReportRequest,
    responses(
        (status = 200, body = ModelReportResponse),
        (status = 422, body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(state): State<AppState>,
    Body(r): Body<ReportRequest>,
) -> Result<Json<ModelReportResponse>, ApiError> {
    let (prices, _) = state.prices.current().await?;
    if prices.model(&r.model).is_none() {
        return Err(ValidationError::new("model", format!("{:?} is not in the price table", r.model)).into());
    }
    let now = state.clock.now();
    let health = state.model_health.report(&r.model, r.ok, now).await?;
    Ok(Json(ModelReportResponse { cooling_s: health.cooling_s(now), model: r.model, health, timestamp: now }))
}

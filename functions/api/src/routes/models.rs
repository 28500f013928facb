use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::cost::TaskType;
use shared::cost::model_health::ModelHealth;
use shared::cost::models::{CostMode, ModelChoice, ModelRequest, NoModel, select as choose};
use shared::domain::Severity;
use shared::error::ValidationError;
use utoipa::ToSchema;

use crate::extract::Body;
use crate::{ApiError, AppState};

/// What a call needs from a model.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectModelRequest {
    #[schema(value_type = String)]
    pub task_type: TaskType,
    pub severity: Severity,
    /// Default 0.85; critical and high never go below 0.92, low never below 0.80.
    #[schema(minimum = 0, maximum = 1)]
    pub required_accuracy: Option<f64>,
    /// Most USD per 1,000 tokens (input and output together).
    #[schema(exclusive_minimum = 0)]
    pub max_cost_per_1k: Option<f64>,
    #[schema(maximum = 10_000_000)]
    pub expected_input_tokens: Option<u64>,
    #[schema(maximum = 10_000_000)]
    pub expected_output_tokens: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SelectModelResponse {
    #[serde(flatten)]
    pub choice: ModelChoice,
    /// The cost controls' mode the choice was made in.
    pub mode: CostMode,
    pub timestamp: DateTime<Utc>,
}

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

/// How a call on a model went.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub model: String,
    pub ok: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelReportResponse {
    pub model: String,
    pub health: ModelHealth,
    /// Seconds it stays out of selection (0: available).
    pub cooling_s: u64,
    pub timestamp: DateTime<Utc>,
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

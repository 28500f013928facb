//! `GET /performance/metrics` and `GET /performance/recommendations`: the fleet's pools,
//! caches, memory and query times (every container's reports merged, this one's live), beside
//! the scaling and cost figures they are read with.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::cost::levels::Level;
use shared::cost::recommend::{Kind, Recommendation};
use shared::cost::report::CostReport;
use shared::performance::advice::{self, Advice};
use shared::performance::report::PerformanceView;
use utoipa::ToSchema;

use super::scaling::{RegionReplicas, ScalingMetrics};
use crate::{ApiError, AppState};

/// Scaling as `/scaling/status` shows it, without the per-replica lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScalingSummary {
    pub scaling_metrics: BTreeMap<String, ScalingMetrics>,
    pub replica_distribution: BTreeMap<String, BTreeMap<String, RegionReplicas>>,
    pub geographic_distribution: BTreeMap<String, usize>,
}

/// The last cost sweep's figures; absent before the first sweep.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostSummary {
    pub swept_at: DateTime<Utc>,
    pub hourly_cost: f64,
    pub daily_projection: f64,
    pub cost_threshold: Level,
    pub emergency_mode: bool,
    pub cost_by_service: BTreeMap<String, f64>,
    /// Monthly USD the cost recommendations would save together.
    pub potential_savings: f64,
    pub applied_optimizations: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PerformanceMetrics {
    pub performance_optimization: PerformanceView,
    pub scaling: ScalingSummary,
    pub cost_optimization: Option<CostSummary>,
    pub timestamp: DateTime<Utc>,
}

/// A cost recommendation in the same shape as the performance ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostAdvice {
    pub kind: Kind,
    pub target: String,
    pub evidence: String,
    pub suggestion: String,
    pub estimated_impact: String,
    pub estimated_monthly_savings: f64,
    /// The sweep applies it itself when spend is high.
    pub auto_applicable: bool,
}

impl From<Recommendation> for CostAdvice {
    fn from(r: Recommendation) -> Self {
        Self {
            kind: r.kind,
            target: r.target,
            evidence: r.evidence,
            estimated_impact: format!("saves about ${:.2} a month", r.estimated_monthly_savings),
            suggestion: r.title,
            estimated_monthly_savings: r.estimated_monthly_savings,
            auto_applicable: r.auto_applicable,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationSummary {
    pub total_recommendations: usize,
    pub performance_issues: usize,
    pub cost_optimization_opportunities: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationsResponse {
    pub performance_recommendations: Vec<Advice>,
    /// From the last cost sweep (`cost_swept_at`).
    pub cost_recommendations: Vec<CostAdvice>,
    pub cost_swept_at: Option<DateTime<Utc>>,
    pub summary: RecommendationSummary,
    pub timestamp: DateTime<Utc>,
}

async fn last_sweep(state: &AppState) -> Result<Option<CostReport>, ApiError> {
    let (mut reports, _) = state.sweeper.snapshots(24, 1, state.clock.now()).await?;
    Ok(reports.pop())
}

/// Pools, cache hit rates, memory and query percentiles of every container in the last two
/// statistics windows, with scaling and the last cost sweep.
#[utoipa::path(get, path = "/performance/metrics", tag = "performance",
    responses(
        (status = 200, body = PerformanceMetrics),
    ))]
pub async fn metrics(State(state): State<AppState>) -> Result<Json<PerformanceMetrics>, ApiError> {
    let view = state.performance.fleet_view(state.table.as_ref()).await?;
    let status = super::scaling::scaling_status(&state).await?;
    let cost_optimization = last_sweep(&state).await?.map(|r| CostSummary {
        swept_at: r.timestamp,
        hourly_cost: r.current_metrics.hourly_cost,
        daily_projection: r.current_metrics.daily_projection,
        cost_threshold: r.current_metrics.cost_threshold,
        emergency_mode: r.emergency_mode,
        cost_by_service: r.cost_by_service,
        potential_savings: r.potential_savings,
        applied_optimizations: r.applied_optimizations,
    });
    Ok(Json(PerformanceMetrics {
        performance_optimization: view,
        scaling: ScalingSummary {
            scaling_metrics: status.scaling_metrics,
            replica_distribution: status.replica_distribution,
            geographic_distribution: status.geographic_distribution,
        },
        cost_optimization,
        timestamp: state.clock.now(),
    }))
}

/// What the performance figures and the last cost sweep say to change, each with its evidence.
#[utoipa::path(get, path = "/performance/recommendations", tag = "performance",
    responses(
        (status = 200, body = RecommendationsResponse),
    ))]
pub async fn recommendations(
    State(state): State<AppState>,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let view = state.performance.fleet_view(state.table.as_ref()).await?;
    let performance_recommendations = advice::recommend(&view);
    let sweep = last_sweep(&state).await?;
    let cost_swept_at = sweep.as_ref().map(|r| r.timestamp);
    let cost_recommendations: Vec<CostAdvice> =
        sweep.map(|r| r.recommendations.into_iter().map(CostAdvice::from).collect()).unwrap_or_default();
    Ok(Json(RecommendationsResponse {
        summary: RecommendationSummary {
            total_recommendations: performance_recommendations.len() + cost_recommendations.len(),
            performance_issues: performance_recommendations.len(),
            cost_optimization_opportunities: cost_recommendations.len(),
        },
        performance_recommendations,
        cost_recommendations,
        cost_swept_at,
        timestamp: state.clock.now(),
    }))
}

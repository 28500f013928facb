//! `POST /scaling/replay`: a what-if replay of one type's recorded day under a proposed policy,
//! beside the policy in force, inside the request (`shared::simulation::what_if`).
//!
//! It runs on this container's CPU, so it is bounded three ways: the hours asked for (the whole
//! day, or `from_hour` and `hours`) may rebuild into at most [`MAX_INCIDENTS`] incidents, both
//! runs together get [`TIME_BUDGET`] (well inside the request's deadline), and a process runs one
//! replay at a time. Hours past either bound are refused with a 422 naming `day`, which asks for
//! fewer hours; `commander simulate replay --table` runs any day without a budget.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::AgentType;
use shared::error::ValidationError;
use shared::scaling::ScalingPolicy;
use shared::scaling::recorded::RETENTION;
use shared::simulation::recorded_day::Window;
use shared::simulation::what_if::{self, Budget, RunSummary, WhatIfError};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::extract::Body;
use crate::{ApiError, AppState};

/// Incidents a replayed day may hold here: a normal day of one type is a few tens of thousands.
pub const MAX_INCIDENTS: usize = 100_000;
/// Wall-clock time both runs may take together: inside the request's 10 s deadline, with room to
/// read the day and answer.
pub const TIME_BUDGET: Duration = Duration::from_secs(6);

/// One replay at a time in a process: a second caller is told to retry rather than halving both.
static RUNNING: Semaphore = Semaphore::const_new(1);

/// Which type's day to replay and under which policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[schema(value_type = String, pattern = "^[a-z0-9-]{1,64}$")]
    pub agent_type: AgentType,
    /// The recorded day (UTC), within the records' 35-day retention and not after today.
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    /// The proposed policy, every field as `GET /scaling/policies/{agent_type}` shows it (without
    /// `agent_type` and `version`).
    pub policy: ScalingPolicy,
    /// The first hour (UTC, 0-23) to replay; 0 when left out.
    #[schema(maximum = 23)]
    pub from_hour: Option<u32>,
    /// How many hours to replay (1-24, not past the day's end); the rest of the day when left
    /// out. A few hours fit the time budget where a whole busy day may not.
    #[schema(minimum = 1, maximum = 24)]
    pub hours: Option<u32>,
    /// Seed of the service-time spread the incidents are rebuilt with (default 1).
    pub seed: Option<u64>,
}

/// What the budget allowed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayBudget {
    pub max_incidents: usize,
    pub seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    #[schema(value_type = String)]
    pub agent_type: AgentType,
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    /// Incidents rebuilt from the day's records: served counts per minute and severity, each
    /// hour's service time by Little's law, dealt over the fleet's regions.
    pub incidents: usize,
    /// Recorded hours before the window that went with it (the same weekday up to four weeks
    /// back, the hours just before): what the policies' predictive scale-out forecasts from.
    pub history_hours: usize,
    /// The first hour replayed (UTC).
    pub from_hour: u32,
    /// The hours replayed.
    pub hours: u32,
    pub seed: u64,
    /// The policy in force, then the proposed one, on the same incidents.
    pub runs: Vec<RunSummary>,
    pub current_policy: ScalingPolicy,
    pub proposed_policy: ScalingPolicy,
    pub budget: ReplayBudget,
    /// How long both runs took.
    pub elapsed_ms: u64,
    pub timestamp: DateTime<Utc>,
}

/// The day must be one the records may still hold.
fn check_day(day: NaiveDate, now: DateTime<Utc>) -> Result<(), ValidationError> {
    let today = now.date_naive();
    let oldest = (now - RETENTION).date_naive();
    if day > today {
        return Err(ValidationError::new("day", format!("{day} is after today ({today})")));
    }
    if day < oldest {
        return Err(ValidationError::new(
            "day",
            format!("{day} is older than the records' {}-day retention", RETENTION.num_days()),
        ));
    }
    Ok(())
}

fn problem(error: WhatIfError) -> ApiError {
    match error {
        WhatIfError::Invalid(e) => ApiError::Unprocessable(e),
        WhatIfError::Store(e) => e.into(),
        WhatIfError::TooManyIncidents { incidents, max } => ApiError::Unprocessable(ValidationError::new(
            "day",
            format!(
                "the hours asked for rebuild into {incidents} incidents, more than the {max} a replay here may run; ask for fewer hours, or run `commander simulate replay --table` for it"
            ),
        )),
        WhatIfError::OutOfTime { .. } => ApiError::Unprocessable(ValidationError::new(
            "day",
            format!(
                "the replay needs more than the {} s a replay here may take; ask for fewer hours, or run `commander simulate replay --table` for it",
                TIME_BUDGET.as_secs()
            ),
        )),
        e @ WhatIfError::Failed { .. } => ApiError::Internal(e.to_string()),
    }
}

/// Replays one type's recorded day under the policy in force and under a proposed one, side by
/// side: completions, waits, replica-hours, cost and scaling actions. Changes nothing.
#[utoipa::path(post, path = "/scaling/replay", tag = "scaling",
    request_body = ReplayRequest,
    responses(
        (status = 200, body = ReplayResponse),
        (status = 404, description = "No such agent type, or no recorded hours of it that day", body = crate::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad policy or day, or a day past the replay's budget (names the field)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Another replay is running in this container", body = crate::Problem, content_type = "application/problem+json"),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Body(request): Body<ReplayRequest>,
) -> Result<Json<ReplayResponse>, ApiError> {
    let now = state.clock.now();
    check_day(request.day, now)?;
    let window = Window::of(request.from_hour.unwrap_or(0), request.hours);
    window.validate()?;
    what_if::check_proposed(&request.policy)?;
    let Ok(permit) = RUNNING.try_acquire() else {
        return Err(ApiError::TooManyRequests("another replay is running here; retry".into(), 2));
    };
    let export = what_if::export_day(
        std::sync::Arc::clone(&state.store),
        state.config.regions.clone(),
        request.day,
        Some(&request.agent_type),
        now,
    )
    .await
    .map_err(|e| match e {
        WhatIfError::Invalid(e) if e.field == "agent_type" => ApiError::NotFound(e.message),
        e => problem(e),
    })?;
    if !export.types.contains_key(&request.agent_type) {
        return Err(ApiError::NotFound(format!(
            "{} has no recorded hours on {}",
            request.agent_type, request.day
        )));
    }
    let seed = request.seed.unwrap_or(1);
    let started = Instant::now();
    let budget = Budget { max_incidents: MAX_INCIDENTS, deadline: Some(started + TIME_BUDGET) };
    // The runs are CPU work without a pause: on a blocking thread, so the runtime keeps serving
    // (and the request's deadline keeps its hold) while they run.
    let handle = tokio::runtime::Handle::current();
    let (agent_type, policy) = (request.agent_type.clone(), request.policy.clone());
    let ran = tokio::task::spawn_blocking(move || {
        let ran = handle.block_on(what_if::replay(&export, &agent_type, &policy, seed, window, budget));
        drop(permit);
        ran
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the replay stopped: {e}")))?
    .map_err(problem)?;
    Ok(Json(ReplayResponse {
        incidents: ran.incidents,
        history_hours: ran.history_hours,
        from_hour: ran.window.from_hour,
        hours: ran.window.hours,
        seed,
        runs: ran.summaries(),
        agent_type: ran.agent_type,
        day: ran.day,
        current_policy: ran.current,
        proposed_policy: ran.proposed,
        budget: ReplayBudget { max_incidents: MAX_INCIDENTS, seconds: TIME_BUDGET.as_secs() },
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        timestamp: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_must_be_one_the_records_may_hold() {
        let now = DateTime::parse_from_rfc3339("2027-02-20T10:00:00Z").unwrap().with_timezone(&Utc);
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for (d, ok) in [
            ("2027-02-20", true),
            ("2027-02-19", true),
            ("2027-01-16", true),
            ("2027-01-15", false),
            ("2027-02-21", false),
        ] {
            let checked = check_day(day(d), now);
            assert_eq!(checked.is_ok(), ok, "{d}: {checked:?}");
            if let Err(e) = checked {
                assert_eq!(e.field, "day");
            }
        }
    }
}

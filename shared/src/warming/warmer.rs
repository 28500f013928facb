//! The warmer: plans, pings, records what each target answered and what warming cost.
//!
//! Items: `WARM#<function>#<region>` / `STATE` (last warmed, containers, cold starts, errors; kept
//! 30 days) and the hour's warming spend at `COST#WARMING` / `<YYYY-MM-DDTHH>` (an atomic add the
//! cost sweep reads).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::budget::{self, BudgetError, MAX_PINGS_PER_CALL};
use super::config::{MAX_CONCURRENCY, WarmConfig};
use super::fanout::{Invoker, TargetResult, warm_target};
use super::history::{HISTORY_WEEKS, HistorySource, last_real_invocation, peaks_by_hour_of_week};
use super::plan::{MIN_FACTOR, PlanEntry, TargetHistory, WarmTarget, calendar_for, plan};
use crate::cost::price_book::PriceBook;
use crate::cost::usage::hour_of;
use crate::error::ValidationError;
use crate::performance::cache::{Caches, DistributedCache};
use crate::store::{Condition, Item, Key, Store, StoreError, Update};

/// Why nothing can be warmed without an invoker.
pub const UNREACHABLE: &str = "no target is reachable: no Lambda API is configured here (set COMMANDER_LAMBDA_ENDPOINT, e.g. to `cargo lambda watch`)";

fn state_key(t: &WarmTarget) -> Key {
    crate::table::warm_state(&t.function, t.region.as_str())
}

/// A target's stored state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarmState {
    pub last_warmed: Option<DateTime<Utc>>,
    /// Pings sent in that run (they count as invocations in CloudWatch).
    #[serde(default)]
    pub pings: u32,
    pub containers: u32,
    pub cold: u32,
    pub errors: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A target as `GET /warming/status` shows it: its last run and where its region's day stands,
/// so an operator can tell "not warmed because it is night there" from "warming fails".
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TargetStatus {
    pub function: String,
    pub region: String,
    /// The IANA zone of the region's warming calendar.
    pub timezone: String,
    /// Whether now falls in the region's warming window (business hours and the lead before).
    pub in_window: bool,
    /// Containers kept warm when there is no traffic history.
    pub concurrency: u32,
    /// The last run that reached this target; null before the first.
    pub last_run: Option<WarmState>,
}

/// Results per function, then per region.
pub type Results = BTreeMap<String, BTreeMap<String, TargetResult>>;

/// What one warming run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarmRun {
    pub warming_triggered: bool,
    pub functions_warmed: Vec<String>,
    #[schema(value_type = Object)]
    pub results: Results,
    /// Targets that answered every ping.
    pub successful_warmings: u32,
    pub failed_warmings: u32,
    /// USD this run cost.
    pub estimated_cost: f64,
    /// Set when nothing could be invoked at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// What the run did but could not record because the store failed (targets' warming state,
    /// the run's cost): a partial failure. Every target was still pinged and is reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecorded: Vec<String>,
    /// The plan (scheduled runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanEntry>,
    pub timestamp: DateTime<Utc>,
}

/// Names one on-demand call may list (functions, and regions).
pub const MAX_NAMES: usize = 64;
/// A function's name is at most 64 characters in Lambda (140 as an ARN).
pub const MAX_NAME_BYTES: usize = 140;

/// `POST /lambda/warm`'s choice of targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmRequest {
    /// Function names (each 1 to 140 bytes); left out, every configured target.
    #[schema(max_items = 64)]
    pub functions: Option<Vec<String>>,
    #[schema(max_items = 64)]
    pub regions: Option<Vec<String>>,
    /// Pings per target; at most 200 over all targets of the call.
    #[schema(minimum = 1, maximum = 100)]
    pub concurrency: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum WarmError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The minute's on-demand budget cannot take the call's pings: retry after this many seconds.
    #[error("{detail}")]
    Busy { detail: String, retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BudgetError> for WarmError {
    fn from(e: BudgetError) -> Self {
        match e {
            BudgetError::Exhausted { retry_after_s, .. } => {
                Self::Busy { detail: e.to_string(), retry_after_s }
            }
            BudgetError::Store(s) => Self::Store(s),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Warmer {
    store: Arc<dyn Store>,
    invoker: Option<Arc<dyn Invoker>>,
    config: Arc<WarmConfig>,
    prices: PriceBook,
    history: Option<Arc<dyn HistorySource>>,
    /// Hour-of-week peaks per target, shared by every container through the table for a day.
    profiles: DistributedCache,
}

/// A target's hour-of-week peaks as last computed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredProfile {
    peaks: Option<Vec<u32>>,
    computed_at: DateTime<Utc>,
}

/// The shared cache of traffic profiles: refreshed daily from CloudWatch.
const PROFILES: &str = "warm_profiles";
const PROFILE_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

fn profile_key(t: &WarmTarget) -> String {
    format!("{}#{}", t.function, t.region)
}

impl Warmer {
    pub fn new(
        store: Arc<dyn Store>,
        config: WarmConfig,
        prices: PriceBook,
        invoker: Option<Arc<dyn Invoker>>,
    ) -> Self {
        let profiles = DistributedCache::new(PROFILES, PROFILE_TTL, Arc::clone(&store), &Caches::new());
        Self { store, invoker, config: Arc::new(config), prices, history: None, profiles }
    }

    /// Counts the profile cache's hits and misses in `caches` (the container's registry).
    #[must_use]
    pub fn with_caches(mut self, caches: &Caches) -> Self {
        self.profiles = DistributedCache::new(PROFILES, PROFILE_TTL, Arc::clone(&self.store), caches);
        self
    }

    /// Plans from observed traffic (peak concurrency per hour of the week, recent real calls).
    #[must_use]
    pub fn with_history(mut self, source: Arc<dyn HistorySource>) -> Self {
        self.history = Some(source);
        self
    }

    pub fn config(&self) -> &WarmConfig {
        &self.config
    }

    /// `t`'s stored state, if it was ever warmed.
    async fn last_run(&self, t: &WarmTarget) -> Result<Option<WarmState>, StoreError> {
        self.store.get(&state_key(t)).await?.map(|i| i.record()).transpose()
    }

    async fn history(&self, t: &WarmTarget, now: DateTime<Utc>) -> Result<TargetHistory, StoreError> {
        let state = self.last_run(t).await?;
        let mut history = TargetHistory {
            last_warmed: state.as_ref().and_then(|s| s.last_warmed),
            ..TargetHistory::default()
        };
        let Some(source) = &self.history else { return Ok(history) };
        let calendar = calendar_for(&self.config.calendars, t.region.as_str());
        // Outside its window a target is not warmed whatever its history: spare the reads.
        if calendar.factor(now).0 < MIN_FACTOR {
            return Ok(history);
        }
        let key = profile_key(t);
        let cached: Option<StoredProfile> = self.profiles.get(&key).await?;
        history.peak_by_hour_of_week = match cached {
            Some(p) => p.peaks,
            None => match source.hourly_peaks(t, now - Duration::weeks(HISTORY_WEEKS), now).await {
                Ok(points) => {
                    let peaks = peaks_by_hour_of_week(&points, calendar.timezone);
                    self.profiles
                        .put(&key, &StoredProfile { peaks: peaks.clone(), computed_at: now }, now)
                        .await?;
                    peaks
                }
                Err(e) => {
                    tracing::warn!(function = %t.function, region = %t.region, error = %e, "no concurrency history");
                    None
                }
            },
        };
        let window = Duration::seconds(i64::from(t.idle_window_s));
        match source.invocations(t, now - window, now).await {
            Ok(points) => {
                let ours = state
                    .filter(|s| s.last_warmed.is_some_and(|at| now - at < window))
                    .map_or(0, |s| s.pings);
                history.last_real_invocation = last_real_invocation(&points, ours);
            }
            Err(e) => {
                tracing::warn!(function = %t.function, region = %t.region, error = %e, "no recent invocations");
            }
        }
        Ok(history)
    }

    /// Every configured target's last run, in configuration order.
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Vec<TargetStatus>, StoreError> {
        let targets = self.config.targets();
        let states = futures::future::try_join_all(targets.iter().map(|t| self.last_run(t))).await?;
        Ok(targets
            .into_iter()
            .zip(states)
            .map(|(t, last_run)| {
                let calendar = calendar_for(&self.config.calendars, t.region.as_str());
                TargetStatus {
                    timezone: calendar.timezone.name().to_owned(),
                    in_window: calendar.factor(now).0 > 0.0,
                    concurrency: t.concurrency,
                    region: t.region.to_string(),
                    function: t.function,
                    last_run,
                }
            })
            .collect())
    }

    /// The scheduled run: the plan at `now`, carried out.
    pub async fn scheduled(&self, now: DateTime<Utc>) -> Result<WarmRun, StoreError> {
        let targets = self.config.targets();
        let mut histories = Vec::with_capacity(targets.len());
        for t in &targets {
            histories.push(self.history(t, now).await?);
        }
        let entries = plan(
            &targets,
            &self.config.calendars,
            |t| {
                targets
                    .iter()
                    .position(|x| x == t)
                    .and_then(|i| histories.get(i).cloned())
                    .unwrap_or_default()
            },
            now,
        );
        let chosen: Vec<(WarmTarget, u32)> = targets
            .iter()
            .zip(&entries)
            .filter(|(_, e)| e.concurrency > 0)
            .map(|(t, e)| (t.clone(), e.concurrency))
            .collect();
        let mut run = self.warm(chosen, Results::new(), now).await?;
        run.plan = entries;
        Ok(run)
    }

    /// Warms now what `request` names, whatever the time (unknown functions are reported, not
    /// refused).
    pub async fn on_demand(&self, request: &WarmRequest, now: DateTime<Utc>) -> Result<WarmRun, WarmError> {
        if let Some(c) = request.concurrency
            && !(1..=MAX_CONCURRENCY).contains(&c)
        {
            return Err(ValidationError::new("concurrency", format!("must be 1 to {MAX_CONCURRENCY}")).into());
        }
        for (field, list) in [("functions", &request.functions), ("regions", &request.regions)] {
            let list = list.as_deref().unwrap_or_default();
            if list.len() > MAX_NAMES {
                return Err(ValidationError::new(field, format!("names at most {MAX_NAMES}")).into());
            }
            if let Some(long) = list.iter().find(|n| n.is_empty() || n.len() > MAX_NAME_BYTES) {
                return Err(ValidationError::new(
                    field,
                    format!("{long:?}: a name is 1 to {MAX_NAME_BYTES} bytes"),
                )
                .into());
            }
        }
        let targets = self.config.targets();
        let mut results = Results::new();
        for name in request.functions.iter().flatten() {
            if !targets.iter().any(|t| &t.function == name) {
                let unknown = TargetResult {
                    error: Some(format!("{name} is not a configured warming target")),
                    ..TargetResult::default()
                };
                results.insert(name.clone(), BTreeMap::from([("*".to_owned(), unknown)]));
            }
        }
        let chosen: Vec<(WarmTarget, u32)> = targets
            .into_iter()
            .filter(|t| request.functions.as_ref().is_none_or(|f| f.contains(&t.function)))
            .filter(|t| request.regions.as_ref().is_none_or(|r| r.iter().any(|r| r == t.region.as_str())))
            .map(|t| {
                let n = request.concurrency.unwrap_or(t.concurrency);
                (t, n)
            })
            .collect();
        let pings = chosen.iter().fold(0u32, |sum, (_, n)| sum.saturating_add(*n));
        if pings > MAX_PINGS_PER_CALL {
            let field = if request.concurrency.is_some() { "concurrency" } else { "functions" };
            return Err(ValidationError::new(
                field,
                format!(
                    "this call would send {pings} pings to {} targets; a call sends at most {MAX_PINGS_PER_CALL} (name fewer functions or regions, or lower the concurrency)",
                    chosen.len()
                ),
            )
            .into());
        }
        if self.invoker.is_some() && pings > 0 {
            budget::reserve(self.store.as_ref(), pings, now).await?;
        }
        Ok(self.warm(chosen, results, now).await?)
    }

    async fn warm(
        &self,
        chosen: Vec<(WarmTarget, u32)>,
        mut results: Results,
        now: DateTime<Utc>,
    ) -> Result<WarmRun, StoreError> {
        let Some(invoker) = &self.invoker else {
            return Ok(WarmRun {
                warming_triggered: false,
                functions_warmed: Vec::new(),
                results,
                successful_warmings: 0,
                failed_warmings: 0,
                estimated_cost: 0.0,
                unreachable: Some(UNREACHABLE.into()),
                unrecorded: Vec::new(),
                plan: Vec::new(),
                timestamp: now,
            });
        };
        let (prices, _) = self.prices.current().await?;
        let hold = self.config.hold_ms;
        let runs = chosen.iter().map(|(t, n)| warm_target(invoker.as_ref(), t, *n, hold, &prices));
        let outcomes = futures::future::join_all(runs).await;
        let mut cost = 0.0;
        let (mut ok, mut failed) = (0, 0);
        let mut warmed = Vec::new();
        let mut unrecorded = Vec::new();
        for ((target, _), result) in chosen.iter().zip(outcomes) {
            cost += result.cost;
            if result.ok {
                ok += 1;
                if !warmed.contains(&target.function) {
                    warmed.push(target.function.clone());
                }
            } else {
                failed += 1;
            }
            let state = WarmState {
                last_warmed: Some(now),
                pings: result.pings,
                containers: result.containers,
                cold: result.cold_starts,
                errors: result.errors,
                last_error: result.error.clone(),
            };
            let mut item = Item::from_record(state_key(target), &state)?;
            item.attrs.insert("ttl".into(), (now + Duration::days(30)).timestamp().into());
            // One target's state that cannot be stored does not stop the others being reported.
            if let Err(e) = self.store.put(item, Condition::Always).await {
                unrecorded.push(format!("warming state of {} in {}: {e}", target.function, target.region));
            }
            results.entry(target.function.clone()).or_default().insert(target.region.to_string(), result);
        }
        if cost > 0.0 {
            let hour = hour_of(now);
            let key = crate::table::warming_cost(hour);
            let update = Update::new()
                .add("cost", cost)
                .set("ttl", (hour + Duration::days(crate::cost::sweep::RETENTION_DAYS)).timestamp());
            if let Err(e) = self.store.update(&key, update).await {
                unrecorded.push(format!("the run's warming cost (${cost:.6}): {e}"));
            }
        }
        Ok(WarmRun {
            warming_triggered: !chosen.is_empty(),
            functions_warmed: warmed,
            results,
            successful_warmings: ok,
            failed_warmings: failed,
            estimated_cost: cost,
            unreachable: None,
            unrecorded,
            plan: Vec::new(),
            timestamp: now,
        })
    }
}

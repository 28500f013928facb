//! The scaling evaluation with its I/O: read the live signals and the recent demand, plan (pure),
//! write with a version condition (retrying when another evaluation won), keep the events,
//! actuate. One code path for every trigger: the periodic tick evaluates every agent type, an
//! alarm one type, an operator one or all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use super::actuator::Actuator;
use super::alarms::{AlarmChanges, AlarmSettings, AlarmSpec, Alarms, alarms_for, reconcile};
use super::cost_gate::{CostGate, Spend};
use super::demand::minute_name;
use super::forecast::hour_of;
use super::plan::{Evaluation, PlanInput, plan};
use super::prediction::{Fresh, predict, refresh_for};
use super::recorded::{DemandRecorder, Wanted, finished_hours, fresh_forecasts, hour_so_far};
use super::records::{AgentScalingState, MarkSource, RegionEvent, Trigger};
use super::region_health::{HealthChange, HealthSettings, RegionEvidence, assess, is_silent};
use super::regions::RegionView;
use super::signals::{
    AgentMetrics, LambdaAgents, LambdaFigures, Observed, Signal, lambda_replicas, within_running,
};
use super::state::{FleetState, VersionedPolicy};
use super::type_reads::{Reading, TypeReads, read_type, read_types};
use crate::domain::{AgentType, PerRegion, Proximity, Region, Severity};
use crate::error::AdapterError;
use crate::leadership::Fence;
use crate::store::StoreError;

/// Optimistic-locking rounds before an evaluation gives up (each round, one writer wins).
const ATTEMPTS: u32 = 40;

/// How many agent types a tick (or `POST /scaling/optimize`) reads and evaluates at once: a
/// type's reads and writes are a handful of store round trips in a row, so one type after another
/// over a thousand types would take minutes; this many at once keeps a tick well inside its
/// minute while leaving most of the container's AWS pool (50 in flight) to the rest. Each type's
/// writes are conditional on its own items, so types evaluated side by side cannot interfere.
const TYPES_AT_ONCE: usize = 16;
/// How long every scaling and failover event is kept.
pub const EVENT_TTL_DAYS: i64 = 30;
/// How far back Lambda agents' figures are read: CloudWatch publishes a minute's datapoint a
/// minute or two after it ends.
const LAMBDA_WINDOW: Duration = Duration::minutes(3);

/// The forecast the tick makes when the hour its floor needs is not forecast yet (once an hour);
/// other triggers, and a read that fails, use the ones already made.
async fn fresh_forecast(
    recorder: &DemandRecorder,
    agent_type: &AgentType,
    policy: &super::ScalingPolicy,
    previous: Option<&super::prediction::Prediction>,
    (ticking, made): (bool, Option<Fresh>),
    now: DateTime<Utc>,
) -> Option<Fresh> {
    let target = refresh_for(policy, previous, now).filter(|_| ticking)?;
    if made.is_some() {
        return made;
    }
    match recorder.fresh_forecast(agent_type, policy, target, now).await {
        Ok(fresh) => Some(fresh),
        Err(e) => {
            tracing::warn!(%agent_type, error = %e, "could not read the recorded demand: the last forecasts stand");
            None
        }
    }
}

/// The prediction an evaluation goes by: a fresh forecast when the tick reaches a new hour,
/// graded against the last hours' records and the hour in progress as the state noted it.
async fn prediction_of(
    recorder: &DemandRecorder,
    agent_type: &AgentType,
    policy: &super::ScalingPolicy,
    state: &AgentScalingState,
    mut records: Vec<super::recorded::HourRecord>,
    ticking: (bool, Option<Fresh>),
    now: DateTime<Utc>,
) -> super::prediction::Prediction {
    let fresh = fresh_forecast(recorder, agent_type, policy, state.prediction.as_ref(), ticking, now).await;
    records.extend(hour_so_far(&state.recording, state.forecasts(), now));
    predict(policy, state.prediction.as_ref(), fresh, &records, now)
}

/// Writes the hours the decision's state notes that are over (the tick of each hour's first
/// minute notes the last minute of the hour before, so that tick writes it), and lets the state
/// forget them once written. `forecasts` are the ones made of those hours. A failed write is
/// logged and tried again by the next tick (the state keeps an hour's minutes for an hour more).
async fn write_finished_hours(
    recorder: &DemandRecorder,
    agent_type: &AgentType,
    state: &mut AgentScalingState,
    forecasts: &[super::forecast::HourForecast],
    now: DateTime<Utc>,
) {
    let finished = finished_hours(&state.recording, forecasts, now);
    if finished.is_empty() {
        return;
    }
    match recorder.put_hours(agent_type, &finished).await {
        Ok(()) => {
            let from = minute_name(hour_of(now));
            state.recording.retain(|minute, _| minute.as_str() >= from.as_str());
        }
        Err(e) => {
            tracing::warn!(%agent_type, error = %e, "could not write the recorded hour: the next tick tries again");
        }
    }
}

/// Whether an evaluation acts on its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Store the decision and apply it.
    Apply,
    /// Answer what the decision would be; store and apply nothing.
    DryRun,
}

/// One request to evaluate an agent type.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRequest {
    pub agent_type: AgentType,
    pub trigger: Trigger,
    /// An alarm's `Severity` dimension or an operator's choice; otherwise the recorded demand's.
    pub severity: Option<Severity>,
    pub effect: Effect,
    /// The alarm's state-change time, when an alarm asked: older or repeated alarms change nothing.
    pub alarm_at: Option<DateTime<Utc>>,
}

impl ScalingRequest {
    pub fn tick(agent_type: AgentType) -> Self {
        Self { agent_type, trigger: Trigger::Tick, severity: None, effect: Effect::Apply, alarm_at: None }
    }

    pub fn alarm(agent_type: AgentType, at: DateTime<Utc>, severity: Option<Severity>) -> Self {
        Self { agent_type, trigger: Trigger::Alarm, severity, effect: Effect::Apply, alarm_at: Some(at) }
    }

    pub fn operator(agent_type: AgentType, severity: Option<Severity>, effect: Effect) -> Self {
        Self { agent_type, trigger: Trigger::Operator, severity, effect, alarm_at: None }
    }
}

#[derive(Debug, Error)]
pub enum ScalingError {
    #[error("agent type {0} has no scaling policy")]
    UnknownAgentType(AgentType),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Actuator(#[from] AdapterError),
    #[error("gave up after {ATTEMPTS} conflicting concurrent evaluations")]
    Contention,
    /// This region's control plane was deposed: a region holding a later lease epoch stored the
    /// type's decision. Nothing is stored or applied; retrying would not help.
    #[error(
        "{agent_type}'s decision was stored under control-plane epoch {stored}; this region acts under {mine} and was deposed"
    )]
    Deposed { agent_type: AgentType, stored: u64, mine: u64 },
}

impl ScalingError {
    /// Whether the event that asked should be retried by Lambda.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::UnknownAgentType(_) | Self::Deposed { .. } => false,
            Self::Store(e) => e.is_retryable(),
            Self::Actuator(e) => e.is_retryable(),
            Self::Contention => true,
        }
    }
}

/// Lambda agents and the port that reads their figures.
#[derive(Debug, Clone)]
pub struct LambdaSource {
    pub agents: LambdaAgents,
    pub metrics: Arc<dyn AgentMetrics>,
}

/// Where live signals come from.
#[derive(Debug, Clone)]
pub struct SignalSources {
    /// What a policy that names no signal uses (`cloudwatch` when the actuator provisions
    /// concurrency, else `heartbeats`).
    pub default: Signal,
    /// Present where CloudWatch can be read (Lambda); without it `cloudwatch` types hold.
    pub lambda: Option<LambdaSource>,
}

impl Default for SignalSources {
    fn default() -> Self {
        Self { default: Signal::Heartbeats, lambda: None }
    }
}

/// The managed alarms and the port they are kept in.
#[derive(Debug, Clone)]
pub struct AlarmSync {
    pub settings: AlarmSettings,
    pub cloudwatch: Arc<dyn Alarms>,
}

/// What one reconciliation of the managed alarms changed, and what failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct AlarmOutcome {
    pub changes: AlarmChanges,
    /// The first failure, if any (the next tick tries again).
    pub error: Option<String>,
}

/// A type the tick could not evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TickFailure {
    #[schema(value_type = String)]
    pub agent_type: AgentType,
    pub error: String,
    pub retryable: bool,
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TickReport {
    pub evaluations: Vec<Evaluation>,
    pub failures: Vec<TickFailure>,
    /// Regions the scaler marked or cleared itself.
    pub region_changes: Vec<RegionEvent>,
    /// The managed alarms' reconciliation (absent where the stack manages none, as locally).
    pub alarms: Option<AlarmOutcome>,
    pub at: DateTime<Utc>,
}

impl TickReport {
    /// A failure a retry of the whole tick could mend.
    pub fn retryable(&self) -> bool {
        self.failures.iter().any(|f| f.retryable)
    }
}

/// What every evaluation of one round reads alike.
#[derive(Debug, Clone)]
struct SharedInputs {
    regions: Vec<RegionView>,
    spend: Spend,
}

/// Evaluates agent types against their policies and applies the decisions.
#[derive(Debug, Clone)]
pub struct Scaler {
    fleet: FleetState,
    regions: Vec<Region>,
    proximity: Proximity,
    gate: CostGate,
    actuator: Arc<dyn Actuator>,
    signals: SignalSources,
    health: HealthSettings,
    alarms: Option<AlarmSync>,
    fence: Fence,
}

impl Scaler {
    pub fn new(fleet: FleetState, regions: Vec<Region>, gate: CostGate, actuator: Arc<dyn Actuator>) -> Self {
        Self {
            fleet,
            regions,
            proximity: Proximity::published(),
            gate,
            actuator,
            signals: SignalSources::default(),
            health: HealthSettings::default(),
            alarms: None,
            fence: Fence::default(),
        }
    }

    /// Stamps every stored decision with `fence`'s epoch and refuses to overwrite one stored
    /// under a later epoch (a multi-region control plane's leadership sets it).
    #[must_use]
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// Keeps the types' utilization alarms in step with their policies.
    #[must_use]
    pub fn with_alarms(mut self, alarms: AlarmSync) -> Self {
        self.alarms = Some(alarms);
        self
    }

    /// Brings the managed alarms in line with `policies`: creates, updates and deletes what
    /// differs. `None` where the stack manages no alarms.
    pub async fn sync_alarms(&self, policies: &[VersionedPolicy]) -> Option<AlarmOutcome> {
        let sync = self.alarms.as_ref()?;
        let desired: Vec<AlarmSpec> = policies
            .iter()
            .flat_map(|p| alarms_for(&sync.settings, &p.agent_type, &p.policy, self.signal_of(p)))
            .collect();
        let actual = match sync.cloudwatch.list(&sync.settings.prefix).await {
            Ok(actual) => actual,
            Err(e) => {
                tracing::warn!(error = %e, "managed alarms not reconciled");
                return Some(AlarmOutcome { changes: AlarmChanges::default(), error: Some(e.to_string()) });
            }
        };
        let changes = reconcile(&sync.settings.prefix, &desired, &actual);
        let mut error = None;
        for alarm in &changes.put {
            if let Err(e) = sync.cloudwatch.put(alarm).await {
                error.get_or_insert(e.to_string());
            }
        }
        if !changes.delete.is_empty()
            && let Err(e) = sync.cloudwatch.delete(&changes.delete).await
        {
            error.get_or_insert(e.to_string());
        }
        if !changes.is_empty() {
            tracing::info!(put = changes.put.len(), deleted = changes.delete.len(), error = ?error, "managed alarms reconciled");
        }
        Some(AlarmOutcome { changes, error })
    }

    /// [`Self::sync_alarms`] over every policy in force (after a policy changed).
    pub async fn sync_alarms_now(&self) -> Result<Option<AlarmOutcome>, StoreError> {
        if self.alarms.is_none() {
            return Ok(None);
        }
        let policies = self.fleet.policies().await?;
        Ok(self.sync_alarms(&policies).await)
    }

    /// Places replacements and spills shares by `proximity`.
    #[must_use]
    pub fn with_proximity(mut self, proximity: Proximity) -> Self {
        self.proximity = proximity;
        self
    }

    /// Reads live signals from `signals`.
    #[must_use]
    pub fn with_signals(mut self, signals: SignalSources) -> Self {
        self.signals = signals;
        self
    }

    /// Judges region health by `health`.
    #[must_use]
    pub fn with_health_settings(mut self, health: HealthSettings) -> Self {
        self.health = health;
        self
    }

    /// The prefix of the alarms this scaler manages, if it manages any.
    pub fn alarm_prefix(&self) -> Option<&str> {
        self.alarms.as_ref().map(|a| a.settings.prefix.as_str())
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The signal a policy uses.
    pub fn signal_of(&self, policy: &VersionedPolicy) -> Signal {
        policy.policy.signal.unwrap_or(self.signals.default)
    }

    async fn region_views(&self) -> Result<Vec<RegionView>, StoreError> {
        Ok(self
            .fleet
            .region_health(&self.regions)
            .await?
            .into_iter()
            .map(|(region, health)| RegionView {
                region,
                weight: health.as_ref().map_or(1.0, |h| h.weight),
                marked_healthy: health.as_ref().is_none_or(|h| h.healthy),
                healthy_fraction: None,
                probe: health.as_ref().is_some_and(|h| !h.healthy && h.source == MarkSource::Silence),
            })
            .collect())
    }

    async fn shared_inputs(&self, now: DateTime<Utc>) -> Result<SharedInputs, StoreError> {
        let regions = self.region_views().await?;
        let control = self.fleet.cost_control().await?;
        let spend = Spend::of(&control, now);
        if spend.stale {
            tracing::warn!(
                updated_at = ?control.updated_at,
                "the cost controls are stale (no sweep for three periods): spend counts as unknown"
            );
        }
        Ok(SharedInputs { regions, spend })
    }

    /// Lambda agents' figures in every region for `types`, one call per region; a region that
    /// could not be read is missing from the answer.
    async fn lambda_figures(
        &self,
        types: &[&AgentType],
        now: DateTime<Utc>,
    ) -> BTreeMap<Region, BTreeMap<String, LambdaFigures>> {
        let mut out = BTreeMap::new();
        let Some(source) = &self.signals.lambda else { return out };
        if types.is_empty() {
            return out;
        }
        let functions: Vec<String> = types.iter().map(|t| source.agents.function(t)).collect();
        let reads = self.regions.iter().map(|region| async {
            let read = source
                .metrics
                .lambda_figures(region, &functions, &source.agents.qualifier, (now - LAMBDA_WINDOW, now))
                .await;
            (region.clone(), read)
        });
        for (region, read) in futures::future::join_all(reads).await {
            match read {
                Ok(figures) => {
                    out.insert(region, figures);
                }
                Err(e) => tracing::warn!(error = %e, "Lambda agents' figures unavailable; their types hold"),
            }
        }
        out
    }

    /// What is live of one type now, from its signal.
    fn observed_from(
        &self,
        agent_type: &AgentType,
        signal: Signal,
        replicas: Option<Vec<crate::domain::Replica>>,
        figures: &BTreeMap<Region, BTreeMap<String, LambdaFigures>>,
        now: DateTime<Utc>,
    ) -> Observed {
        match signal {
            Signal::Heartbeats => {
                replicas.map_or_else(|| Observed::unavailable(signal), Observed::heartbeats)
            }
            Signal::Cloudwatch => {
                let Some(source) = &self.signals.lambda else { return Observed::unavailable(signal) };
                // A region that could not be read shows no live replicas: they count as missing
                // (idle on the way up, fully used on the way down), as the HPA counts them.
                if figures.is_empty() {
                    return Observed::unavailable(signal);
                }
                let function = source.agents.function(agent_type);
                let mine: BTreeMap<Region, LambdaFigures> = figures
                    .iter()
                    .map(|(r, f)| (r.clone(), f.get(&function).copied().unwrap_or_default()))
                    .collect();
                lambda_replicas(agent_type, &mine, source.agents.concurrency_per_replica, now)
            }
        }
    }

    /// The type's reporting replicas, no more per region than its actuator says run there
    /// (ECS services); heartbeats alone where the actuator cannot tell or could not be read.
    async fn reporting(&self, agent_type: &AgentType) -> Result<Vec<crate::domain::Replica>, StoreError> {
        let replicas = self.fleet.replicas(agent_type).await?;
        match self.actuator.running(agent_type, &self.regions).await {
            Ok(Some(running)) => Ok(within_running(replicas, &running)),
            Ok(None) => Ok(replicas),
            Err(e) => {
                tracing::warn!(%agent_type, error = %e, "running counts unavailable; heartbeats alone count");
                Ok(replicas)
            }
        }
    }

    async fn observe(
        &self,
        agent_type: &AgentType,
        signal: Signal,
        now: DateTime<Utc>,
    ) -> Result<Observed, StoreError> {
        Ok(match signal {
            Signal::Heartbeats => Observed::heartbeats(self.reporting(agent_type).await?),
            Signal::Cloudwatch => {
                let figures = self.lambda_figures(&[agent_type], now).await;
                self.observed_from(agent_type, signal, None, &figures, now)
            }
        })
    }

    async fn policy(&self, agent_type: &AgentType) -> Result<VersionedPolicy, ScalingError> {
        self.fleet.policy(agent_type).await?.ok_or_else(|| ScalingError::UnknownAgentType(agent_type.clone()))
    }

    pub async fn evaluate(
        &self,
        request: &ScalingRequest,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, ScalingError> {
        let shared = self.shared_inputs(now).await?;
        let policy = self.policy(&request.agent_type).await?;
        let observed = self.observe(&request.agent_type, self.signal_of(&policy), now).await?;
        self.evaluate_with(request, &policy, &observed, &shared, None, now).await
    }

    /// Evaluates several requests, 16 at a time (`TYPES_AT_ONCE`), reading the region marks and the
    /// spend once for all of them and every type's state, pause and demand together (a few types
    /// per store request); the answers are in the requests' order.
    pub async fn evaluate_many(
        &self,
        requests: &[ScalingRequest],
        now: DateTime<Utc>,
    ) -> Result<Vec<Evaluation>, ScalingError> {
        let shared = &self.shared_inputs(now).await?;
        let types: Vec<&AgentType> = requests.iter().map(|r| &r.agent_type).collect();
        let known =
            read_types(self.fleet.store().as_ref(), &types, now, TYPES_AT_ONCE, Reading::Evaluation).await?;
        // The futures made first, then run TYPES_AT_ONCE at a time (a stream mapping a closure over
        // borrowed items makes the whole future not provably `Send`, which axum's handlers need).
        let evaluations: Vec<_> = requests
            .iter()
            .zip(known)
            .map(|(request, known)| async move {
                let policy = self.policy(&request.agent_type).await?;
                let observed = self.observe(&request.agent_type, self.signal_of(&policy), now).await?;
                self.evaluate_with(request, &policy, &observed, shared, Some(known), now).await
            })
            .collect();
        futures::stream::iter(evaluations).buffered(TYPES_AT_ONCE).try_collect().await
    }

    /// The periodic evaluation: every agent type's live signals read (Lambda agents' in one
    /// call per region), regions marked or cleared by what they show, then every type evaluated
    /// through the same path as an alarm. A type that fails is reported and the others go on.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, StoreError> {
        let policies = self.fleet.policies().await?;
        let alarms = self.sync_alarms(&policies).await;
        let signals: Vec<Signal> = policies.iter().map(|p| self.signal_of(p)).collect();
        let lambda_types: Vec<&AgentType> = policies
            .iter()
            .zip(&signals)
            .filter(|(_, s)| **s == Signal::Cloudwatch)
            .map(|(p, _)| &p.agent_type)
            .collect();
        let figures = &self.lambda_figures(&lambda_types, now).await;
        let reads: Vec<_> = policies
            .iter()
            .zip(&signals)
            .map(|(policy, signal)| async move {
                let replicas = match signal {
                    Signal::Heartbeats => Some(self.reporting(&policy.agent_type).await?),
                    Signal::Cloudwatch => None,
                };
                Ok::<_, StoreError>(self.observed_from(&policy.agent_type, *signal, replicas, figures, now))
            })
            .collect();
        let observed: Vec<Observed> =
            futures::stream::iter(reads).buffered(TYPES_AT_ONCE).try_collect().await?;
        let types: Vec<&AgentType> = policies.iter().map(|p| &p.agent_type).collect();
        let mut known =
            read_types(self.fleet.store().as_ref(), &types, now, TYPES_AT_ONCE, Reading::Evaluation).await?;
        self.make_forecasts(&policies, &mut known, now).await;
        let region_changes = self.judge_regions(&policies, &observed, &known, figures, now).await?;
        let shared = &self.shared_inputs(now).await?;
        let evaluations: Vec<_> = policies
            .iter()
            .zip(&observed)
            .zip(known)
            .map(|((policy, seen), known)| async move {
                let request = ScalingRequest::tick(policy.agent_type.clone());
                (policy, self.evaluate_with(&request, policy, seen, shared, Some(known), now).await)
            })
            .collect();
        let evaluated: Vec<_> = futures::stream::iter(evaluations).buffered(TYPES_AT_ONCE).collect().await;
        let mut evaluations = Vec::new();
        let mut failures = Vec::new();
        for (policy, evaluated) in evaluated {
            match evaluated {
                Ok(e) => evaluations.push(e),
                Err(e) => {
                    tracing::warn!(agent_type = %policy.agent_type, error = %e, "tick could not evaluate a type");
                    failures.push(TickFailure {
                        agent_type: policy.agent_type.clone(),
                        retryable: e.is_retryable(),
                        error: e.to_string(),
                    });
                }
            }
        }
        Ok(TickReport { evaluations, failures, region_changes, alarms, at: now })
    }

    /// The forecasts the tick's types need now (at the first tick of each hour, every type
    /// whose policy predicts and is not paused), their histories read together rather than one
    /// request per type. If that read fails, each evaluation tries its own.
    async fn make_forecasts(
        &self,
        policies: &[VersionedPolicy],
        known: &mut [TypeReads],
        now: DateTime<Utc>,
    ) {
        let due: Vec<(usize, Wanted<'_>)> = policies
            .iter()
            .zip(known.iter())
            .enumerate()
            .filter(|(_, (_, read))| read.pause.is_none())
            .filter_map(|(i, (p, read))| {
                let target = refresh_for(&p.policy, read.state.0.prediction.as_ref(), now)?;
                Some((i, Wanted { agent_type: &p.agent_type, policy: &p.policy, target }))
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let (at, wanted): (Vec<usize>, Vec<Wanted<'_>>) = due.into_iter().unzip();
        match fresh_forecasts(self.fleet.store().as_ref(), &wanted, now, TYPES_AT_ONCE).await {
            Ok(made) => {
                for (i, fresh) in at.into_iter().zip(made) {
                    known[i].fresh = Some(fresh);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, types = wanted.len(), "could not read the recorded demand together: each type tries its own");
            }
        }
    }

    /// Marks regions whose replicas went silent or whose Lambda agents fail, clears the marks
    /// of regions that have looked well for the hold-down, and records each change. `known`
    /// holds each type's scaling state as the tick read it.
    async fn judge_regions(
        &self,
        policies: &[VersionedPolicy],
        observed: &[Observed],
        known: &[TypeReads],
        figures: &BTreeMap<Region, BTreeMap<String, LambdaFigures>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RegionEvent>, StoreError> {
        let live: Vec<BTreeMap<Region, u32>> = observed.iter().map(Observed::live_by_region).collect();
        let live_in = |region: &Region| -> u32 { live.iter().filter_map(|l| l.get(region)).sum() };
        let everywhere: u32 = self.regions.iter().map(live_in).sum();
        let mut evidence: Vec<(Region, RegionEvidence)> =
            self.regions.iter().map(|r| (r.clone(), RegionEvidence::default())).collect();
        for (((policy, seen), live), known) in policies.iter().zip(observed).zip(&live).zip(known) {
            // A type whose signal could not be read proves nothing about any region.
            if !seen.available {
                continue;
            }
            let (state, _) = &known.state;
            for (region, found) in &mut evidence {
                match seen.signal {
                    Signal::Heartbeats => {
                        let here = live.get(region).copied().unwrap_or(0);
                        let due = state.desired.get(region.as_str()).copied().unwrap_or(0);
                        let last = state.last_live_at.get(region.as_str()).copied();
                        if is_silent(last, due, here, everywhere - live_in(region), &self.health, now) {
                            found.silent_types.push(policy.agent_type.clone());
                        }
                        found.healthy_replicas += u32::try_from(
                            seen.replicas.iter().filter(|r| &r.region == region && r.healthy).count(),
                        )
                        .unwrap_or(u32::MAX);
                    }
                    Signal::Cloudwatch => {
                        if let Some(f) = seen.lambda.get(region) {
                            let sum = found.lambda.get_or_insert_with(LambdaFigures::default);
                            sum.invocations += f.invocations;
                            sum.errors += f.errors;
                            sum.throttles += f.throttles;
                        }
                    }
                }
            }
        }
        // Regions whose Lambda figures could not be read prove nothing about errors.
        for (region, found) in &mut evidence {
            if !figures.contains_key(region) {
                found.lambda = None;
            }
        }
        let marks = self.fleet.region_marks(&self.regions).await?;
        let mut changes = Vec::new();
        for change in assess(&marks, &evidence, &self.health, now) {
            let (written, event) = match change {
                HealthChange::Put { region, health, version, event } => {
                    (self.fleet.put_region_mark(&region, &health, version).await, event)
                }
                HealthChange::Clear { region, version, event } => {
                    (self.fleet.clear_region_mark(&region, Some(version)).await, Some(event))
                }
            };
            match written {
                Ok(()) => {}
                // An operator (or another tick) changed the mark since it was read.
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
            if let Some(event) = event {
                tracing::warn!(region = %event.region, healthy = event.healthy, source = event.source.as_str(), reason = %event.reason, "region marked automatically");
                self.fleet.record_region_event(&event).await?;
                changes.push(event);
            }
        }
        Ok(changes)
    }

    /// Evaluates one type. `known` is what this run already read of it (the tick reads every
    /// type's together); without it, its state, pause and demand are read in one request. The
    /// first attempt starts from that state; the write is conditional on its version either way,
    /// so a stale one only costs a retry, which reads the state again.
    async fn evaluate_with(
        &self,
        request: &ScalingRequest,
        policy: &VersionedPolicy,
        observed: &Observed,
        shared: &SharedInputs,
        known: Option<TypeReads>,
        now: DateTime<Utc>,
    ) -> Result<Evaluation, ScalingError> {
        let SharedInputs { regions, spend } = shared;
        let agent_type = &request.agent_type;
        let policy = &policy.policy;
        let TypeReads { state, pause: paused, demand, records, fresh } = match known {
            Some(read) => read,
            None => read_type(self.fleet.store().as_ref(), agent_type, now).await?,
        };
        // A paused type is evaluated as a dry run: what it would do, nothing stored or applied.
        let effect = if paused.is_some() { Effect::DryRun } else { request.effect };
        let recorder = DemandRecorder::new(self.fleet.store().clone());
        // The tick makes the forecasts (once an hour); other triggers use the ones it made.
        let ticking = request.trigger == Trigger::Tick && effect == Effect::Apply;
        let prediction =
            prediction_of(&recorder, agent_type, policy, &state.0, records, (ticking, fresh), now).await;
        let mut first = Some(state);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(StdDuration::from_millis(u64::from(attempt.min(10)) * 5)).await;
            }
            let (state, version) = match first.take() {
                Some(read) => read,
                None => self.fleet.scaling_state(agent_type).await?,
            };
            // The fence: read and write are one step (the write is conditional on this version),
            // so a decision stored under a later epoch is never overwritten by this region.
            let mine = self.fence.epoch();
            if mine > 0 && state.epoch > mine && effect != Effect::DryRun {
                return Err(ScalingError::Deposed {
                    agent_type: agent_type.clone(),
                    stored: state.epoch,
                    mine,
                });
            }
            let stamp = state.epoch.max(mine);
            let mut planned = plan(&PlanInput {
                agent_type,
                policy,
                state: &state,
                observed,
                demand: &demand,
                trigger: request.trigger,
                severity: request.severity,
                regions,
                proximity: &self.proximity,
                spend: *spend,
                gate: &self.gate,
                alarm_at: request.alarm_at,
                dry_run: effect == Effect::DryRun,
                prediction: Some(&prediction),
                now,
            });
            if let Some(pause) = paused {
                let mut evaluation = planned.evaluation;
                evaluation.reasons.insert(
                    0,
                    format!(
                        "autoscaling paused by {} since {}: {}; nothing stored or applied",
                        pause.by, pause.since, pause.reason
                    ),
                );
                evaluation.paused = Some(pause);
                return Ok(evaluation);
            }
            if let (Some(at), Some(last)) = (request.alarm_at, state.last_alarm_at)
                && at <= last
            {
                return self.repeated_alarm(request, &state, planned.evaluation, at, last).await;
            }
            if effect == Effect::DryRun {
                return Ok(planned.evaluation);
            }
            planned.state.epoch = stamp;
            if ticking {
                write_finished_hours(&recorder, agent_type, &mut planned.state, state.forecasts(), now).await;
            }
            let written = match self.fleet.put_scaling_state(agent_type, &planned.state, version).await {
                Ok(v) => v,
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            };
            if !planned.events.is_empty()
                && let Err(e) = self
                    .fleet
                    .record_events(agent_type, &planned.events, Duration::days(EVENT_TTL_DAYS))
                    .await
            {
                // The state item carries the recent events too, so the record is not lost.
                tracing::warn!(error = %e, %agent_type, "could not keep scaling events as items");
            }
            let mut evaluation = planned.evaluation;
            evaluation.actions_taken =
                self.apply_in_order(agent_type, planned.state.desired, written).await?;
            evaluation.applied = true;
            if evaluation.desired == evaluation.in_force {
                tracing::debug!(%agent_type, trigger = ?request.trigger, live = evaluation.current, desired = evaluation.desired, "scaling evaluated");
            } else {
                tracing::info!(%agent_type, trigger = ?request.trigger, live = evaluation.current, from = evaluation.in_force, desired = evaluation.desired, "scaling changed");
            }
            return Ok(evaluation);
        }
        Err(ScalingError::Contention)
    }

    /// Applies the decision stored at `version`, then records it applied. If a newer decision was
    /// stored meanwhile (two evaluations racing), this one's application may have landed after the
    /// newer one's: the newest is applied again, so what is in force is always the latest stored.
    async fn apply_in_order(
        &self,
        agent_type: &AgentType,
        mut desired: PerRegion<u32>,
        mut version: u64,
    ) -> Result<Vec<String>, ScalingError> {
        let mut actions = Vec::new();
        for _ in 0..ATTEMPTS {
            actions = self.actuator.apply(agent_type, &desired).await?;
            match self.fleet.mark_applied(agent_type, version).await {
                Ok(()) => return Ok(actions),
                Err(StoreError::ConditionFailed) => {
                    // Whoever stored the newer decision may have applied it before this application
                    // landed: apply the newest again (applying is idempotent).
                    let (latest, at) = self.fleet.scaling_state(agent_type).await?;
                    if at == version {
                        return Ok(actions);
                    }
                    desired = latest.desired;
                    version = at;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(actions)
    }

    /// A repeated or late alarm decides nothing; the decision in force is re-applied in case the
    /// first delivery failed after storing it.
    async fn repeated_alarm(
        &self,
        request: &ScalingRequest,
        state: &AgentScalingState,
        mut evaluation: Evaluation,
        at: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> Result<Evaluation, ScalingError> {
        let actions_taken = if request.effect == Effect::DryRun {
            Vec::new()
        } else {
            self.actuator.apply(&request.agent_type, &state.desired).await?
        };
        // An alarm was applied before, so the state holds a decision.
        evaluation.in_force = state.desired_total;
        evaluation.desired = evaluation.in_force;
        evaluation.desired_by_region = state.desired.clone();
        evaluation.reasons =
            vec![format!("alarm of {at} is not newer than the last one applied ({last}): nothing changes")];
        evaluation.actions_taken = actions_taken;
        evaluation.cost_impact = 0.0;
        evaluation.failovers = Vec::new();
        evaluation.applied = false;
        Ok(evaluation)
    }
}

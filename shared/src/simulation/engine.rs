//! The discrete-event engine: simulated time on a manual clock, the suite's state in an in-memory
//! store, and the decision code the Lambdas run, driven by the scenario's incidents:
//!
//! - replicas report heartbeats every 30 s and the autoscaler ([`Scaler::evaluate`], with its
//!   policy limits, cooldowns, cost gate and regional failover) evaluates every type each minute;
//!   the simulated fleet starts (5 s) and drains replicas to its decision per region;
//! - every incident is assigned by the api's balancer and released to it ([`super::fleet`]);
//!   incidents that find no room wait, first come first served per type;
//! - every assignment selects a model ([`crate::cost::models::select`]) under the cost controls in
//!   force and reports its tokens to the usage counters, and invokes the type's agent function,
//!   which starts warm or cold ([`super::aws`]);
//! - the cost sweeper ([`Sweeper::sweep`]) runs every 15 minutes (the deployed schedule) on those
//!   counters and the simulated CloudWatch figures, and moves the cost controls;
//! - the warmer ([`Warmer::scheduled`]) runs every 5 minutes and pings the agent functions.
//!
//! Only AWS is simulated: execution environments, metrics, incident arrivals and service times.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use thiserror::Error;

use super::arrivals::Incident;
use super::aws::SimulatedAws;
use super::cloudwatch::{Metrics, SimulatedAlarm, series};
use super::containers::Start;
use super::control_plane::{ControlPlaneReport, ControlPlanes};
use super::events::Agenda;
use super::fleet::TypeFleet;
use super::history;
use super::outcomes::{HourSummary, Outcomes, Overall, TypeSummary};
use super::scenario::Scenario;
use super::variant::{Variant, prototype_step, static_peak};
use crate::clock::{Clock, ManualClock};
use crate::cost::levels::Level;
use crate::cost::models::{CostMode, ModelRequest, select};
use crate::cost::price_book::{PriceBook, PriceSource};
use crate::cost::report::HourCost;
use crate::cost::sources::PricedFunction;
use crate::cost::sweep::{SweepError, SweepSettings, Sweeper};
use crate::cost::task::TaskType;
use crate::cost::usage::{HourUsage, UsageCounters, hour_of};
use crate::cost::{Architecture, PriceTable, billing};
use crate::domain::{AgentType, PerRegion, Region, Replica, ReplicaId, Severity};
use crate::scaling::actuator::RecordActuator;
use crate::scaling::alarms::{AlarmSettings, alarms_for};
use crate::scaling::cost_gate::CostGate;
use crate::scaling::demand::{DemandLedger, MinuteDemand, minute_of};
use crate::scaling::prediction::{Prediction, PredictionStatus, floor};
use crate::scaling::recorded::DemandRecorder;
use crate::scaling::records::{RegionEvent, RegionHealth};
use crate::scaling::service::{LambdaSource, Scaler, ScalingError, ScalingRequest, SignalSources};
use crate::scaling::signals::{LambdaAgents, LambdaFigures, Signal};
use crate::scaling::{FleetState, ScalingPolicy};
use crate::store::{MemoryStore, Store, StoreError};
use crate::warming::config::{TargetConfig, WarmConfig};
use crate::warming::warmer::Warmer;

/// Replicas report this often (the suite's default heartbeat interval).
const HEARTBEAT: Duration = Duration::seconds(30);
/// The scaler's tick evaluates every type this often (template.yaml's `ScalerTickSchedule`).
const EVALUATE: Duration = Duration::seconds(60);
/// CloudWatch evaluates the managed alarms this long after each one-minute period ends.
const ALARM_DELAY: Duration = Duration::seconds(20);
/// A new replica takes this long to start before it reports.
const REPLICA_START: Duration = Duration::seconds(5);
/// The cost sweeper's schedule (template.yaml's default).
const SWEEP: Duration = Duration::minutes(15);
/// The warmer's schedule (template.yaml's default).
const WARM: Duration = Duration::minutes(5);
/// Environments the warmer keeps ready per agent function and region in business hours.
const WARM_CONCURRENCY: u32 = 5;
/// The agent functions' memory (the warming configuration's default).
const AGENT_MEMORY_MB: u32 = 1024;

#[derive(Debug, Error)]
pub enum SimulationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scaling(#[from] ScalingError),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error("the scenario names {0:?}, which is not a valid task type")]
    Task(String),
    #[error("no model meets the floor for {0} {1} incidents in the price table")]
    NoModel(AgentType, Severity),
    #[error("the tick could not evaluate {0}: {1}")]
    Tick(AgentType, String),
    #[error("stopped at {0}: the run's budget was spent")]
    Stopped(DateTime<Utc>),
}

#[derive(Debug)]
enum Event {
    Arrival(usize),
    Done {
        incident: usize,
        serial: u64,
        assigned: DateTime<Utc>,
    },
    Heartbeat,
    Evaluate,
    Alarms,
    Sweep,
    Warm,
    Outage {
        region: Region,
        down: bool,
    },
    /// The home region's control plane goes away or comes back (a scenario's `control_plane`).
    ControlPlane {
        down: bool,
    },
    OperatorMark(usize),
    Spike(usize),
}

/// The fleet of one agent type at one sample time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub agent_type: AgentType,
    /// Ready replicas per region.
    pub replicas: BTreeMap<String, u32>,
    /// What the autoscaler wants per region.
    pub desired: BTreeMap<String, u32>,
    /// Active incidents over the capacity of ready, healthy replicas.
    pub utilization: f64,
    /// The same per region (a region that is down has none).
    pub utilization_by_region: BTreeMap<String, f64>,
    pub waiting: usize,
    /// Predictive scale-out as the suite's state held it after the evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<PredictionStatus>,
    /// The floor the forecast set, while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictive_floor: Option<u32>,
}

/// What one cost sweep measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub at: DateTime<Utc>,
    pub hourly_cost: f64,
    pub daily_projection: f64,
    pub level: Level,
    pub emergency_mode: bool,
    /// Control changes this sweep made.
    pub actions: Vec<String>,
}

/// One whole hour as the sweeper priced it, with the starts of the agent functions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourRow {
    pub hour: DateTime<Utc>,
    pub spend: f64,
    pub by_service: BTreeMap<String, f64>,
    pub warm_starts: u64,
    pub cold_starts: u64,
}

/// Incidents of one severity that arrived while emergency cost mode was on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EmergencyServed {
    pub arrived: u64,
    pub completed: u64,
    /// Completed ones that waited longer than their type's maximum response time.
    pub waited_over_maximum: u64,
}

/// A run's results.
#[derive(Debug, Clone, Serialize)]
pub struct DayRun {
    pub scenario: String,
    pub variant: Variant,
    pub incidents: usize,
    pub outcomes: BTreeMap<AgentType, TypeSummary>,
    pub overall: Overall,
    /// Waits and completions by arrival hour.
    pub response_by_hour: Vec<HourSummary>,
    /// One sample per type each evaluation.
    pub samples: Vec<Sample>,
    pub sweeps: Vec<SweepPoint>,
    pub hours: Vec<HourRow>,
    /// Replica-hours per type (replicas kept, starting or ready, each minute).
    pub replica_hours: BTreeMap<AgentType, f64>,
    /// Replica-hours at each type's cost per replica-hour (the seed's figures).
    pub replica_cost: f64,
    /// Every whole hour's spend as the sweeper priced it.
    pub spend: f64,
    pub warm_starts: u64,
    pub cold_starts: u64,
    /// Regions the suite marked or cleared itself (silence, errors), in order.
    pub region_events: Vec<RegionEvent>,
    /// The scaler's schedule ticks.
    pub ticks: u64,
    /// Transitions of a managed alarm into ALARM, each an invocation of the scaler, per type.
    pub alarm_invocations: BTreeMap<AgentType, u64>,
    /// Reads of Lambda agents' figures (one per region and tick while any type is one).
    pub agent_metric_reads: u64,
    /// What became of the incidents that arrived in emergency cost mode, per severity.
    pub during_emergency: BTreeMap<Severity, EmergencyServed>,
    /// Waits in each region's first business hour of the day (its morning ramp).
    pub mornings: Vec<MorningWait>,
    /// The control plane in two regions, where the scenario has one (the suite's run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneReport>,
}

/// The waits of the incidents that arrived in one region's first business hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MorningWait {
    pub region: Region,
    /// The hour's start (UTC): 09:00 local.
    pub hour: DateTime<Utc>,
    pub completed: u64,
    pub wait: super::outcomes::Percentiles,
}

/// The model a kind of incident gets, as chosen under the controls in force.
#[derive(Debug, Clone)]
struct Choice {
    model: String,
    input_tokens: f64,
    output_tokens: f64,
}

struct Engine<'a> {
    scenario: &'a Scenario,
    incidents: &'a [Incident],
    variant: Variant,
    clock: Arc<ManualClock>,
    fleet: FleetState,
    scaler: Scaler,
    sweeper: Sweeper,
    warmer: Warmer,
    price_book: PriceBook,
    usage: UsageCounters,
    aws: SimulatedAws,
    agenda: Agenda<Event>,
    regions: Vec<Region>,
    policies: BTreeMap<AgentType, ScalingPolicy>,
    fleets: BTreeMap<AgentType, TypeFleet>,
    desired: BTreeMap<AgentType, BTreeMap<String, u32>>,
    last_change: BTreeMap<AgentType, DateTime<Utc>>,
    waiting: BTreeMap<AgentType, VecDeque<usize>>,
    down: BTreeSet<Region>,
    prices: Arc<PriceTable>,
    mode: CostMode,
    choices: HashMap<(AgentType, Severity), Choice>,
    token_multiplier: f64,
    pending_usage: BTreeMap<(DateTime<Utc>, String, String), HourUsage>,
    outcomes: Outcomes,
    samples: Vec<Sample>,
    sweeps: Vec<SweepPoint>,
    hours: Vec<HourRow>,
    starts_at_hour: (u64, u64),
    replica_minutes: BTreeMap<AgentType, u64>,
    next_serial: u64,
    /// Selection's demand counters not yet reported, per type and minute.
    demand: BTreeMap<(AgentType, DateTime<Utc>), MinuteDemand>,
    /// Waiting incidents and the minute each was last counted as refused.
    refused_in: HashMap<usize, DateTime<Utc>>,
    ledger: DemandLedger,
    region_events: Vec<RegionEvent>,
    /// The simulated CloudWatch: AgentUtilization samples and the managed alarms on them.
    cloudwatch: Metrics,
    alarms: Vec<(AgentType, SimulatedAlarm)>,
    /// Each type's AgentUtilization series, as its alarms name it.
    utilization_series: BTreeMap<AgentType, String>,
    ticks: u64,
    alarm_invocations: BTreeMap<AgentType, u64>,
    /// Lambda agents' executions per type and region since the figures were last published.
    agent_window: BTreeMap<(AgentType, Region), LambdaFigures>,
    /// Incidents that arrived in emergency cost mode, and what became of them.
    arrived_in_emergency: std::collections::HashSet<usize>,
    during_emergency: BTreeMap<Severity, EmergencyServed>,
    /// The home and standby control planes, where the scenario runs it in two regions.
    control: Option<ControlPlanes>,
}

/// The managed alarms as the simulated stack names them (invoking the scaler directly).
fn simulated_alarms() -> AlarmSettings {
    AlarmSettings {
        prefix: "simulation-".into(),
        namespace: "IncidentCommander/simulation".into(),
        actions: vec!["scaler".into()],
        home_region: None,
        lambda_agents: LambdaAgents {
            function_pattern: "{agent_type}-agent".into(),
            qualifier: "live".into(),
            concurrency_per_replica: 1,
        },
    }
}

fn function_name(agent_type: &AgentType) -> String {
    format!("{agent_type}-agent")
}

/// The suite's scaler, reading heartbeats and the simulated account's Lambda figures as
/// deployed; and, where the scenario runs the control plane in two regions, both regions' copies
/// of it, each fenced by its own lease.
fn scalers(
    scenario: &Scenario,
    variant: Variant,
    store: &Arc<dyn Store>,
    clock: &Arc<ManualClock>,
    fleet: &FleetState,
    regions: &[Region],
    aws: &SimulatedAws,
) -> (Scaler, Option<ControlPlanes>) {
    // Heartbeat agents report; Lambda agents' figures come from the simulated account.
    let signals = SignalSources {
        default: Signal::Heartbeats,
        lambda: Some(LambdaSource {
            agents: simulated_alarms().lambda_agents,
            metrics: Arc::new(aws.clone()),
        }),
    };
    let scaler = Scaler::new(fleet.clone(), regions.to_vec(), CostGate::default(), Arc::new(RecordActuator))
        .with_signals(signals);
    let control = scenario
        .control_plane
        .as_ref()
        .filter(|_| variant.is_suite())
        .map(|c| ControlPlanes::new(c, store, &(clock.clone() as Arc<dyn Clock>), &scaler));
    (scaler, control)
}

/// What `run` calls with the simulated time every simulated minute: `Break` stops the run there
/// (a caller's time budget is spent) with [`SimulationError::Stopped`].
pub type Progress<'a> = dyn FnMut(DateTime<Utc>) -> ControlFlow<()> + Send + 'a;

/// A [`Progress`] that lets the run go to its end.
pub fn to_the_end(_: DateTime<Utc>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Runs `scenario` over `incidents` (from [`super::incidents`]) to its end under `variant`,
/// calling `progress` with the simulated time every simulated minute.
pub async fn run(
    scenario: &Scenario,
    incidents: &[Incident],
    variant: Variant,
    progress: &mut Progress<'_>,
) -> Result<DayRun, SimulationError> {
    let clock = Arc::new(ManualClock::new(scenario.start));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let fleet = FleetState::new(Arc::clone(&store));
    let regions: Vec<Region> = scenario.regions.keys().cloned().collect();
    let aws = SimulatedAws::new(clock.clone() as Arc<dyn Clock>);
    let (scaler, control) = scalers(scenario, variant, &store, &clock, &fleet, &regions, &aws);
    let price_book = PriceBook::new(Arc::clone(&store), PriceTable::bundled(), PriceSource::Bundled);
    let functions: Vec<PricedFunction> = scenario
        .agent_mix
        .keys()
        .map(|t| PricedFunction {
            name: function_name(t),
            memory_mb: AGENT_MEMORY_MB,
            architecture: Architecture::Arm64,
            // Lambda agents carry the scaler's provisioned concurrency on this alias.
            provisioned_qualifier: Some("live".into()),
            critical: false,
        })
        .collect();
    let warm_config = WarmConfig {
        targets: scenario
            .agent_mix
            .keys()
            .map(|t| TargetConfig {
                function: function_name(t),
                regions: regions.clone(),
                qualifier: Some("live".into()),
                concurrency: WARM_CONCURRENCY,
                memory_mb: AGENT_MEMORY_MB,
                architecture: Architecture::Arm64,
                idle_window_s: 300,
            })
            .collect(),
        ..WarmConfig::default()
    };
    let settings =
        SweepSettings { functions, table_name: "commander-simulation".into(), ..SweepSettings::default() };
    let sweeper = Sweeper::new(Arc::clone(&store), price_book.clone(), settings)
        .with_metered(Arc::new(aws.clone()))
        .with_advisor(Arc::new(crate::warming::advice::WarmingAdvice(warm_config.clone())));
    let warmer =
        Warmer::new(Arc::clone(&store), warm_config, price_book.clone(), Some(Arc::new(aws.clone())));
    let mut engine = Engine {
        scenario,
        incidents,
        variant,
        clock,
        fleet,
        scaler,
        sweeper,
        warmer,
        price_book: price_book.clone(),
        usage: UsageCounters::new(Arc::clone(&store)),
        aws,
        agenda: Agenda::new(),
        regions,
        policies: BTreeMap::new(),
        fleets: BTreeMap::new(),
        desired: BTreeMap::new(),
        last_change: BTreeMap::new(),
        waiting: BTreeMap::new(),
        down: BTreeSet::new(),
        // Selection reads the prices in force, as the api does; the engine keeps them between changes.
        prices: price_book.current().await?.0,
        mode: CostMode::Normal,
        choices: HashMap::new(),
        token_multiplier: 1.0,
        pending_usage: BTreeMap::new(),
        outcomes: Outcomes::new(),
        samples: Vec::new(),
        sweeps: Vec::new(),
        hours: Vec::new(),
        starts_at_hour: (0, 0),
        replica_minutes: BTreeMap::new(),
        next_serial: 0,
        demand: BTreeMap::new(),
        refused_in: HashMap::new(),
        region_events: Vec::new(),
        ledger: DemandLedger::new(Arc::clone(&store)),
        cloudwatch: Metrics::default(),
        alarms: Vec::new(),
        utilization_series: BTreeMap::new(),
        ticks: 0,
        alarm_invocations: BTreeMap::new(),
        agent_window: BTreeMap::new(),
        arrived_in_emergency: std::collections::HashSet::new(),
        during_emergency: BTreeMap::new(),
        control,
    };
    engine.start().await?;
    engine.run_to_end(progress).await?;
    Ok(engine.finish())
}

impl Engine<'_> {
    async fn start(&mut self) -> Result<(), SimulationError> {
        let start = self.scenario.start;
        for agent_type in self.scenario.agent_mix.keys() {
            let (policy, signal) = self.policy_for(agent_type);
            self.fleet.put_policy(agent_type, policy.clone(), 0).await?;
            if self.variant.is_suite() {
                // The alarms the scaler manages for the type, as deployed (direct delivery).
                for spec in alarms_for(&simulated_alarms(), agent_type, &policy, signal) {
                    self.utilization_series.insert(agent_type.clone(), series(&spec));
                    self.alarms.push((agent_type.clone(), SimulatedAlarm::new(spec)));
                }
            }
            let fleet =
                TypeFleet::new(function_name(agent_type), policy.capacity_per_replica, self.scenario.seed);
            self.fleets.insert(agent_type.clone(), fleet);
            self.policies.insert(agent_type.clone(), policy);
            self.waiting.insert(agent_type.clone(), VecDeque::new());
        }
        if self.variant.is_suite() {
            // The weeks the deployment recorded before the day, where the tick keeps its records.
            history::record(self.scenario, &DemandRecorder::new(self.fleet.store())).await?;
        }
        // Every kind of incident must have a model before the day starts, not fail halfway.
        let kinds: Vec<(AgentType, Severity)> = self
            .scenario
            .agent_mix
            .keys()
            .flat_map(|t| self.scenario.severity_mix.keys().map(move |s| (t.clone(), *s)))
            .collect();
        for (agent_type, severity) in kinds {
            self.choose(&agent_type, severity)?;
        }
        let initial: BTreeMap<AgentType, BTreeMap<Region, u32>> = match self.variant {
            Variant::StaticPeak => {
                let capacity =
                    self.policies.iter().map(|(t, p)| (t.clone(), p.capacity_per_replica)).collect();
                static_peak(self.incidents, &capacity)
            }
            // The fleet starts at its minimum, spread over the regions.
            Variant::Suite | Variant::SuiteReactive | Variant::PrototypeRules => self
                .policies
                .iter()
                .map(|(t, p)| {
                    let mut spread = BTreeMap::new();
                    for i in 0..p.min_replicas.max(1) {
                        *spread.entry(self.regions[i as usize % self.regions.len()].clone()).or_insert(0) +=
                            1;
                    }
                    (t.clone(), spread)
                })
                .collect(),
        };
        for (agent_type, per_region) in initial {
            for (region, n) in per_region {
                for _ in 0..n {
                    self.add_replica(&agent_type, region.clone(), start);
                }
            }
        }
        for (i, incident) in self.incidents.iter().enumerate() {
            self.agenda.schedule(incident.at, Event::Arrival(i));
        }
        for outage in &self.scenario.outages {
            let back = outage.from + Duration::minutes(i64::from(outage.minutes));
            self.agenda.schedule(outage.from, Event::Outage { region: outage.region.clone(), down: true });
            self.agenda.schedule(back, Event::Outage { region: outage.region.clone(), down: false });
        }
        if let Some(c) = &self.control {
            let back = c.scenario().outage_from + Duration::minutes(i64::from(c.scenario().outage_minutes));
            self.agenda.schedule(c.scenario().outage_from, Event::ControlPlane { down: true });
            self.agenda.schedule(back, Event::ControlPlane { down: false });
        }
        for (k, mark) in self.scenario.operator_marks.iter().enumerate() {
            self.agenda.schedule(mark.at, Event::OperatorMark(k));
        }
        for (k, spike) in self.scenario.cost_spikes.iter().enumerate() {
            self.agenda.schedule(spike.from, Event::Spike(k));
        }
        if self.variant.is_suite() {
            self.heartbeat(start).await?;
            self.agenda.schedule(start + HEARTBEAT, Event::Heartbeat);
        }
        self.agenda.schedule(start, Event::Warm);
        self.agenda.schedule(start + EVALUATE, Event::Evaluate);
        if self.variant.is_suite() {
            self.agenda.schedule(start + EVALUATE + ALARM_DELAY, Event::Alarms);
        }
        self.agenda.schedule(start + SWEEP, Event::Sweep);
        Ok(())
    }

    /// A type's policy for the day: the seed's, with the scenario's limits, Lambda agents' signal
    /// and capacity, and predictive scale-out off in the reactive-only run.
    fn policy_for(&self, agent_type: &AgentType) -> (ScalingPolicy, Signal) {
        let mut policy = self
            .scenario
            .policies
            .get(agent_type)
            .cloned()
            .unwrap_or_else(|| ScalingPolicy::default_for(agent_type));
        if let Some(limits) = self.scenario.limits.get(agent_type) {
            policy.min_replicas = limits.min_replicas;
            policy.max_replicas = limits.max_replicas;
        }
        let signal = if self.scenario.lambda_agents.contains(agent_type) {
            Signal::Cloudwatch
        } else {
            Signal::Heartbeats
        };
        if signal == Signal::Cloudwatch {
            // One incident per provisioned environment.
            policy.capacity_per_replica = 1;
            policy.signal = Some(signal);
        }
        if self.variant == Variant::SuiteReactive {
            policy.predictive =
                Some(crate::scaling::PredictivePolicy { enabled: false, ..Default::default() });
        }
        (policy, signal)
    }

    fn add_replica(&mut self, agent_type: &AgentType, region: Region, ready_at: DateTime<Utc>) {
        self.next_serial += 1;
        let id = format!("{}-{}-{}", agent_type, region, self.next_serial);
        if let Some(fleet) = self.fleets.get_mut(agent_type) {
            fleet.add(self.next_serial, id, region, ready_at);
        }
    }

    async fn run_to_end(&mut self, progress: &mut Progress<'_>) -> Result<(), SimulationError> {
        let end = self.scenario.end();
        while let Some((at, event)) = self.agenda.next_until(end) {
            self.clock.set(at);
            match event {
                Event::Arrival(i) => self.arrive(i, at)?,
                Event::Done { incident, serial, assigned } => self.done(incident, serial, assigned, at)?,
                Event::Heartbeat => {
                    self.heartbeat(at).await?;
                    self.agenda.schedule(at + HEARTBEAT, Event::Heartbeat);
                }
                Event::Evaluate => {
                    self.evaluate(at).await?;
                    if progress(at).is_break() {
                        return Err(SimulationError::Stopped(at));
                    }
                    self.agenda.schedule(at + EVALUATE, Event::Evaluate);
                }
                Event::Alarms => {
                    self.alarms(at).await?;
                    self.agenda.schedule(at + EVALUATE, Event::Alarms);
                }
                Event::Sweep => {
                    self.sweep(at).await?;
                    self.agenda.schedule(at + SWEEP, Event::Sweep);
                }
                Event::Warm => {
                    self.warmer.scheduled(at).await?;
                    self.agenda.schedule(at + WARM, Event::Warm);
                }
                Event::Outage { region, down } => self.outage(region, down, at).await?,
                Event::ControlPlane { down } => {
                    let first = self.fleets.keys().next().cloned();
                    if let (Some(c), Some(agent_type)) = (&mut self.control, first) {
                        c.home(down, &agent_type, at).await?;
                    }
                }
                Event::OperatorMark(k) => self.operator_mark(k, at).await?,
                Event::Spike(k) => self.spike(k, at).await?,
            }
        }
        // The last sweep prices the run's final hour whole.
        self.clock.set(end);
        self.sweep(end).await?;
        for queue in self.waiting.values() {
            for &i in queue {
                self.outcomes.unserved(&self.incidents[i].agent_type);
            }
        }
        // Incidents still in progress at the end.
        while let Some((_, event)) = self.agenda.next_until(DateTime::<Utc>::MAX_UTC) {
            if let Event::Done { incident, .. } = event {
                self.outcomes.unserved(&self.incidents[incident].agent_type);
            }
        }
        Ok(())
    }

    fn finish(self) -> DayRun {
        let replica_hours: BTreeMap<AgentType, f64> =
            self.replica_minutes.iter().map(|(t, m)| (t.clone(), *m as f64 / 60.0)).collect();
        let replica_cost = replica_hours
            .iter()
            .map(|(t, h)| h * self.policies.get(t).map_or(0.0, |p| p.cost_per_replica_hour))
            .sum();
        let (warm_starts, cold_starts) = self.aws.starts();
        DayRun {
            scenario: self.scenario.name.clone(),
            variant: self.variant,
            incidents: self.incidents.len(),
            outcomes: self.outcomes.summary(),
            overall: self.outcomes.overall(),
            response_by_hour: self.outcomes.hours(),
            samples: self.samples,
            sweeps: self.sweeps,
            spend: billing::total(self.hours.iter().map(|h| h.spend)),
            hours: self.hours,
            replica_hours,
            replica_cost,
            warm_starts,
            cold_starts,
            region_events: self.region_events,
            ticks: self.ticks,
            alarm_invocations: self.alarm_invocations,
            agent_metric_reads: self.aws.agent_reads(),
            during_emergency: self.during_emergency,
            mornings: self
                .regions
                .iter()
                .filter_map(|region| {
                    let hour = super::arrivals::business_start(self.scenario, region)?;
                    let (completed, wait) = self.outcomes.region_hour(region, hour);
                    Some(MorningWait { region: region.clone(), hour, completed, wait })
                })
                .collect(),
            control_plane: self.control.map(ControlPlanes::report),
        }
    }

    /// Every replica that has started reports its load (a draining one reports unhealthy); in a
    /// region that is down nothing reports: its replicas go silent, as in a real outage.
    async fn heartbeat(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let ttl = HEARTBEAT * 3;
        let mut reports = 0.0;
        for (agent_type, fleet) in &self.fleets {
            if self.scenario.lambda_agents.contains(agent_type) {
                continue;
            }
            for r in fleet.replicas.iter().filter(|r| r.ready_at <= at && !self.down.contains(&r.region)) {
                let replica = Replica {
                    replica_id: ReplicaId::parse(&r.id).map_err(|e| StoreError::Invalid(e.to_string()))?,
                    agent_type: agent_type.clone(),
                    region: r.region.clone(),
                    load: f64::from(r.active),
                    capacity: r.capacity,
                    healthy: r.serving(at, &self.down),
                    performance_score: 0.9,
                    last_heartbeat: at,
                    draining: false,
                };
                // The api writes one AgentUtilization sample per healthy heartbeat (EMF).
                if replica.healthy
                    && let Some(series) = self.utilization_series.get(agent_type)
                {
                    self.cloudwatch.put(series.clone(), at, replica.utilization() * 100.0);
                }
                self.fleet.record_heartbeat(&replica, ttl).await?;
                reports += 1.0;
            }
        }
        self.aws.table(at, 0.0, reports);
        Ok(())
    }

    /// The model this kind of incident gets now: the suite's selection under the controls in
    /// force, or the prototype's cheapest model.
    fn choose(&mut self, agent_type: &AgentType, severity: Severity) -> Result<Choice, SimulationError> {
        if let Some(choice) = self.choices.get(&(agent_type.clone(), severity)) {
            return Ok(choice.clone());
        }
        let task = TaskType::parse(agent_type.as_str())
            .map_err(|_| SimulationError::Task(agent_type.to_string()))?;
        let request = ModelRequest {
            task_type: task,
            severity,
            required_accuracy: None,
            max_cost_per_1k: None,
            expected_input_tokens: None,
            expected_output_tokens: None,
        };
        let (input_tokens, output_tokens) = request.expected_tokens();
        let model = if self.variant == Variant::PrototypeRules {
            self.prices
                .models
                .iter()
                .min_by(|a, b| {
                    billing::tokens_cost(a, input_tokens, output_tokens)
                        .total_cmp(&billing::tokens_cost(b, input_tokens, output_tokens))
                        .then_with(|| a.id.cmp(&b.id))
                })
                .map(|m| m.id.clone())
        } else {
            select(&self.prices, &request, self.mode, |_| 0).ok().map(|c| c.model)
        }
        .ok_or_else(|| SimulationError::NoModel(agent_type.clone(), severity))?;
        let choice = Choice { model, input_tokens, output_tokens };
        self.choices.insert((agent_type.clone(), severity), choice.clone());
        Ok(choice)
    }

    fn try_assign(&mut self, i: usize, at: DateTime<Utc>) -> Result<bool, SimulationError> {
        let incident = &self.incidents[i];
        let Some(fleet) = self.fleets.get_mut(&incident.agent_type) else { return Ok(false) };
        let Some(picked) = fleet.pick(incident.severity, &incident.region, at, &self.down) else {
            return Ok(false);
        };
        let replica = &fleet.replicas[picked];
        let serial = replica.serial;
        let work = Duration::milliseconds((incident.service_s * 1000.0) as i64);
        let start = self.aws.invoke(&fleet.function, &replica.region, at, work);
        if self.scenario.lambda_agents.contains(&incident.agent_type) {
            // What CloudWatch sees of a Lambda agent: invocations, and the most running at once.
            let region = replica.region.clone();
            let running = fleet
                .replicas
                .iter()
                .filter(|r| r.region == region)
                .map(|r| f64::from(r.active))
                .sum::<f64>();
            let seen = self.agent_window.entry((incident.agent_type.clone(), region)).or_default();
            seen.invocations += 1.0;
            seen.concurrent_max = seen.concurrent_max.max(running);
        }
        let done = match start {
            Start::Warm => at + work,
            Start::Cold { init } => at + init + work,
        };
        // Assignment, the minute's counter, the release, the usage report: four writes; the
        // release's read of the replica set: one read.
        self.aws.table(at, 1.0, 4.0);
        let minute = minute_of(at);
        let severity = incident.severity;
        let demand = self.demand.entry((incident.agent_type.clone(), minute)).or_default();
        *demand.served.get_mut(severity) += 1.0;
        if self.refused_in.remove(&i).is_some() {
            *demand.waited.get_mut(severity) += 1.0;
        }
        self.record_usage(i, at)?;
        self.agenda.schedule(done, Event::Done { incident: i, serial, assigned: at });
        Ok(true)
    }

    fn record_usage(&mut self, i: usize, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let incident = &self.incidents[i];
        let (agent_type, severity) = (incident.agent_type.clone(), incident.severity);
        let choice = self.choose(&agent_type, severity)?;
        let key = (hour_of(at), choice.model.clone(), agent_type.to_string());
        let usage = self.pending_usage.entry(key).or_insert_with(|| HourUsage {
            model: choice.model.clone(),
            task_type: agent_type.to_string(),
            ..HourUsage::default()
        });
        usage.calls += 1.0;
        usage.input_tokens += choice.input_tokens * self.token_multiplier;
        usage.output_tokens += choice.output_tokens * self.token_multiplier;
        *usage.severity_calls_mut(severity) += 1.0;
        Ok(())
    }

    fn arrive(&mut self, i: usize, at: DateTime<Utc>) -> Result<(), SimulationError> {
        if self.mode == CostMode::Emergency {
            self.arrived_in_emergency.insert(i);
            self.during_emergency.entry(self.incidents[i].severity).or_default().arrived += 1;
        }
        let agent_type = &self.incidents[i].agent_type;
        let queued = self.waiting.get(agent_type).is_some_and(|q| !q.is_empty());
        // First come, first served: while others wait, a newcomer queues behind them.
        if queued || !self.try_assign(i, at)? {
            self.refuse(i, at);
            self.waiting.entry(self.incidents[i].agent_type.clone()).or_default().push_back(i);
        }
        Ok(())
    }

    /// Counts incident `i` as refused for lack of room in this minute, once, as selection counts
    /// a refused incident that its agent retries under the same id.
    fn refuse(&mut self, i: usize, at: DateTime<Utc>) {
        let minute = minute_of(at);
        if self.refused_in.insert(i, minute) == Some(minute) {
            return;
        }
        let incident = &self.incidents[i];
        let demand = self.demand.entry((incident.agent_type.clone(), minute)).or_default();
        *demand.refused.get_mut(incident.severity) += 1.0;
    }

    /// The demand counted since the last report goes to the ledger, one write per type and
    /// minute (selection would have added it call by call); incidents still waiting count as
    /// refused again in the new minute, as their retries would.
    async fn report_demand(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let waiting: Vec<usize> = self.waiting.values().flatten().copied().collect();
        for i in waiting {
            self.refuse(i, at);
        }
        for ((agent_type, minute), demand) in std::mem::take(&mut self.demand) {
            self.ledger.add(&agent_type, minute, &demand).await?;
        }
        Ok(())
    }

    /// Assigns waiting incidents of `agent_type` until one finds no room.
    fn drain(&mut self, agent_type: &AgentType, at: DateTime<Utc>) -> Result<(), SimulationError> {
        while let Some(&i) = self.waiting.get(agent_type).and_then(VecDeque::front) {
            if !self.try_assign(i, at)? {
                break;
            }
            if let Some(q) = self.waiting.get_mut(agent_type) {
                q.pop_front();
            }
        }
        Ok(())
    }

    fn done(
        &mut self,
        i: usize,
        serial: u64,
        assigned: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), SimulationError> {
        let incident = &self.incidents[i];
        let agent_type = incident.agent_type.clone();
        self.outcomes.completed(&agent_type, &incident.region, incident.at, assigned, at);
        if self.arrived_in_emergency.remove(&i) {
            let served = self.during_emergency.entry(incident.severity).or_default();
            served.completed += 1;
            let waited_s = (assigned - incident.at).num_milliseconds() as f64 / 1000.0;
            served.waited_over_maximum +=
                u64::from(waited_s > super::outcomes::response_targets(&agent_type).1);
        }
        let latency_s = (at - assigned).num_milliseconds() as f64 / 1000.0;
        if let Some(fleet) = self.fleets.get_mut(&agent_type) {
            fleet.finish(serial, latency_s, at);
        }
        self.drain(&agent_type, at)
    }

    /// A region goes down (its agents go silent and take no work) or comes back. Nothing marks
    /// it: the suite has to notice the silence itself.
    async fn outage(&mut self, region: Region, down: bool, at: DateTime<Utc>) -> Result<(), SimulationError> {
        self.aws.set_reachable(&region, !down);
        if down {
            self.down.insert(region);
        } else {
            self.down.remove(&region);
        }
        for fleet in self.fleets.values_mut() {
            fleet.invalidate();
        }
        if self.variant.is_suite() {
            self.heartbeat(at).await?;
        }
        let types: Vec<AgentType> = self.fleets.keys().cloned().collect();
        for agent_type in types {
            self.drain(&agent_type, at)?;
        }
        Ok(())
    }

    /// An operator marks a region (or clears its mark), as `PUT`/`DELETE /regions/{region}/health`
    /// would; only the suite reads region marks.
    async fn operator_mark(&mut self, k: usize, at: DateTime<Utc>) -> Result<(), SimulationError> {
        if !self.variant.is_suite() {
            return Ok(());
        }
        let mark = &self.scenario.operator_marks[k];
        match mark.healthy {
            Some(healthy) => {
                let health = RegionHealth::operator(healthy, 1.0, mark.reason.clone(), at);
                self.fleet.set_region_health(&mark.region, &health).await?;
            }
            None => self.fleet.clear_region_mark(&mark.region, None).await?,
        }
        Ok(())
    }

    /// A price or token-volume jump: prices go into the price table in force (the sweeper and
    /// model selection read it), tokens into every call from now on.
    async fn spike(&mut self, k: usize, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let spike = &self.scenario.cost_spikes[k];
        self.token_multiplier *= spike.token_multiplier;
        if (spike.price_multiplier - 1.0).abs() > f64::EPSILON {
            let mut table = (*self.prices).clone();
            for m in table.models.iter_mut().filter(|m| spike.model.as_ref().is_none_or(|id| id == &m.id)) {
                m.input_per_1k *= spike.price_multiplier;
                m.output_per_1k *= spike.price_multiplier;
            }
            let version = self.price_book.version().await?;
            self.price_book.set(&table, version, at).await?;
            self.prices = Arc::new(table);
            self.choices.clear();
        }
        Ok(())
    }

    /// Reports the usage counted since the last sweep (one counter update per hour, model and
    /// task, as the api's intake would have added call by call), then sweeps.
    async fn sweep(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        for ((hour, _, _), usage) in std::mem::take(&mut self.pending_usage) {
            self.usage.add(hour, &usage).await?;
        }
        let report = self.sweeper.sweep(at).await?;
        let previous = &report.previous_hour;
        if previous.start >= self.scenario.start && self.hours.last().is_none_or(|h| h.hour < previous.start)
        {
            self.close_hour(previous, at);
        }
        let controls = self.fleet.cost_control().await?;
        let mode = CostMode::from_control(&controls, at);
        if mode != self.mode {
            self.mode = mode;
            self.choices.clear();
        }
        self.sweeps.push(SweepPoint {
            at,
            hourly_cost: report.current_metrics.hourly_cost,
            daily_projection: report.current_metrics.daily_projection,
            level: report.current_metrics.cost_threshold,
            emergency_mode: report.emergency_mode,
            actions: report.actions.iter().map(|a| a.reason().to_owned()).collect(),
        });
        Ok(())
    }

    fn close_hour(&mut self, hour: &HourCost, at: DateTime<Utc>) {
        let (warm, cold) = self.aws.starts();
        let (warm_before, cold_before) = self.starts_at_hour;
        self.starts_at_hour = (warm, cold);
        // Sweeps run on the hour, so the starts since the last close are the hour's.
        debug_assert!(at - hour.start <= Duration::hours(2));
        self.hours.push(HourRow {
            hour: hour.start,
            spend: hour.total,
            by_service: hour.by_service.clone(),
            warm_starts: warm - warm_before,
            cold_starts: cold - cold_before,
        });
    }

    /// The autoscaler's round: every type evaluated, the simulated fleet brought to what was
    /// decided per region, and a sample taken.
    async fn evaluate(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        if self.variant.is_suite() {
            self.report_demand(at).await?;
            self.publish_agent_figures(at);
            // With two control planes, the one holding the lease ticks (none, in the gap).
            let scaler = match &mut self.control {
                Some(c) => c.tick(at).await?,
                None => Some(self.scaler.clone()),
            };
            if let Some(scaler) = scaler {
                let report = scaler.tick(at).await?;
                self.ticks += 1;
                if let Some(failure) = report.failures.first() {
                    return Err(SimulationError::Tick(failure.agent_type.clone(), failure.error.clone()));
                }
                self.region_events.extend(report.region_changes);
            }
        }
        let types: Vec<AgentType> = self.fleets.keys().cloned().collect();
        for agent_type in types {
            let mut prediction = None;
            match self.variant {
                Variant::Suite | Variant::SuiteReactive => {
                    let (state, _) = self.fleet.scaling_state(&agent_type).await?;
                    self.reconcile(&agent_type, &state.desired, at);
                    prediction = state.prediction;
                }
                Variant::PrototypeRules => self.prototype(&agent_type, at),
                Variant::StaticPeak => {}
            }
            self.drain(&agent_type, at)?;
            self.sample(&agent_type, at, prediction.as_ref());
        }
        Ok(())
    }

    /// What CloudWatch and the Lambda API show of each Lambda agent, from the simulated
    /// environments: provisioned concurrency allocated (the ready replicas in each region) and the
    /// last minute's invocations and peak executions.
    fn publish_agent_figures(&mut self, at: DateTime<Utc>) {
        for agent_type in &self.scenario.lambda_agents {
            let Some(fleet) = self.fleets.get(agent_type) else { continue };
            for region in &self.regions {
                let here = fleet.replicas.iter().filter(|r| &r.region == region);
                let allocated = here.clone().filter(|r| r.ready_at <= at && !r.draining).count();
                let running: f64 = here.map(|r| f64::from(r.active)).sum();
                let seen =
                    self.agent_window.remove(&(agent_type.clone(), region.clone())).unwrap_or_default();
                let figures = LambdaFigures {
                    allocated: u32::try_from(allocated).unwrap_or(u32::MAX),
                    concurrent_max: seen.concurrent_max.max(running),
                    ..seen
                };
                self.aws.publish_agent_figures(&fleet.function, region, figures);
            }
        }
    }

    /// CloudWatch evaluates the managed alarms; each transition into ALARM invokes the scaler for
    /// its type (the alarm's Lambda action), through the same evaluation as the tick.
    async fn alarms(&mut self, at: DateTime<Utc>) -> Result<(), SimulationError> {
        let mut fired = Vec::new();
        for (agent_type, alarm) in &mut self.alarms {
            if alarm.evaluate(&self.cloudwatch, at) {
                fired.push(agent_type.clone());
            }
        }
        let longest = self.alarms.iter().map(|(_, a)| a.spec.evaluation_periods).max().unwrap_or(1);
        self.cloudwatch.forget_before(at - Duration::minutes(i64::from(longest) + 2));
        for agent_type in fired {
            *self.alarm_invocations.entry(agent_type.clone()).or_default() += 1;
            let scaler = match &self.control {
                Some(c) => c.alarm_target(),
                None => Some(self.scaler.clone()),
            };
            if let Some(scaler) = scaler {
                scaler.evaluate(&ScalingRequest::alarm(agent_type.clone(), at, None), at).await?;
            }
            let (state, _) = self.fleet.scaling_state(&agent_type).await?;
            self.reconcile(&agent_type, &state.desired, at);
            self.drain(&agent_type, at)?;
        }
        Ok(())
    }

    fn prototype(&mut self, agent_type: &AgentType, at: DateTime<Utc>) {
        let (Some(fleet), Some(policy)) = (self.fleets.get(agent_type), self.policies.get(agent_type)) else {
            return;
        };
        let current: BTreeMap<Region, u32> =
            self.regions.iter().map(|r| (r.clone(), fleet.kept(r))).collect();
        let utilization = fleet.utilization(at, &self.down);
        if let Some(next) =
            prototype_step(&current, utilization, policy, self.last_change.get(agent_type).copied(), at)
        {
            self.last_change.insert(agent_type.clone(), at);
            self.reconcile(agent_type, &next, at);
        }
    }

    fn reconcile(&mut self, agent_type: &AgentType, desired: &PerRegion<u32>, at: DateTime<Utc>) {
        self.desired.insert(agent_type.clone(), desired.iter().map(|(r, n)| (r.to_string(), *n)).collect());
        for (region, &want) in desired {
            let have = self.fleets.get(agent_type).map_or(0, |f| f.kept(region));
            for _ in have..want {
                self.add_replica(agent_type, region.clone(), at + REPLICA_START);
            }
            if have > want
                && let Some(fleet) = self.fleets.get_mut(agent_type)
            {
                fleet.drain(region, have - want);
            }
        }
    }

    fn sample(&mut self, agent_type: &AgentType, at: DateTime<Utc>, prediction: Option<&Prediction>) {
        let Some(fleet) = self.fleets.get(agent_type) else { return };
        let mut replicas = BTreeMap::new();
        for r in fleet.replicas.iter().filter(|r| r.ready_at <= at && !r.draining) {
            *replicas.entry(r.region.to_string()).or_insert(0) += 1;
        }
        let kept = fleet.replicas.iter().filter(|r| !r.draining).count() as u64;
        *self.replica_minutes.entry(agent_type.clone()).or_default() += kept;
        let desired = self.desired.get(agent_type).cloned().unwrap_or_else(|| replicas.clone());
        self.samples.push(Sample {
            at,
            agent_type: agent_type.clone(),
            replicas,
            desired,
            utilization: fleet.utilization(at, &self.down),
            utilization_by_region: self
                .regions
                .iter()
                .filter(|r| !self.down.contains(*r))
                .map(|r| (r.to_string(), fleet.region_utilization(r, at, &self.down)))
                .collect(),
            waiting: self.waiting.get(agent_type).map_or(0, VecDeque::len),
            prediction: prediction.map(|p| p.status),
            predictive_floor: prediction.and_then(floor).map(|f| f.replicas),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::incidents;

    async fn run_quietly(s: &Scenario, day: &[Incident], variant: Variant) -> DayRun {
        run(s, day, variant, &mut to_the_end).await.unwrap()
    }

    /// Two hours in two regions: New York's morning starts at 13:00 UTC, so load jumps almost fortyfold
    /// an hour in.
    fn scenario(extra: &str) -> Scenario {
        Scenario::parse(&format!(
            r#"{{"name": "t", "start": "2026-03-10T12:00:00Z", "hours": 2, "seed": 3,
                "regions": {{"us-east-1": {{"off_hours_per_minute": 4.0, "business_per_minute": 150.0}},
                             "us-west-2": {{"off_hours_per_minute": 4.0, "business_per_minute": 4.0}}}},
                "agent_mix": {{"detection": 1.0}},
                "severity_mix": {{"high": 1.0}},
                "service": {{"detection": {{"median_s": 20.0, "p95_s": 40.0}}}},
                "limits": {{"detection": {{"min_replicas": 2, "max_replicas": 10}}}}{extra}}}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn the_autoscaler_follows_the_morning_and_every_incident_is_accounted_for() {
        let s = scenario("");
        let day = incidents(&s);
        let run = run_quietly(&s, &day, Variant::Suite).await;
        let detection = &run.outcomes[&AgentType::parse("detection").unwrap()];
        assert_eq!(detection.completed + detection.unserved, day.len() as u64);
        let replicas = |sample: &Sample| sample.replicas.values().sum::<u32>();
        let night = run
            .samples
            .iter()
            .filter(|x| x.at < s.start + Duration::minutes(55))
            .map(replicas)
            .max()
            .unwrap();
        let morning = run
            .samples
            .iter()
            .filter(|x| x.at > s.start + Duration::minutes(90))
            .map(replicas)
            .max()
            .unwrap();
        assert!(night <= 2 && morning > night, "night {night}, morning {morning}");
        assert!(detection.over_maximum_share < 0.05, "{detection:?}");
        // Both hours priced, the model calls among the costs, the warmer's pings among the starts.
        assert_eq!(run.hours.len(), 2, "{:?}", run.hours);
        assert!(
            run.hours.iter().all(|h| h.by_service.get(crate::cost::report::LLM).is_some_and(|c| *c > 0.0)),
            "{:?}",
            run.hours
        );
        assert!(run.spend > 0.0 && run.warm_starts > 0 && run.cold_starts > 0, "{run:?}");
        assert_eq!(run.sweeps.len(), 9, "every 15 minutes and at the end");
    }

    #[tokio::test]
    async fn scaling_ahead_of_the_recorded_ramp_cuts_the_morning_wait_and_a_broken_pattern_turns_it_off() {
        let history = r#", "history": {"weeks": 2}"#;
        // Two weeks after the US went to summer time, so the recorded weeks ramp at the same UTC
        // hour as the day (the weekly pattern is kept in UTC; see docs/scaling.md).
        let after_dst = DateTime::parse_from_rfc3339("2026-03-24T12:00:00Z").unwrap().with_timezone(&Utc);
        let mut s = scenario(history);
        s.start = after_dst;
        let day = incidents(&s);
        let ahead = run_quietly(&s, &day, Variant::Suite).await;
        let reactive = run_quietly(&s, &day, Variant::SuiteReactive).await;
        let morning =
            |r: &DayRun| r.mornings.iter().find(|m| m.region.as_str() == "us-east-1").cloned().unwrap();
        let (a, b) = (morning(&ahead), morning(&reactive));
        assert_eq!(a.hour, s.start + Duration::hours(1), "09:00 in New York");
        println!("morning p99 wait: {:.1} s ahead, {:.1} s reactive", a.wait.p99_s, b.wait.p99_s);
        assert!(a.wait.p99_s < b.wait.p99_s, "ahead {a:?}, reactive {b:?}");
        let hours = |r: &DayRun| r.replica_hours.values().sum::<f64>();
        println!("replica-hours: {:.2} ahead, {:.2} reactive", hours(&ahead), hours(&reactive));
        assert!(hours(&ahead) <= hours(&reactive) * 1.10, "{} vs {}", hours(&ahead), hours(&reactive));
        // The floor came before the ramp: at 12:55 the suite already kept more than the minimum.
        let before = |r: &DayRun| {
            r.samples
                .iter()
                .find(|x| x.at == s.start + Duration::minutes(55))
                .map(|x| x.desired.values().sum::<u32>())
        };
        assert!(before(&ahead) > before(&reactive), "{:?} vs {:?}", before(&ahead), before(&reactive));
        assert!(ahead.samples.iter().any(|x| x.predictive_floor.is_some()));
        assert!(reactive.samples.iter().all(|x| x.prediction == Some(PredictionStatus::Disabled)));

        // A holiday: New York stays quiet after two usual weeks. The forecast asks for the ramp;
        // the guard notices the quiet quarter hour and turns it off.
        let usual = r#""us-east-1": {"off_hours_per_minute": 4.0, "business_per_minute": 150.0}, "us-west-2": {"off_hours_per_minute": 4.0, "business_per_minute": 4.0}"#;
        let mut holiday = scenario(&format!(r#", "history": {{"weeks": 2, "regions": {{{usual}}}}}"#));
        holiday.start = after_dst;
        holiday.regions.values_mut().for_each(|l| l.business_per_minute = l.off_hours_per_minute);
        let quiet = incidents(&holiday);
        let guarded = run_quietly(&holiday, &quiet, Variant::Suite).await;
        let plain = run_quietly(&holiday, &quiet, Variant::SuiteReactive).await;
        let off = guarded
            .samples
            .iter()
            .find(|x| x.prediction == Some(PredictionStatus::ErrorTooHigh))
            .map(|x| x.at);
        assert!(off.is_some_and(|at| at <= s.start + Duration::minutes(80)), "{off:?}");
        assert!(
            guarded
                .samples
                .iter()
                .filter(|x| x.at > s.start + Duration::minutes(80))
                .all(|x| x.predictive_floor.is_none()),
            "no floor once the guard is off"
        );
        println!(
            "holiday replica-hours: {:.2} with the forecast, {:.2} reactive",
            hours(&guarded),
            hours(&plain)
        );
        // What the wrong forecast costs: its replicas from ten minutes before the hour until the
        // guard's quarter hour is seen, and the scale-down window after.
        assert!(hours(&guarded) - hours(&plain) <= 1.5, "{} vs {}", hours(&guarded), hours(&plain));
        assert!(morning(&guarded).wait.p99_s <= morning(&plain).wait.p99_s + 1.0);
    }

    #[tokio::test]
    async fn the_prototype_rules_lag_the_morning_and_static_capacity_costs_more_replica_hours() {
        let s = scenario("");
        let day = incidents(&s);
        let suite = run_quietly(&s, &day, Variant::Suite).await;
        let prototype = run_quietly(&s, &day, Variant::PrototypeRules).await;
        let fixed = run_quietly(&s, &day, Variant::StaticPeak).await;
        let detection = AgentType::parse("detection").unwrap();
        let p99 = |r: &DayRun| r.outcomes[&detection].wait.p99_s;
        assert!(
            p99(&prototype) > p99(&suite),
            "one replica per 300 s is slower: {} vs {}",
            p99(&prototype),
            p99(&suite)
        );
        assert!(fixed.replica_hours[&detection] > suite.replica_hours[&detection]);
        // The prototype's cheapest model costs less per call than the suite's choice for high severity.
        let llm = |r: &DayRun| {
            r.hours
                .iter()
                .map(|h| h.by_service.get(crate::cost::report::LLM).copied().unwrap_or(0.0))
                .sum::<f64>()
        };
        assert!(llm(&prototype) < llm(&suite), "{} vs {}", llm(&prototype), llm(&suite));
    }
}

#[cfg(test)]
mod lambda_agent_tests {
    use super::*;
    use crate::simulation::incidents;

    /// A Lambda agent reports no heartbeats: the scaler sizes it from the simulated account's
    /// allocated provisioned concurrency and executions, read once per region and tick.
    #[tokio::test]
    async fn a_lambda_agent_scales_on_its_figures_alone() {
        let s = Scenario::parse(
            r#"{"name": "t", "start": "2026-03-10T12:00:00Z", "hours": 2, "seed": 3,
                "regions": {"us-east-1": {"off_hours_per_minute": 4.0, "business_per_minute": 150.0},
                            "us-west-2": {"off_hours_per_minute": 4.0, "business_per_minute": 4.0}},
                "agent_mix": {"detection": 1.0},
                "severity_mix": {"high": 1.0},
                "service": {"detection": {"median_s": 20.0, "p95_s": 40.0}},
                "limits": {"detection": {"min_replicas": 2, "max_replicas": 150}},
                "lambda_agents": ["detection"]}"#,
        )
        .unwrap();
        let day = incidents(&s);
        let run = run(&s, &day, Variant::Suite, &mut to_the_end).await.unwrap();
        assert_eq!(run.agent_metric_reads, 2 * 120, "two regions, every tick");
        let replicas = |x: &Sample| x.replicas.values().sum::<u32>();
        let night = run
            .samples
            .iter()
            .filter(|x| x.at < s.start + Duration::minutes(55))
            .map(replicas)
            .max()
            .unwrap();
        let morning = run
            .samples
            .iter()
            .filter(|x| x.at > s.start + Duration::minutes(90))
            .map(replicas)
            .max()
            .unwrap();
        // Sized to each minute's peak executions (CloudWatch's Maximum), one incident per environment.
        assert!(morning >= 60 && morning > 3 * night, "night {night}, morning {morning}");
        let detection = &run.outcomes[&AgentType::parse("detection").unwrap()];
        assert!(detection.over_maximum_share < 0.05, "{detection:?}");
    }
}

#[cfg(test)]
mod outage_tests {
    use super::*;
    use crate::simulation::incidents;

    #[tokio::test]
    async fn an_outage_moves_the_work_to_the_other_region() {
        let s = Scenario::parse(
            r#"{"name": "t", "start": "2026-03-10T13:00:00Z", "hours": 1, "seed": 5,
                "regions": {"us-east-1": {"off_hours_per_minute": 60.0, "business_per_minute": 60.0},
                            "us-west-2": {"off_hours_per_minute": 20.0, "business_per_minute": 20.0}},
                "agent_mix": {"detection": 1.0},
                "severity_mix": {"critical": 1.0},
                "service": {"detection": {"median_s": 20.0, "p95_s": 40.0}},
                "limits": {"detection": {"min_replicas": 2, "max_replicas": 10}},
                "outages": [{"region": "us-east-1", "from": "2026-03-10T13:20:00Z", "minutes": 20}]}"#,
        )
        .unwrap();
        let day = incidents(&s);
        let run = run(&s, &day, Variant::Suite, &mut to_the_end).await.unwrap();
        let during =
            |x: &&Sample| x.at >= s.start + Duration::minutes(30) && x.at < s.start + Duration::minutes(40);
        let west: Vec<u32> = run
            .samples
            .iter()
            .filter(during)
            .map(|x| x.desired.get("us-west-2").copied().unwrap_or(0))
            .collect();
        assert!(west.iter().all(|n| *n >= 2), "the healthy region carries the fleet: {west:?}");
        let detection = &run.outcomes[&AgentType::parse("detection").unwrap()];
        assert_eq!(detection.completed + detection.unserved, day.len() as u64);
        assert!(detection.over_maximum_share < 0.05, "{detection:?}");
    }
}

#[cfg(test)]
mod control_plane_tests {
    use super::*;
    use crate::simulation::incidents;

    #[tokio::test]
    async fn the_standby_takes_over_after_the_takeover_time_and_the_deposed_regions_late_decision_is_refused()
    {
        let s = Scenario::parse(
            r#"{"name": "t", "start": "2026-03-10T13:00:00Z", "hours": 2, "seed": 5,
                "regions": {"us-east-1": {"off_hours_per_minute": 60.0, "business_per_minute": 60.0},
                            "us-west-2": {"off_hours_per_minute": 20.0, "business_per_minute": 20.0}},
                "agent_mix": {"detection": 1.0},
                "severity_mix": {"critical": 1.0},
                "service": {"detection": {"median_s": 20.0, "p95_s": 40.0}},
                "limits": {"detection": {"min_replicas": 2, "max_replicas": 10}},
                "outages": [{"region": "us-east-1", "from": "2026-03-10T13:20:00Z", "minutes": 30}],
                "control_plane": {"home": "us-east-1", "standby": "us-west-2", "takeover_after_minutes": 5,
                                  "outage_from": "2026-03-10T13:20:00Z", "outage_minutes": 30}}"#,
        )
        .unwrap();
        let day = incidents(&s);
        let run = run(&s, &day, Variant::Suite, &mut to_the_end).await.unwrap();
        let cp = run.control_plane.as_ref().expect("the suite's run reports its control plane");
        let outage = s.start + Duration::minutes(20);
        let takeover = cp.takeover_at.expect("the standby took over");
        let home = Region::parse("us-east-1").unwrap();
        let last_renewal =
            cp.ticks.iter().filter(|t| t.acting.as_ref() == Some(&home)).map(|t| t.at).max().unwrap();
        assert!(
            last_renewal < outage,
            "the home region's last renewal came before its outage: {last_renewal}"
        );
        assert_eq!(
            takeover - last_renewal,
            Duration::minutes(5),
            "the standby acts at the first tick the lease has gone unrenewed for the takeover time"
        );
        assert_eq!(cp.ticks_without_actor, 4, "the gap: the ticks between the last renewal and the takeover");
        assert_eq!(cp.ticks_with_two_actors, 0, "never two regions at once");
        assert_eq!((cp.late_decisions_refused, cp.late_decisions_stored), (1, 0), "the fence held");
        let before: Vec<_> = cp.ticks.iter().filter(|t| t.at < outage).collect();
        assert!(
            before.iter().all(|t| t.acting.as_ref() == Some(&home) && t.epoch == 1),
            "the home region acted first"
        );
        let after: Vec<_> = cp.ticks.iter().filter(|t| t.at >= takeover).collect();
        assert!(
            after.iter().all(|t| t.acting.as_ref().map(Region::as_str) == Some("us-west-2") && t.epoch == 2),
            "the standby keeps the lease after the home region is back: no automatic hand-back"
        );
        let detection = &run.outcomes[&AgentType::parse("detection").unwrap()];
        assert_eq!(detection.completed + detection.unserved, day.len() as u64);
    }
}

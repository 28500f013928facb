//! The simulated AWS the suite's code talks to: the agent functions' execution environments
//! (invoked by the engine for incidents and by the warmer's pings) and the metrics CloudWatch
//! would give the cost sweeper (invocations and duration per function, the table's request
//! units), per minute of simulated time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::containers::{Environments, Start};
use crate::clock::Clock;
use crate::cost::sources::{FunctionMetrics, MeteredSources, PricedFunction, RequestUnits};
use crate::domain::Region;
use crate::error::AdapterError;
use crate::scaling::signals::{AgentMetrics, LambdaFigures};
use crate::sync::lock;
use crate::warming::fanout::{Invoked, Invoker};
use crate::warming::ping::{PingAnswer, WarmPing};
use crate::warming::plan::WarmTarget;

/// Initialisation of an agent function's environment (a cold start).
pub const INIT: Duration = Duration::milliseconds(1_200);
/// Idle environments are reclaimed after this (AWS documents none; a commonly observed figure).
pub const IDLE_TIMEOUT: Duration = Duration::minutes(10);

/// Invocations and their billed duration in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Minute {
    invocations: f64,
    duration_ms: f64,
}

#[derive(Debug, Default)]
struct State {
    environments: BTreeMap<(String, Region), Environments>,
    /// Per function, per minute since the epoch.
    lambda: BTreeMap<String, BTreeMap<i64, Minute>>,
    /// Table request units per minute (read, write).
    table: BTreeMap<i64, (f64, f64)>,
    /// Lambda agents' figures per alias and region, as CloudWatch and the Lambda API report them.
    agents: BTreeMap<(String, Region), LambdaFigures>,
    /// Reads of those figures (one per region and tick, as the scaler makes them).
    agent_reads: u64,
    /// Regions whose CloudWatch and Lambda API cannot be reached (an outage).
    unreachable: std::collections::BTreeSet<Region>,
}

/// The simulated account, shared by the engine, the warmer's invoker and the sweeper's sources.
#[derive(Debug, Clone)]
pub struct SimulatedAws {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

fn minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

impl SimulatedAws {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { state: Arc::default(), clock }
    }

    /// The environments of `function` in `region`, none at first.
    fn environments<'a>(state: &'a mut State, function: &str, region: &Region) -> &'a mut Environments {
        state
            .environments
            .entry((function.to_owned(), region.clone()))
            .or_insert_with(|| Environments::new(IDLE_TIMEOUT, INIT))
    }

    fn meter(state: &mut State, function: &str, at: DateTime<Utc>, duration: Duration) {
        let m = state.lambda.entry(function.to_owned()).or_default().entry(minute(at)).or_default();
        m.invocations += 1.0;
        m.duration_ms += duration.num_milliseconds() as f64;
    }

    /// What the Lambda agent `function` shows in `region` now: its allocated provisioned
    /// concurrency and its last minute's executions (published by the engine from the simulated
    /// environments each minute).
    pub fn publish_agent_figures(&self, function: &str, region: &Region, figures: LambdaFigures) {
        lock(&self.state).agents.insert((function.to_owned(), region.clone()), figures);
    }

    /// A region's AWS endpoints go away (an outage) or come back.
    pub fn set_reachable(&self, region: &Region, reachable: bool) {
        let mut state = lock(&self.state);
        if reachable {
            state.unreachable.remove(region);
        } else {
            state.unreachable.insert(region.clone());
        }
    }

    /// How often the scaler read Lambda agents' figures.
    pub fn agent_reads(&self) -> u64 {
        lock(&self.state).agent_reads
    }

    /// One incident's invocation of `function` in `region` at `at`, working for `work`.
    pub fn invoke(&self, function: &str, region: &Region, at: DateTime<Utc>, work: Duration) -> Start {
        let mut state = lock(&self.state);
        let start = Self::environments(&mut state, function, region).invoke(at, work);
        let billed = match start {
            Start::Warm => work,
            Start::Cold { init } => work + init,
        };
        Self::meter(&mut state, function, at, billed);
        start
    }

    /// Request units the suite's table used at `at`.
    pub fn table(&self, at: DateTime<Utc>, read: f64, write: f64) {
        let mut state = lock(&self.state);
        let units = state.table.entry(minute(at)).or_default();
        units.0 += read;
        units.1 += write;
    }

    /// Warm and cold starts so far, over every function and region.
    pub fn starts(&self) -> (u64, u64) {
        let state = lock(&self.state);
        state.environments.values().fold((0, 0), |(w, c), e| (w + e.warm_starts, c + e.cold_starts))
    }
}

#[async_trait]
impl Invoker for SimulatedAws {
    /// A warming ping: it holds an environment of the target (starting one if none is free) and
    /// answers as the function's ping handler does.
    async fn invoke(&self, target: &WarmTarget, payload: &Value) -> Result<Invoked, AdapterError> {
        let Some(ping) = WarmPing::detect(payload) else {
            return Err(AdapterError::permanent(
                "Lambda invoke",
                "the simulated agent functions only answer warming pings here",
            ));
        };
        let at = self.clock.now();
        let hold = Duration::milliseconds(i64::try_from(ping.hold_ms).unwrap_or(0));
        let mut state = lock(&self.state);
        let (id, cold) = Self::environments(&mut state, &target.function, &target.region).ping(at, hold);
        let billed = if cold { hold + INIT } else { hold };
        Self::meter(&mut state, &target.function, at, billed);
        let answer = PingAnswer {
            warm: true,
            cold_start: cold,
            container_id: format!("{}-{}-{id}", target.function, target.region),
            correlation_id: ping.correlation_id,
        };
        Ok(Invoked {
            payload: serde_json::to_value(answer)
                .map_err(|e| AdapterError::permanent("Lambda invoke", e.to_string()))?,
            function_error: None,
            billed_ms: u64::try_from(billed.num_milliseconds()).ok(),
        })
    }
}

#[async_trait]
impl MeteredSources for SimulatedAws {
    async fn lambda(
        &self,
        functions: &[PricedFunction],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<FunctionMetrics>, AdapterError> {
        let state = lock(&self.state);
        Ok(functions
            .iter()
            .map(|f| {
                let minutes = state.lambda.get(&f.name);
                let total = minutes.into_iter().flat_map(|m| m.range(minute(start)..minute(end))).fold(
                    Minute::default(),
                    |acc, (_, m)| Minute {
                        invocations: acc.invocations + m.invocations,
                        duration_ms: acc.duration_ms + m.duration_ms,
                    },
                );
                FunctionMetrics {
                    name: f.name.clone(),
                    invocations: total.invocations,
                    duration_ms_sum: total.duration_ms,
                    max_memory_used_mb: None,
                }
            })
            .collect())
    }

    async fn dynamodb(
        &self,
        _table: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<RequestUnits, AdapterError> {
        let state = lock(&self.state);
        let (read, write) = state
            .table
            .range(minute(start)..minute(end))
            .fold((0.0, 0.0), |(r, w), (_, (mr, mw))| (r + mr, w + mw));
        Ok(RequestUnits { read, write })
    }

    /// The allocation the engine last published for each qualified function, summed over the
    /// regions (as the Lambda API read region by region answers it).
    async fn provisioned(&self, functions: &[PricedFunction]) -> Result<Vec<(String, u32)>, AdapterError> {
        let state = lock(&self.state);
        Ok(functions
            .iter()
            .filter(|f| f.provisioned_qualifier.is_some())
            .map(|f| {
                let units = state
                    .agents
                    .iter()
                    .filter(|((name, _), _)| *name == f.name)
                    .map(|(_, figures)| figures.allocated)
                    .fold(0u32, u32::saturating_add);
                (f.name.clone(), units)
            })
            .collect())
    }
}

#[async_trait]
impl AgentMetrics for SimulatedAws {
    async fn lambda_figures(
        &self,
        region: &Region,
        functions: &[String],
        _qualifier: &str,
        _window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<BTreeMap<String, LambdaFigures>, AdapterError> {
        let mut state = lock(&self.state);
        state.agent_reads += 1;
        if state.unreachable.contains(region) {
            return Err(AdapterError::transient("agent metrics", "the region is down").in_region(region));
        }
        Ok(functions
            .iter()
            .map(|f| (f.clone(), state.agents.get(&(f.clone(), region.clone())).copied().unwrap_or_default()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::cost::Architecture;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_799_996_400 + s, 0).unwrap()
    }

    #[tokio::test]
    async fn the_metrics_count_what_was_invoked_in_the_window_asked_for() {
        let clock = Arc::new(ManualClock::new(t(0)));
        let aws = SimulatedAws::new(clock.clone());
        let east = Region::parse("us-east-1").unwrap();
        assert!(matches!(
            aws.invoke("detection-agent", &east, t(0), Duration::seconds(10)),
            Start::Cold { .. }
        ));
        assert_eq!(aws.invoke("detection-agent", &east, t(30), Duration::seconds(10)), Start::Warm);
        aws.invoke("detection-agent", &east, t(130), Duration::seconds(10));
        let f = PricedFunction {
            name: "detection-agent".into(),
            memory_mb: 1024,
            architecture: Architecture::Arm64,
            provisioned_qualifier: None,
            critical: false,
        };
        let first_two_minutes = aws.lambda(std::slice::from_ref(&f), t(0), t(120)).await.unwrap();
        let (invocations, duration_ms) =
            (first_two_minutes[0].invocations, first_two_minutes[0].duration_ms_sum);
        assert_eq!((invocations as u64, duration_ms as u64), (2, 21_200), "the cold start's init is billed");
        let all = aws.lambda(&[f], t(0), t(3600)).await.unwrap();
        assert_eq!(all[0].invocations as u64, 3);
        assert_eq!(aws.starts(), (2, 1));
        aws.table(t(5), 1.0, 3.0);
        aws.table(t(200), 1.0, 3.0);
        assert_eq!(aws.dynamodb("t", t(0), t(60)).await.unwrap(), RequestUnits { read: 1.0, write: 3.0 });
    }
}

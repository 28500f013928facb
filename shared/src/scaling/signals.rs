//! What an evaluation observes of a type: its live replicas and their load, from heartbeats
//! (long-running agents) or from CloudWatch and the Lambda API (agents that are Lambda
//! functions). The port to CloudWatch is [`AgentMetrics`]; turning its figures into replicas is
//! pure ([`lambda_replicas`]).

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{AgentType, Region, Replica, ReplicaId};
use crate::error::AdapterError;

/// Where a type's live count and utilization come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Replicas report themselves (`POST /replicas/heartbeat`): long-running agents.
    Heartbeats,
    /// Lambda agents: provisioned concurrency allocated on the alias per region (the live count)
    /// and the alias's concurrent executions, errors and throttles from CloudWatch.
    Cloudwatch,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heartbeats => "heartbeats",
            Self::Cloudwatch => "cloudwatch",
        }
    }
}

/// One Lambda agent alias in one region over the last window, as CloudWatch and the Lambda API
/// report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaFigures {
    /// Provisioned concurrency allocated (ready) on the alias now.
    pub allocated: u32,
    /// The alias's highest concurrent executions in the window.
    pub concurrent_max: f64,
    pub invocations: f64,
    pub errors: f64,
    pub throttles: f64,
}

impl LambdaFigures {
    /// Failed invocations (errors and throttles) over all attempts; `None` without any.
    pub fn failure_rate(&self) -> Option<f64> {
        let attempts = self.invocations + self.throttles;
        (attempts > 0.0).then(|| ((self.errors + self.throttles) / attempts).min(1.0))
    }
}

/// Reads Lambda agents' figures: one call per region for every function asked about (AWS:
/// one batched `GetMetricData`, plus the provisioned concurrency each alias has allocated).
#[async_trait]
pub trait AgentMetrics: Send + Sync + Debug {
    async fn lambda_figures(
        &self,
        region: &Region,
        functions: &[String],
        qualifier: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<BTreeMap<String, LambdaFigures>, AdapterError>;
}

/// How Lambda agents are named and sized (the provisioned-concurrency actuator's settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAgents {
    /// Function name with `{agent_type}` in it.
    pub function_pattern: String,
    /// The alias that carries provisioned concurrency.
    pub qualifier: String,
    /// Provisioned concurrency one replica stands for (and incidents it runs at once).
    pub concurrency_per_replica: u32,
}

impl LambdaAgents {
    pub fn function(&self, agent_type: &AgentType) -> String {
        self.function_pattern.replace("{agent_type}", agent_type.as_str())
    }
}

/// What one evaluation observed of a type.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub signal: Signal,
    /// False when the source could not be read: the evaluation then holds the count.
    pub available: bool,
    /// Replicas live now: reporting ones, or one per replica's worth of allocated provisioned
    /// concurrency, each with its load.
    pub replicas: Vec<Replica>,
    /// Work in progress that no live replica holds (Lambda: executions beyond the provisioned
    /// concurrency), in incidents.
    pub overflow: f64,
    /// Lambda agents' figures per region (empty for heartbeats).
    pub lambda: BTreeMap<Region, LambdaFigures>,
}

impl Observed {
    pub fn heartbeats(replicas: Vec<Replica>) -> Self {
        Self { signal: Signal::Heartbeats, available: true, replicas, overflow: 0.0, lambda: BTreeMap::new() }
    }

    /// A source that failed: nothing is known.
    pub fn unavailable(signal: Signal) -> Self {
        Self { signal, available: false, replicas: Vec::new(), overflow: 0.0, lambda: BTreeMap::new() }
    }

    /// Live replicas per region.
    pub fn live_by_region(&self) -> BTreeMap<Region, u32> {
        let mut live = BTreeMap::new();
        for r in &self.replicas {
            *live.entry(r.region.clone()).or_insert(0) += 1;
        }
        live
    }
}

/// Reporting replicas where the platform that runs them says fewer run: in each region of
/// `running`, at most that many count, the most recently heard first (a task the platform
/// stopped stops counting at once, not when its heartbeats expire). Regions `running` does not
/// name keep every reporting replica; more running than reporting (tasks starting) adds none,
/// since a replica counts once it reports.
pub fn within_running(mut replicas: Vec<Replica>, running: &BTreeMap<Region, u32>) -> Vec<Replica> {
    replicas.sort_by(|a, b| {
        b.last_heartbeat.cmp(&a.last_heartbeat).then_with(|| a.replica_id.cmp(&b.replica_id))
    });
    let mut kept: BTreeMap<Region, u32> = BTreeMap::new();
    replicas.retain(|r| {
        let Some(limit) = running.get(&r.region) else { return true };
        let n = kept.entry(r.region.clone()).or_insert(0);
        *n += 1;
        *n <= *limit
    });
    replicas
}

/// Lambda agents as replicas: each region's allocated provisioned concurrency divided into
/// replicas of `concurrency_per_replica`, its executions spread over them (at most full), and
/// what ran beyond them as overflow.
pub fn lambda_replicas(
    agent_type: &AgentType,
    figures: &BTreeMap<Region, LambdaFigures>,
    concurrency_per_replica: u32,
    now: DateTime<Utc>,
) -> Observed {
    let per_replica = concurrency_per_replica.max(1);
    let mut replicas = Vec::new();
    let mut overflow = 0.0;
    for (region, f) in figures {
        let live = f.allocated / per_replica;
        let capacity = f64::from(live * per_replica);
        let executions = if f.concurrent_max.is_finite() { f.concurrent_max.max(0.0) } else { 0.0 };
        let held = executions.min(capacity);
        overflow += executions - held;
        for i in 0..live {
            let Ok(replica_id) = ReplicaId::parse(&format!("provisioned-{region}-{i}")) else { continue };
            replicas.push(Replica {
                replica_id,
                agent_type: agent_type.clone(),
                region: region.clone(),
                load: held / f64::from(live),
                capacity: per_replica,
                healthy: true,
                performance_score: 1.0,
                last_heartbeat: now,
                draining: false,
            });
        }
    }
    Observed { signal: Signal::Cloudwatch, available: true, replicas, overflow, lambda: figures.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    /// Running tasks per region, and the replica ids that then count.
    type RunningCase = (&'static [(&'static str, u32)], &'static [&'static str]);

    fn reporting(id: &str, region: &str, seconds_ago: i64) -> Replica {
        let now = DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z").unwrap().with_timezone(&Utc);
        Replica {
            replica_id: ReplicaId::parse(id).unwrap(),
            agent_type: AgentType::parse("triage").unwrap(),
            region: r(region),
            load: 1.0,
            capacity: 2,
            healthy: true,
            performance_score: 1.0,
            last_heartbeat: now - chrono::Duration::seconds(seconds_ago),
            draining: false,
        }
    }

    #[test]
    fn the_running_count_caps_the_reporting_replicas_per_region() {
        let replicas = vec![
            reporting("east-old", "us-east-1", 50),
            reporting("east-new", "us-east-1", 5),
            reporting("east-mid", "us-east-1", 20),
            reporting("west-a", "us-west-2", 5),
            reporting("eu-a", "eu-west-1", 5),
        ];
        // (running per region, replica ids that count)
        let cases: [RunningCase; 4] = [
            (&[], &["east-new", "east-mid", "east-old", "west-a", "eu-a"]),
            (&[("us-east-1", 2)], &["east-new", "east-mid", "west-a", "eu-a"]),
            (&[("us-east-1", 0), ("us-west-2", 5)], &["west-a", "eu-a"]),
            (&[("us-east-1", 1), ("eu-west-1", 0), ("us-west-2", 1)], &["east-new", "west-a"]),
        ];
        for (running, expected) in cases {
            let running: BTreeMap<Region, u32> = running.iter().map(|(code, n)| (r(code), *n)).collect();
            let mut kept: Vec<String> =
                within_running(replicas.clone(), &running).iter().map(|x| x.replica_id.to_string()).collect();
            let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            kept.sort();
            expected.sort();
            assert_eq!(kept, expected, "running {running:?}");
        }
    }

    #[test]
    fn allocated_concurrency_becomes_replicas_and_the_rest_overflows() {
        let figures = BTreeMap::from([
            (
                r("us-east-1"),
                LambdaFigures { allocated: 10, concurrent_max: 14.0, ..LambdaFigures::default() },
            ),
            (r("eu-west-1"), LambdaFigures { allocated: 4, concurrent_max: 1.0, ..LambdaFigures::default() }),
            (r("us-west-2"), LambdaFigures { allocated: 0, concurrent_max: 3.0, ..LambdaFigures::default() }),
        ]);
        let t = AgentType::parse("detection").unwrap();
        let o = lambda_replicas(&t, &figures, 2, DateTime::UNIX_EPOCH);
        let live = o.live_by_region();
        assert_eq!((live[&r("us-east-1")], live[&r("eu-west-1")]), (5, 2));
        assert!(!live.contains_key(&r("us-west-2")), "nothing allocated, nothing live");
        assert!((o.overflow - 7.0).abs() < 1e-9, "4 beyond us-east-1's 10 and all 3 in us-west-2");
        let east: Vec<&Replica> = o.replicas.iter().filter(|x| x.region == r("us-east-1")).collect();
        assert!(east.iter().all(|x| (x.utilization() - 1.0).abs() < 1e-9), "full");
        let eu: f64 = o.replicas.iter().filter(|x| x.region == r("eu-west-1")).map(|x| x.load).sum();
        assert!((eu - 1.0).abs() < 1e-9);
    }

    #[test]
    fn failure_rate_counts_throttles_as_failed_attempts() {
        let f = LambdaFigures { invocations: 6.0, errors: 1.0, throttles: 4.0, ..LambdaFigures::default() };
        assert!((f.failure_rate().unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(LambdaFigures::default().failure_rate(), None);
    }
}

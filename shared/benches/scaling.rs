//! One scaling evaluation of a large fleet: 1,000 agent types in 4 regions, each with replicas in
//! every region and a history, planned by the same pure code the scaler runs. Goal: under 5 ms.

#![allow(clippy::unwrap_used, reason = "bench set-up")]

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use shared::domain::{AgentType, Proximity, Region, Replica, ReplicaId};
use shared::scaling::ScalingPolicy;
use shared::scaling::cost_gate::{CostGate, Spend};
use shared::scaling::demand::DemandMinutes;
use shared::scaling::plan::{PlanInput, plan};
use shared::scaling::records::{AgentScalingState, Trigger};
use shared::scaling::regions::{RegionView, known_replicas};
use shared::scaling::signals::Observed;
use shared::scaling::{Recommendation, ScaleEvent, ScalingHistory};

struct FleetMember {
    agent_type: AgentType,
    policy: ScalingPolicy,
    state: AgentScalingState,
    observed: Observed,
}

fn fleet(now: DateTime<Utc>, types: usize) -> Vec<FleetMember> {
    let regions = Region::defaults();
    (0..types)
        .map(|i| {
            let agent_type = AgentType::parse(&format!("agent-{i}")).unwrap();
            let mut policy = ScalingPolicy::default_for(&agent_type);
            policy.max_replicas = 40;
            let replicas: Vec<Replica> = (0..8)
                .map(|r| Replica {
                    replica_id: ReplicaId::parse(&format!("r{r}")).unwrap(),
                    agent_type: agent_type.clone(),
                    region: regions[r % regions.len()].clone(),
                    load: ((i + r) % 10) as f64,
                    capacity: 10,
                    healthy: r != 3,
                    performance_score: 0.9,
                    last_heartbeat: now,
                    draining: false,
                })
                .collect();
            let history = ScalingHistory {
                recommendations: (0..20)
                    .map(|k| Recommendation {
                        at: now - Duration::seconds(15 * k),
                        replicas: 6 + (k % 4) as u32,
                    })
                    .collect(),
                events: vec![ScaleEvent { at: now - Duration::seconds(40), change: 1 }],
            };
            let state = AgentScalingState {
                desired_total: 8,
                known_replicas: known_replicas(&replicas),
                history,
                evaluated_at: Some(now - Duration::seconds(15)),
                ..AgentScalingState::default()
            };
            FleetMember { agent_type, policy, state, observed: Observed::heartbeats(replicas) }
        })
        .collect()
}

fn evaluate_fleet(c: &mut Criterion) {
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let types = fleet(now, 1000);
    let regions: Vec<RegionView> = Region::defaults()
        .into_iter()
        .map(|region| RegionView {
            region,
            weight: 1.0,
            marked_healthy: true,
            healthy_fraction: None,
            probe: false,
        })
        .collect();
    let gate = CostGate::default();
    let demand = DemandMinutes::default();
    let proximity = Proximity::published();
    c.bench_function("plan 1000 agent types x 4 regions", |b| {
        b.iter(|| {
            for t in &types {
                let planned = plan(&PlanInput {
                    agent_type: &t.agent_type,
                    policy: &t.policy,
                    state: &t.state,
                    observed: &t.observed,
                    demand: &demand,
                    trigger: Trigger::Tick,
                    severity: None,
                    regions: &regions,
                    proximity: &proximity,
                    spend: Spend::default(),
                    gate: &gate,
                    alarm_at: None,
                    dry_run: false,
                    prediction: None,
                    now,
                });
                black_box(planned);
            }
        });
    });
}

criterion_group!(benches, evaluate_fleet);
criterion_main!(benches);

//! One scaling evaluation as a pure function: from the policy, the stored state, what is live
//! now, the recent demand, the regions, the spend and `now` to the new state, its events and the
//! answer to report.
//!
//! The rule (one for every trigger): the autoscaler sizes from the live replicas' utilization,
//! with replicas asked for but not live yet counted as missing (idle on the way up, full on the
//! way down, as the HPA does); above the policy's `scale_up_threshold` it scales up to the size
//! that brings utilization to `target_utilization` (at least one more replica), below
//! `scale_down_threshold` it scales down to that size once the stabilisation window allows,
//! and in between it holds the count in force. Work refused for lack of room, or running beyond
//! the provisioned concurrency, is load the replicas cannot report: it sets a floor.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ScalingPolicy;
use super::autoscaler::{Floor, Observation, decide_with_floor};
use super::cost_gate::{CostGate, GateOutcome, Spend};
use super::demand::{DemandMinutes, DemandWindow, WINDOW, minute_name};
use super::hpa::HpaPolicy;
use super::prediction::{Prediction, floor as predicted_floor};
use super::recorded::{minute_record, note};
use super::records::{
    AgentScalingState, EvaluationRecord, EventKind, RECENT_EVENTS, ScalingEventRecord, Trigger,
};
use super::regions::{
    FailedReplica, RegionView, distribute, failed_replicas, healthy_fractions, known_replicas,
    n_plus_one_warning,
};
use super::signals::{Observed, Signal};
use crate::domain::{AgentType, PerRegion, Proximity, Replica, Severity};

/// What an evaluation decided, as the API and the scaler report it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Evaluation {
    #[schema(value_type = String)]
    pub agent_type: AgentType,
    /// What asked for it.
    pub trigger: Trigger,
    /// Where the live count came from.
    pub signal: Signal,
    /// Replicas live now (reporting, or provisioned concurrency allocated).
    pub current: u32,
    /// The desired count in force before this evaluation.
    pub in_force: u32,
    pub desired: u32,
    /// The desired count per region (a probed region's one replica included).
    #[schema(value_type = BTreeMap<String, u32>)]
    pub desired_by_region: PerRegion<u32>,
    /// Replicas live now, per region.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub live_by_region: PerRegion<u32>,
    /// The severity the cost gate weighed a scale-up by.
    pub severity: Severity,
    /// Recent demand as selection counted it.
    pub demand: DemandWindow,
    pub reasons: Vec<String>,
    pub actions_taken: Vec<String>,
    /// USD per hour the change adds (negative: saves).
    pub cost_impact: f64,
    #[schema(value_type = Vec<Object>)]
    pub failovers: Vec<FailedReplica>,
    pub warnings: Vec<String>,
    pub dry_run: bool,
    /// Whether the decision was stored and actuated.
    pub applied: bool,
    /// The operator's pause that kept it from being stored and applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<super::records::Pause>,
    pub evaluated_at: DateTime<Utc>,
}

/// Everything one evaluation looks at.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub agent_type: &'a AgentType,
    pub policy: &'a ScalingPolicy,
    pub state: &'a AgentScalingState,
    pub observed: &'a Observed,
    /// Selection's counters of the last minutes.
    pub demand: &'a DemandMinutes,
    pub trigger: Trigger,
    /// A severity that came with the request: an alarm's `Severity` dimension (the more severe
    /// of it and the demand's counts) or an operator's choice (taken as it is).
    pub severity: Option<Severity>,
    /// The configured regions with their weight and mark (health is filled in here).
    pub regions: &'a [RegionView],
    pub proximity: &'a Proximity,
    pub spend: Spend,
    pub gate: &'a CostGate,
    pub alarm_at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    /// What the forecast predicts (`None`: the evaluation keeps the state's prediction).
    pub prediction: Option<&'a Prediction>,
    pub now: DateTime<Utc>,
}

/// The new state to store, the events to keep, and the report.
#[derive(Debug, Clone)]
pub struct Plan {
    pub state: AgentScalingState,
    pub events: Vec<ScalingEventRecord>,
    pub evaluation: Evaluation,
}

fn event(kind: EventKind, now: DateTime<Utc>, reasons: Vec<String>) -> ScalingEventRecord {
    ScalingEventRecord {
        at: now,
        kind,
        from: None,
        to: None,
        region: None,
        replica_id: None,
        reasons,
        cost_impact_per_hour: None,
    }
}

/// The desired count in force: the last decision, or before any, the live count within bounds.
pub fn in_force(policy: &ScalingPolicy, state: &AgentScalingState, live: usize) -> u32 {
    if state.evaluated_at.is_some() {
        state.desired_total
    } else {
        u32::try_from(live).unwrap_or(u32::MAX).clamp(policy.min_replicas, policy.max_replicas)
    }
}

/// The severity a scale-up serves: an operator's as given, an alarm's or the demand's, whichever
/// is more severe.
pub fn effective_severity(trigger: Trigger, given: Option<Severity>, demand: &DemandWindow) -> Severity {
    match (trigger, given) {
        (Trigger::Operator, Some(s)) => s,
        // Severity orders from critical (least) to low.
        (_, Some(s)) => s.min(demand.severity()),
        (_, None) => demand.severity(),
    }
}

/// Per-replica utilization, with replicas asked for but not live yet counted as missing (they
/// weigh against any move, as in the HPA).
fn observe(observed: &Observed, in_force: u32) -> Observation {
    if !observed.available {
        return Observation::Unavailable;
    }
    let mut metrics: Vec<Option<f64>> = observed.replicas.iter().map(|r| Some(r.utilization())).collect();
    let mut ready: Vec<bool> = observed.replicas.iter().map(Replica::takes_work).collect();
    let absent = (in_force as usize).saturating_sub(observed.replicas.len());
    metrics.extend(std::iter::repeat_n(None, absent));
    ready.extend(std::iter::repeat_n(true, absent));
    Observation::Replicas { metrics, ready }
}

/// Work no live replica could take sets a floor: enough replicas for the load the live ones carry
/// plus that work at the target utilization, and at least one more than in force once everything
/// asked for is live.
///
/// Refused incidents are counted per minute, so they are turned into concurrent work by Little's
/// law: each holds a replica for the mean service time, which is the live replicas' load over
/// the rate they served at (L = λW); an incident refused again the next minute is counted again,
/// so the count stands for concurrency at most one to one. With nothing served to learn the
/// service time from, each refused incident counts as one in progress. Executions beyond the
/// provisioned concurrency are concurrency already.
pub fn unmet_concurrency(demand: &DemandWindow, refused: f64, live_load: f64, overflow: f64) -> f64 {
    let served_per_minute = demand.served.total() / WINDOW.num_minutes() as f64;
    let service_minutes = if served_per_minute > 0.0 && live_load > 0.0 {
        (live_load / served_per_minute).min(1.0)
    } else {
        1.0
    };
    refused * service_minutes + overflow.max(0.0)
}

fn demand_floor(input: &PlanInput<'_>, window: &DemandWindow, in_force: u32) -> Option<Floor> {
    let refused = input.demand.fresh_refused(&input.state.refusals_answered);
    let overflow = input.observed.overflow;
    if !input.observed.available || !(refused + overflow).is_finite() || refused + overflow <= 0.0 {
        return None;
    }
    let healthy: Vec<_> = input.observed.replicas.iter().filter(|r| r.takes_work()).collect();
    let load: f64 = healthy.iter().map(|r| r.load).sum();
    let unit = if healthy.is_empty() {
        f64::from(input.policy.capacity_per_replica)
    } else {
        healthy.iter().map(|r| f64::from(r.capacity)).sum::<f64>() / healthy.len() as f64
    };
    let unmet = unmet_concurrency(window, refused, load, overflow);
    let needed = ((load + unmet) / (unit * input.policy.target_utilization) - 1e-9).ceil();
    let needed = needed.clamp(0.0, f64::from(u32::MAX)) as u32;
    let all_live = input.observed.replicas.len() >= in_force as usize;
    let step = if all_live { in_force.saturating_add(1) } else { in_force };
    let mut why = Vec::new();
    if refused > 0.0 {
        why.push(format!(
            "{refused:.0} incidents refused for lack of room in a minute of the last {} and not yet answered ({unmet:.1} in progress by Little's law)",
            WINDOW.num_minutes()
        ));
    }
    if overflow > 0.0 {
        why.push(format!("{overflow:.0} executions beyond the provisioned concurrency"));
    }
    Some(Floor { replicas: needed.max(step), reason: why.join(" and ") })
}

/// The state's recording, with the minute before noted when the tick evaluates (its counters
/// are whole by now).
fn recording_after(input: &PlanInput<'_>, desired: u32) -> super::recorded::Recording {
    let mut recording = input.state.recording.clone();
    if input.trigger == Trigger::Tick {
        let (minute, seen) = minute_record(input.observed, input.demand, desired, input.now);
        note(&mut recording, minute, seen, input.now);
    }
    recording
}

/// The higher of two floors (the demand's and the forecast's), with its reason.
fn higher(a: Option<Floor>, b: Option<Floor>) -> Option<Floor> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.replicas > a.replicas { b } else { a }),
        (a, b) => a.or(b),
    }
}

pub fn plan(input: &PlanInput<'_>) -> Plan {
    let now = input.now;
    let hpa = HpaPolicy::from_policy(input.policy);
    let live = input.observed.replicas.len();
    let in_force = in_force(input.policy, input.state, live);
    let window = input.demand.window();
    let demand = demand_floor(input, &window, in_force);
    let refusals_seen = demand.is_some();
    // A failed signal read holds the count, forecast or not.
    let forecast = input.prediction.filter(|_| input.observed.available).and_then(predicted_floor);
    let floor = higher(demand, forecast);
    let mut decision = decide_with_floor(
        &hpa,
        in_force,
        &observe(input.observed, in_force),
        floor.as_ref(),
        &input.state.history,
        now,
    );
    let severity = effective_severity(input.trigger, input.severity, &window);
    let mut events = Vec::new();
    let mut reasons = decision.reasons.clone();
    if decision.desired > in_force
        && let Some(refused) = gate(input, severity, in_force, decision.desired, &mut reasons)
    {
        events.push(refused);
        decision.desired = in_force;
    }
    let cost_impact = decision.change() as f64 * input.policy.cost_per_replica_hour;
    if decision.desired != in_force {
        let kind = if decision.desired > in_force { EventKind::ScaleUp } else { EventKind::ScaleDown };
        let mut scaled = event(kind, now, reasons.clone());
        scaled.from = Some(in_force);
        scaled.to = Some(decision.desired);
        scaled.cost_impact_per_hour = Some(cost_impact);
        events.push(scaled);
    }
    let (live_ids, failovers) = failovers(input, &mut events);

    let health = healthy_fractions(&input.observed.replicas);
    let views: Vec<RegionView> = input
        .regions
        .iter()
        .map(|v| RegionView { healthy_fraction: health.get(&v.region).copied(), ..v.clone() })
        .collect();
    let desired_by_region: PerRegion<u32> = views
        .iter()
        .map(|v| v.region.clone())
        .zip(distribute(decision.desired, &views, input.proximity))
        .collect();
    let live_by_region: PerRegion<u32> = input.observed.live_by_region();
    let warnings: Vec<String> =
        n_plus_one_warning(&input.observed.replicas, input.policy.scale_up_threshold).into_iter().collect();

    let current = u32::try_from(live).unwrap_or(u32::MAX);
    let mut history = input.state.history.clone();
    history.record(&hpa, &decision, now);
    let answered = refusals_seen && decision.desired > in_force;
    let state = AgentScalingState {
        desired_total: decision.desired,
        desired: desired_by_region.clone(),
        // A failed read of the signal forgets nobody.
        known_replicas: if input.observed.available { live_ids } else { input.state.known_replicas.clone() },
        history,
        last_alarm_at: input.state.last_alarm_at.max(input.alarm_at),
        evaluated_at: Some(now),
        recent_events: recent_events(input.state, &events),
        last_live_at: last_live_at(input.state, &live_by_region, now),
        last_evaluation: Some(EvaluationRecord {
            at: now,
            trigger: input.trigger,
            live: current,
            desired: decision.desired,
            severity,
            reasons: reasons.clone(),
        }),
        refusals_answered: refusals_answered(input, answered),
        applied_version: input.state.applied_version,
        // The evaluation stamps its own epoch (the fence) when it stores the state.
        epoch: input.state.epoch,
        prediction: input.prediction.cloned().or_else(|| input.state.prediction.clone()),
        recording: recording_after(input, decision.desired),
    };
    let evaluation = Evaluation {
        agent_type: input.agent_type.clone(),
        trigger: input.trigger,
        signal: input.observed.signal,
        current,
        in_force,
        desired: decision.desired,
        desired_by_region,
        live_by_region,
        severity,
        demand: window,
        reasons,
        actions_taken: Vec::new(),
        cost_impact,
        failovers,
        warnings,
        dry_run: input.dry_run,
        applied: false,
        paused: None,
        evaluated_at: now,
    };
    Plan { state, events, evaluation }
}

/// The cost gate on a scale-up from `in_force` to `desired`: the refusal's event when it refuses.
fn gate(
    input: &PlanInput<'_>,
    severity: Severity,
    in_force: u32,
    desired: u32,
    reasons: &mut Vec<String>,
) -> Option<ScalingEventRecord> {
    let added = desired - in_force;
    let GateOutcome::Refused { reason, cost_impact_per_hour } =
        input.gate.check(severity, input.spend, added, input.policy.cost_per_replica_hour)
    else {
        return None;
    };
    reasons.push(format!("cost gate: {reason}"));
    let mut refused = event(EventKind::ScaleUpRefused, input.now, vec![reason]);
    refused.from = Some(in_force);
    refused.to = Some(desired);
    refused.cost_impact_per_hour = Some(cost_impact_per_hour);
    Some(refused)
}

/// Replicas that stopped reporting, each a failover event; only where replicas report at all.
fn failovers(
    input: &PlanInput<'_>,
    events: &mut Vec<ScalingEventRecord>,
) -> (super::regions::KnownReplicas, Vec<FailedReplica>) {
    let heartbeats = input.observed.signal == Signal::Heartbeats;
    let live_ids = if heartbeats { known_replicas(&input.observed.replicas) } else { BTreeMap::new() };
    if !heartbeats || !input.observed.available {
        return (live_ids, Vec::new());
    }
    let failed = failed_replicas(&input.state.known_replicas, &live_ids);
    for f in &failed {
        let mut e = event(
            EventKind::Failover,
            input.now,
            vec![format!("{} missed three heartbeats: a replacement is due in {}", f.replica_id, f.region)],
        );
        e.region = Some(f.region.to_string());
        e.replica_id = Some(f.replica_id.clone());
        events.push(e);
    }
    (live_ids, failed)
}

fn recent_events(state: &AgentScalingState, events: &[ScalingEventRecord]) -> Vec<ScalingEventRecord> {
    let mut recent = state.recent_events.clone();
    recent.extend(events.iter().cloned());
    let overflow = recent.len().saturating_sub(RECENT_EVENTS);
    recent.drain(..overflow);
    recent
}

fn last_live_at(
    state: &AgentScalingState,
    live_by_region: &PerRegion<u32>,
    now: DateTime<Utc>,
) -> PerRegion<DateTime<Utc>> {
    let mut last = state.last_live_at.clone();
    for region in live_by_region.keys() {
        last.insert(region.clone(), now);
    }
    last
}

/// Refusals a scale-up answers do not ask again; only the window's minutes are remembered.
fn refusals_answered(input: &PlanInput<'_>, answered_now: bool) -> BTreeMap<String, f64> {
    let in_window = |minute: &String| input.demand.0.iter().any(|(at, _)| &minute_name(*at) == minute);
    let mut kept: BTreeMap<String, f64> = input
        .state
        .refusals_answered
        .iter()
        .filter(|(minute, _)| in_window(minute))
        .map(|(m, n)| (m.clone(), *n))
        .collect();
    if answered_now {
        kept.extend(input.demand.refused_by_minute());
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::ScalingPolicy;
    use crate::scaling::demand::BySeverity;

    #[test]
    fn refused_incidents_become_concurrency_by_the_service_time() {
        let demand = |served: f64, refused: f64| DemandWindow {
            served: BySeverity { high: served, ..BySeverity::default() },
            refused: BySeverity { high: refused, ..BySeverity::default() },
            waited: BySeverity::default(),
        };
        // 40 in progress while serving 100 a minute: 0.4 minutes each; 50 refused = 20 more.
        assert!((unmet_concurrency(&demand(200.0, 50.0), 50.0, 40.0, 0.0) - 20.0).abs() < 1e-9);
        // Long work (over a minute each): every refused incident is one more in progress.
        assert!((unmet_concurrency(&demand(4.0, 10.0), 10.0, 40.0, 0.0) - 10.0).abs() < 1e-9);
        assert!(
            (unmet_concurrency(&demand(0.0, 10.0), 10.0, 0.0, 0.0) - 10.0).abs() < 1e-9,
            "nothing served yet"
        );
        assert!(
            (unmet_concurrency(&demand(0.0, 0.0), 0.0, 0.0, 3.0) - 3.0).abs() < 1e-9,
            "overflow as it is"
        );
    }

    /// Detection (2-10 replicas of 20 at 0.7, $2 a replica-hour) with `in_force` decided and
    /// `live` replicas at `load` each, a prediction whose floor is `floor`, `hourly` spend.
    fn planned(
        in_force: u32,
        live: usize,
        load: f64,
        floor: Option<u32>,
        hourly: f64,
        available: bool,
    ) -> u32 {
        let detection = AgentType::parse("detection").unwrap();
        let policy = ScalingPolicy::default_for(&detection);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let east = crate::domain::Region::parse("us-east-1").unwrap();
        let replicas = (0..live)
            .map(|i| Replica {
                replica_id: crate::domain::ReplicaId::parse(&format!("r{i}")).unwrap(),
                agent_type: detection.clone(),
                region: east.clone(),
                load,
                capacity: 20,
                healthy: true,
                performance_score: 0.9,
                last_heartbeat: now,
                draining: false,
            })
            .collect();
        let observed = Observed {
            signal: Signal::Heartbeats,
            available,
            replicas,
            overflow: 0.0,
            lambda: BTreeMap::new(),
        };
        let state = AgentScalingState {
            desired_total: in_force,
            evaluated_at: Some(now),
            ..AgentScalingState::default()
        };
        let prediction = Prediction {
            status: crate::scaling::prediction::PredictionStatus::Active,
            forecasts: Vec::new(),
            service_minutes: Some(2.0),
            error: None,
            floor,
            reason: "test forecast".into(),
            made_for: None,
        };
        let regions = [RegionView {
            region: east,
            weight: 1.0,
            marked_healthy: true,
            healthy_fraction: None,
            probe: false,
        }];
        let planned = plan(&PlanInput {
            agent_type: &detection,
            policy: &policy,
            state: &state,
            observed: &observed,
            demand: &DemandMinutes::default(),
            trigger: Trigger::Tick,
            severity: None,
            regions: &regions,
            proximity: &Proximity::published(),
            spend: Spend { hourly, emergency: false, stale: false },
            gate: &CostGate::default(),
            alarm_at: None,
            dry_run: false,
            prediction: Some(&prediction),
            now,
        });
        planned.evaluation.desired
    }

    /// (in force, live, load each, floor, spend $/h, signal read, desired)
    type Row = (u32, usize, f64, Option<u32>, f64, bool, u32);

    #[test]
    fn the_forecasts_floor_raises_ahead_never_scales_in_stays_in_bounds_and_obeys_the_gate() {
        // (in force, live, load each, floor, spend $/h, signal read, desired)
        let table: [Row; 7] = [
            (2, 2, 2.0, Some(5), 0.0, true, 5), // ahead of the ramp: 10 % used, 5 asked
            (2, 2, 2.0, None, 0.0, true, 2),    // no forecast: the minimum holds
            (8, 8, 7.0, Some(3), 0.0, true, 8), // in the band, a lower floor changes nothing
            (8, 8, 2.0, Some(3), 0.0, true, 3), // scale-in stays reactive, held at the floor
            (6, 6, 2.0, Some(50), 0.0, true, 10), // never past max_replicas
            (2, 2, 2.0, Some(5), 99.0, true, 2), // $6/h more would pass the low limit of $100/h
            (2, 2, 2.0, Some(5), 0.0, false, 2), // a failed signal read holds the count
        ];
        for (in_force, live, load, floor, hourly, available, expected) in table {
            assert_eq!(
                planned(in_force, live, load, floor, hourly, available),
                expected,
                "{in_force} in force, {live} at {load}, floor {floor:?}, ${hourly}/h, read {available}"
            );
        }
    }

    #[test]
    fn a_draining_replica_is_observed_as_not_ready() {
        let replica = |id: &str, healthy: bool, draining: bool| Replica {
            replica_id: crate::domain::ReplicaId::parse(id).unwrap(),
            agent_type: AgentType::parse("detection").unwrap(),
            region: crate::domain::Region::parse("us-east-1").unwrap(),
            load: 4.0,
            capacity: 10,
            healthy,
            performance_score: 0.9,
            last_heartbeat: DateTime::UNIX_EPOCH,
            draining,
        };
        let observed = Observed {
            signal: Signal::Heartbeats,
            available: true,
            replicas: vec![replica("a", true, false), replica("b", true, true), replica("c", false, false)],
            overflow: 0.0,
            lambda: BTreeMap::new(),
        };
        let Observation::Replicas { metrics, ready } = observe(&observed, 3) else {
            panic!("replicas observed");
        };
        assert_eq!(ready, [true, false, false], "draining counts as not ready, like unhealthy");
        assert_eq!(metrics.len(), 3);
    }
}

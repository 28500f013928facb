//! What the scaler tells CloudWatch (as EMF lines in its log) after each evaluation: the figures
//! the stack's dashboard draws and its alarms watch.
//!
//! | metric | dimensions | what |
//! |---|---|---|
//! | `LiveReplicas`, `DesiredReplicas` | `AgentType` | after each tick's evaluation of the type |
//! | `RefusedDemand` | `AgentType` | incidents refused for lack of room in the evaluation's window (busiest minute) |
//! | `ScalingDecisions` | `AgentType` | 1 when an evaluation changed the desired count |
//! | `RegionFailovers` | none | regions the tick marked unhealthy on its own evidence (`RegionFailoverAlarm`) |
//! | `ScheduledRunSucceeded` | `Run=tick` | each successful tick (`TickSilenceAlarm`) |

use chrono::{DateTime, Utc};
use shared::domain::Severity;
use shared::scaling::plan::Evaluation;
use shared::scaling::service::TickReport;
use shared::telemetry::{Dimension, EmfSink, Unit};

pub const LIVE_REPLICAS: &str = "LiveReplicas";
pub const DESIRED_REPLICAS: &str = "DesiredReplicas";
pub const REFUSED_DEMAND: &str = "RefusedDemand";
pub const SCALING_DECISIONS: &str = "ScalingDecisions";
pub const REGION_FAILOVERS: &str = "RegionFailovers";

/// One evaluation's figures.
pub fn evaluation(metrics: &EmfSink, e: &Evaluation, at: DateTime<Utc>) {
    let refused: f64 = Severity::ALL.iter().map(|s| e.demand.refused.get(*s)).sum();
    let set = metrics
        .set()
        .dimension(Dimension::AgentType(e.agent_type.clone()))
        .and_then(|s| s.metric(LIVE_REPLICAS, Unit::Count, f64::from(e.current)))
        .and_then(|s| s.metric(DESIRED_REPLICAS, Unit::Count, f64::from(e.desired)))
        .and_then(|s| s.metric(REFUSED_DEMAND, Unit::Count, refused))
        .and_then(|s| s.metric(SCALING_DECISIONS, Unit::Count, f64::from(u8::from(e.desired != e.in_force))));
    if let Ok(set) = set {
        metrics.emit(&set, at);
    }
}

/// A successful tick: every type's figures, the regions it failed over, and the run itself.
pub fn tick(metrics: &EmfSink, report: &TickReport) {
    for e in &report.evaluations {
        evaluation(metrics, e, report.at);
    }
    let failovers = report.region_changes.iter().filter(|c| !c.healthy).count();
    if let Ok(set) = metrics.set().metric(REGION_FAILOVERS, Unit::Count, failovers as f64) {
        metrics.emit(&set, report.at);
    }
    shared::lambda::run_succeeded(metrics, "tick", report.at);
}

//! The control plane itself in two regions, simulated as deployed: a home and a standby region,
//! each with its own scaler (fenced by its own leadership lease) over the one table, and the
//! home region's control plane failing for a while (its tick, alarms and table replica
//! unreachable) while the agents keep working. Every tick each reachable region's scaler
//! looks at the lease exactly as the deployed function does (`leadership::Leadership::check`);
//! the one that holds it ticks. When the home region comes back, an alarm evaluation it had in
//! flight (under its old epoch) is tried against the fence.
//!
//! Simplifications: the table's replicas are one store (replication is instant, so the fence
//! sees the new leader's decisions at once); the cost sweep and warming runs of the simulated day
//! go on through the outage as one region's would.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::{AgentType, Region};
use crate::leadership::{ControlPlaneSetup, Leadership, Role};
use crate::scaling::service::{Scaler, ScalingError, ScalingRequest};
use crate::store::Store;

/// The scenario's control plane: where it runs and when its home region fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneScenario {
    pub home: Region,
    pub standby: Region,
    /// How long the lease may go without renewal before the standby takes over (2 to 60).
    pub takeover_after_minutes: u32,
    /// The home region's control plane is unreachable from `from` for `minutes`.
    pub outage_from: DateTime<Utc>,
    pub outage_minutes: u32,
}

/// One tick of the control plane: which region acted, under which epoch.
#[derive(Debug, Clone, Serialize)]
pub struct ControlTick {
    pub at: DateTime<Utc>,
    /// `None`: no region acted (the home region down, the standby not yet allowed to take over).
    pub acting: Option<Region>,
    pub epoch: u64,
}

/// What the control plane did over the day.
#[derive(Debug, Clone, Serialize)]
pub struct ControlPlaneReport {
    pub home: Region,
    pub standby: Region,
    pub takeover_after_minutes: u32,
    pub outage_from: DateTime<Utc>,
    pub outage_minutes: u32,
    /// The first tick the standby acted at, if it took over.
    pub takeover_at: Option<DateTime<Utc>>,
    /// Ticks no region acted at (the gap between the home region's last tick and the takeover).
    pub ticks_without_actor: u64,
    /// Ticks at which more than one region acted (the lease makes this 0).
    pub ticks_with_two_actors: u64,
    /// Late decisions of the deposed home region, refused by the fence.
    pub late_decisions_refused: u64,
    /// Late decisions of the deposed home region that were stored anyway (the fence makes this 0).
    pub late_decisions_stored: u64,
    pub ticks: Vec<ControlTick>,
}

/// One region's control plane: its lease view and its fenced scaler.
#[derive(Debug)]
struct Plane {
    region: Region,
    leadership: Leadership,
    scaler: Scaler,
}

/// The two control planes of a simulated day.
#[derive(Debug)]
pub struct ControlPlanes {
    scenario: ControlPlaneScenario,
    planes: [Plane; 2],
    home_down: bool,
    /// The plane that acted at the latest tick (alarms go to it).
    acting: Option<usize>,
    report: ControlPlaneReport,
}

impl ControlPlanes {
    /// Both regions' control planes over `store`, each scaler a copy of `scaler` fenced by its
    /// own lease.
    pub fn new(
        scenario: &ControlPlaneScenario,
        store: &Arc<dyn Store>,
        clock: &Arc<dyn Clock>,
        scaler: &Scaler,
    ) -> Self {
        let regions = vec![scenario.home.clone(), scenario.standby.clone()];
        let plane = |region: &Region| {
            let setup = ControlPlaneSetup {
                regions: regions.clone(),
                region: region.clone(),
                takeover_after: Duration::minutes(i64::from(scenario.takeover_after_minutes)),
            };
            let leadership = Leadership::new(Arc::clone(store), Arc::clone(clock), setup);
            let scaler = scaler.clone().with_fence(leadership.fence());
            Plane { region: region.clone(), leadership, scaler }
        };
        Self {
            planes: [plane(&scenario.home), plane(&scenario.standby)],
            home_down: false,
            acting: None,
            report: ControlPlaneReport {
                home: scenario.home.clone(),
                standby: scenario.standby.clone(),
                takeover_after_minutes: scenario.takeover_after_minutes,
                outage_from: scenario.outage_from,
                outage_minutes: scenario.outage_minutes,
                takeover_at: None,
                ticks_without_actor: 0,
                ticks_with_two_actors: 0,
                late_decisions_refused: 0,
                late_decisions_stored: 0,
                ticks: Vec::new(),
            },
            scenario: scenario.clone(),
        }
    }

    pub fn scenario(&self) -> &ControlPlaneScenario {
        &self.scenario
    }

    /// The tick's look at the lease from each reachable region, in order: the scaler of the one
    /// that acts (`None`: none may act this tick).
    pub async fn tick(&mut self, at: DateTime<Utc>) -> Result<Option<Scaler>, ScalingError> {
        let mut acting = Vec::new();
        let mut epoch = 0;
        for (i, plane) in self.planes.iter().enumerate() {
            if i == 0 && self.home_down {
                continue;
            }
            match plane.leadership.check("scaler-tick").await {
                Ok(Role::Active { epoch: e }) => {
                    acting.push(i);
                    epoch = e;
                }
                Ok(Role::Standby { epoch: e, .. }) => epoch = epoch.max(e),
                Err(crate::leadership::LeadershipError::Store(e)) => return Err(ScalingError::Store(e)),
                // One store and one caller at a time: the lease cannot change under a check.
                Err(_) => return Err(ScalingError::Contention),
            }
        }
        if acting.len() > 1 {
            self.report.ticks_with_two_actors += 1;
        }
        self.acting = acting.first().copied();
        let region = self.acting.map(|i| self.planes[i].region.clone());
        if region.is_none() {
            self.report.ticks_without_actor += 1;
        }
        if self.acting == Some(1) && self.report.takeover_at.is_none() {
            self.report.takeover_at = Some(at);
        }
        self.report.ticks.push(ControlTick { at, acting: region, epoch });
        Ok(self.acting.map(|i| self.planes[i].scaler.clone()))
    }

    /// The scaler an alarm invokes: the region that acted at the latest tick (none: the alarm's
    /// invocation finds no acting control plane and is lost, as in the deployed gap).
    pub fn alarm_target(&self) -> Option<Scaler> {
        self.acting.map(|i| self.planes[i].scaler.clone())
    }

    /// The home region's control plane goes away or comes back. Coming back, an alarm evaluation
    /// of `agent_type` it had in flight under its old epoch meets the fence.
    pub async fn home(
        &mut self,
        down: bool,
        agent_type: &AgentType,
        at: DateTime<Utc>,
    ) -> Result<(), ScalingError> {
        self.home_down = down;
        if down {
            if self.acting == Some(0) {
                self.acting = None;
            }
            return Ok(());
        }
        if self.report.takeover_at.is_none() {
            // The standby never took over: the home region is still the holder, nothing is late.
            return Ok(());
        }
        let request = ScalingRequest::alarm(agent_type.clone(), at, None);
        match self.planes[0].scaler.evaluate(&request, at).await {
            Err(ScalingError::Deposed { .. }) => self.report.late_decisions_refused += 1,
            Ok(evaluation) if evaluation.applied => self.report.late_decisions_stored += 1,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    pub fn report(self) -> ControlPlaneReport {
        self.report
    }
}

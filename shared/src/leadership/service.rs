//! The lease read and written through the store, and the fence the scaler stamps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::lease::{Lease, Role, Step, decide};
use super::setup::ControlPlaneSetup;
use crate::clock::Clock;
use crate::domain::Region;
use crate::error::ValidationError;
use crate::store::{Condition, Item, Store, StoreError};

/// Writes of the lease that may lose to a concurrent one before a run gives up (the next run
/// looks again).
const ATTEMPTS: usize = 3;

/// The epoch this container acts under: 0 while it holds no lease (single-region stacks, or a
/// standby), which fences nothing. Clones share it, so the handler's leadership check sets what
/// the scaler stamps.
#[derive(Debug, Clone, Default)]
pub struct Fence(Arc<AtomicU64>);

impl Fence {
    pub fn epoch(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, epoch: u64) {
        self.0.store(epoch, Ordering::SeqCst);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeadershipError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the lease changed while this region was writing it; look again")]
    Contention,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// What `GET /control-plane` answers: this region, its role, and the lease as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeadershipStatus {
    /// The region this answer comes from.
    #[schema(value_type = String)]
    pub region: Region,
    /// The region that claims the lease first, and takes it back only by promotion.
    #[schema(value_type = String)]
    pub home: Region,
    /// Every region the control plane is deployed in, home first.
    #[schema(value_type = Vec<String>)]
    pub regions: Vec<Region>,
    /// How long the holder may stay silent before a standby takes over, seconds.
    pub takeover_after_s: i64,
    /// This region's role as the stored lease has it (nothing is written to answer).
    pub role: Role,
    pub lease: Option<Lease>,
}

/// A run's gate (`by` names the run): `Ok(None)` to act (always, in a single-region stack),
/// `Ok(Some(reason))` to stand by because another region holds the lease.
pub async fn gate(leadership: Option<&Leadership>, by: &str) -> Result<Option<String>, LeadershipError> {
    let Some(leadership) = leadership else { return Ok(None) };
    Ok(match leadership.check(by).await? {
        Role::Active { .. } => None,
        Role::Standby { holder: Some(holder), epoch, until: Some(until) } => Some(format!(
            "standing by: {holder} holds the control-plane lease (epoch {epoch}); this region takes over if it is not renewed by {until}"
        )),
        Role::Standby { .. } => {
            Some("standing by: the home region has not claimed the control-plane lease yet".to_owned())
        }
    })
}

/// The leadership of one region's control plane.
#[derive(Debug, Clone)]
pub struct Leadership {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    setup: ControlPlaneSetup,
    fence: Fence,
}

impl Leadership {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, setup: ControlPlaneSetup) -> Self {
        Self { store, clock, setup, fence: Fence::default() }
    }

    /// The fence this leadership sets; give it to the scaler.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    pub fn setup(&self) -> &ControlPlaneSetup {
        &self.setup
    }

    async fn read(&self) -> Result<(Option<Lease>, Option<u64>), StoreError> {
        let item = self.store.get(&crate::table::leader()).await?;
        let version = item.as_ref().and_then(Item::version);
        Ok((item.map(|i| i.record()).transpose()?, version))
    }

    async fn write(&self, lease: &Lease, version: Option<u64>) -> Result<(), StoreError> {
        let item = Item::from_record(crate::table::leader(), lease)?.with_version(version.unwrap_or(0) + 1);
        self.store.put(item, version.map_or(Condition::Absent, Condition::Version)).await
    }

    /// A run's look at the lease (`by` names the run): claims, renews or takes it over as
    /// [`decide`] says, and answers whether this region acts. Sets the fence to the epoch it acts
    /// under, or to 0 when it stands by.
    pub async fn check(&self, by: &str) -> Result<Role, LeadershipError> {
        let (me, home) = (&self.setup.region, self.setup.home());
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let (lease, version) = self.read().await?;
            let epoch = lease.as_ref().map_or(0, |l| l.epoch);
            let next = match decide(lease.as_ref(), me, home, now) {
                Step::Follow => {
                    self.fence.set(0);
                    return Ok(Lease::standby_role(lease.as_ref()));
                }
                Step::Claim => Lease::held(me.clone(), 1, now, self.setup.takeover_after, by),
                Step::Renew => Lease::held(me.clone(), epoch, now, self.setup.takeover_after, by),
                Step::TakeOver => Lease::held(me.clone(), epoch + 1, now, self.setup.takeover_after, by),
            };
            match self.write(&next, version).await {
                Ok(()) => {
                    if next.epoch != epoch {
                        tracing::warn!(
                            region = %me,
                            epoch = next.epoch,
                            previous = ?lease.as_ref().map(|l| &l.holder),
                            "this region now holds the control-plane lease"
                        );
                    }
                    self.fence.set(next.epoch);
                    return Ok(Role::Active { epoch: next.epoch });
                }
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.fence.set(0);
        Err(LeadershipError::Contention)
    }

    /// An operator's promotion of `region` (fail-over by hand, or back to the home region): the
    /// lease goes to it with the next epoch, whoever held it. Refused for a region the control
    /// plane is not deployed in; `Contention` if the lease changed meanwhile.
    pub async fn promote(&self, region: &Region, by: &str) -> Result<Lease, LeadershipError> {
        if !self.setup.regions.contains(region) {
            return Err(ValidationError::new(
                "region",
                format!("{region} is not one of the control plane's regions ({})", self.setup.listed()),
            )
            .into());
        }
        let now = self.clock.now();
        let (lease, version) = self.read().await?;
        let epoch = lease.as_ref().map_or(0, |l| l.epoch) + 1;
        let next =
            Lease::held(region.clone(), epoch, now, self.setup.takeover_after, &format!("promote:{by}"));
        match self.write(&next, version).await {
            Ok(()) => {
                tracing::warn!(%region, epoch, %by, "control-plane lease promoted by an operator");
                Ok(next)
            }
            Err(StoreError::ConditionFailed) => Err(LeadershipError::Contention),
            Err(e) => Err(e.into()),
        }
    }

    /// The lease as stored and this region's role under it, without writing anything.
    pub async fn status(&self) -> Result<LeadershipStatus, StoreError> {
        let (lease, _) = self.read().await?;
        let role = match &lease {
            Some(l) if l.holder == self.setup.region => Role::Active { epoch: l.epoch },
            other => Lease::standby_role(other.as_ref()),
        };
        Ok(LeadershipStatus {
            region: self.setup.region.clone(),
            home: self.setup.home().clone(),
            regions: self.setup.regions.clone(),
            takeover_after_s: self.setup.takeover_after.num_seconds(),
            role,
            lease,
        })
    }
}

//! One acting region at a time when the control plane runs in more than one.
//!
//! With the table a DynamoDB global table in multi-Region eventual consistency (MREC), a
//! conditional write is checked against the local replica only and concurrent writes to one item
//! from two regions resolve last-writer-wins: two regions ticking at once could each store and
//! apply a decision. So only the region holding the leadership **lease** acts (ticks, alarm
//! evaluations, sweeps, warming runs); the others stand by. Each run of the active region renews
//! the lease; a standby takes it over, with the **epoch** one higher, once it has not been renewed
//! for the takeover time; it goes back only by an operator's promotion. Every scaling decision
//! the active region stores carries its epoch (the **fence**), and a region whose epoch is lower
//! than the one stored is refused: a deposed region's late writes, once the new leader's have
//! replicated to it, change nothing.
//!
//! Single-region stacks (the default) have no lease: every run acts, as before.

mod lease;
mod service;
mod setup;

pub use lease::{Lease, Role, Step, decide};
pub use service::{Fence, Leadership, LeadershipError, LeadershipStatus, gate};
pub use setup::ControlPlaneSetup;

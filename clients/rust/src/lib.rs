//! `commander-client`: what every agent of the fleet does (the repository's docs/agents.md),
//! for Rust agents. Typed requests and answers are the api's own (`shared::wire`), so the two
//! cannot drift.
//!
//! - [`Client`]: every agent call, SigV4-signed for a deployed API (the caller's credentials)
//!   and unsigned for `commander serve` on loopback; retries with full jitter that honour
//!   `Retry-After`, behind idempotency ids the client fills in when the caller gives none;
//!   several regional endpoints of one API (`Client::connect_many`), failing over between them.
//! - [`Heartbeat`]: a task that reports every interval through errors and API restarts, and
//!   drains and deregisters the replica when stopped.
//! - [`Assignment`]: select, then release when the work ends, also when it fails (or the guard
//!   is dropped without a release).
//! - [`answer_warm_ping`]: in a Lambda agent, answers the warmer's ping before the real handler.

mod assignment;
pub mod base;
mod client;
pub mod endpoints;
mod heartbeat;
pub mod sigv4;
mod warm;

pub use assignment::Assignment;
pub use base::ApiBase;
pub use client::{Client, Error, RetryPolicy};
pub use heartbeat::{Heartbeat, HeartbeatStats};
pub use shared::wire;
pub use warm::answer_warm_ping;

//! Replica selection (pure): which replica of an agent type takes the next incident.
//!
//! Strategies follow Envoy and Finagle: rotating and earliest-deadline-first weighted round robin,
//! power-of-two-choices least connections (Envoy's weighted form when weights differ), locality
//! spill for geography, severity-aware picks, and peak EWMA. Outlier ejection and the panic
//! threshold decide which replicas may be picked at all. Given a seed, every pick is deterministic.

pub mod assignments;
mod candidate;
mod edf;
pub mod ejection;
pub mod ewma;
mod members;
mod pick;
mod replica_set;
#[cfg(feature = "sim")]
pub mod simulation;
mod strategy;

pub use candidate::{Candidate, DEGRADED_SCORE};
pub use pick::{Panic, Pick, Route, Rule, Sampling};
pub use strategy::{Balancer, PickContext, Strategy};

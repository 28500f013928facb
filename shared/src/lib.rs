//! The common crate of the Incident Commander control plane: the domain, the state store and its
//! backends, configuration, telemetry, and (per capability) pure decision code apart from its I/O.

pub mod audit;
pub mod aws;
pub mod balancing;
pub mod clock;
pub mod config;
pub mod cost;
pub mod domain;
pub mod error;
pub mod lambda;
pub mod leadership;
pub mod performance;
pub mod runtime;
pub mod scaling;
#[cfg(feature = "sim")]
pub mod simulation;
pub mod store;
pub mod sync;
pub mod table;
pub mod telemetry;
pub mod warming;
pub mod wire;

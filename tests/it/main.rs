//! The workspace-level tests: one binary, a module per former test file.
//! (One binary links the AWS SDK once, instead of once per file.)

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod audit;
mod balancing_concurrency;
mod control_plane;
mod emergency_caps;
mod fault_injection;
mod gateway;
mod pause;
mod performance_store;
mod predictive;
mod scaling_concurrency;
mod selection_concurrency;
mod stateful_fuzz;
mod store_contract;
mod store_equivalence;
mod template_metrics;
mod tick_requests;

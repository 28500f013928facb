//! The shared crate's integration tests: one binary, a module per former test file.
//! (One binary links the AWS SDK once, instead of once per file.)

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod autoscaler;
mod balancing;
mod balancing_simulation;
mod cost_aws;
mod cost_sweep;
mod ecs;
mod module_layers;
mod provisioned;
mod scaling_aws;
mod scaling_service;
mod simulation_fixtures;
mod table_layout;
mod warm_history;
mod warm_status;

//! The api's integration tests: one binary, a module per former test file.
//! (One binary links the AWS SDK once, instead of once per file.)

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod api_reference;
mod common;
mod control_plane_routes;
mod replay_route;

mod cost_report_size;
mod cost_routes;
mod dashboard_routes;
mod fleet_limits;
mod hostile_input;
mod lambda_runtime;
mod managed_alarms;
mod openapi_conformance;
mod performance_routes;
mod replica_lifecycle;
mod request_ids;
mod retried_calls;
mod role_policies;
mod routes;
mod time_budgets;
mod usage_reports;
mod warm_budget;
mod warm_routes;

//! `commander`'s integration tests: one binary, a module per former test file.
//! (One binary links the AWS SDK once, instead of once per file.)

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod credentials;
mod docs;
mod local_server;
mod ops;
mod proxy;
mod replay;
mod replay_day;
mod serve;
mod simulate;
mod simulate_day;
mod warm_plan;

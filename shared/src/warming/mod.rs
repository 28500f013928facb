//! Keeping functions warm: the ping every function answers, the timezone-aware plan, the fan-out
//! that delivers it, and what warming costs.

pub mod config;
pub mod ping;
pub mod plan;

pub use ping::{Answered, PingAnswer, WarmPing, ping_or};

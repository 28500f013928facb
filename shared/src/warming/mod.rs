//! Keeping functions warm: the ping every function answers, the timezone-aware plan, the fan-out
//! that delivers it, and what warming costs.

pub mod advice;
pub mod budget;
pub mod config;
pub mod fanout;
pub mod history;
pub mod ping;
pub mod plan;
pub mod warmer;

pub use ping::{Answered, PingAnswer, WarmPing, ping_or};

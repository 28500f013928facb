//! Cost: the price table, billing arithmetic, usage counters, model selection, projection,
//! threshold levels and the sweep that ties them together.

pub mod actions;
pub mod assessment;
pub mod billing;
pub mod caps;
pub mod control;
pub mod late_usage;
pub mod levels;
pub mod model_health;
pub mod models;
pub mod price_book;
pub mod prices;
pub mod projection;
pub mod provisioned_ledger;
pub mod recommend;
pub mod report;
pub mod sources;
pub mod sweep;
pub mod task;
pub mod usage;

pub use prices::{Architecture, ModelPrice, PriceTable};
pub use task::TaskType;

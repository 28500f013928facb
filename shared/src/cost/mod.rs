//! Cost: the price table, billing arithmetic, usage counters, model selection, projection,
//! threshold levels and the sweep that ties them together.

pub mod billing;
pub mod prices;

pub use prices::{Architecture, ModelPrice, PriceTable};

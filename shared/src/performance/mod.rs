//! Performance: query statistics per access pattern (the store wrapper that collects them). Pools,
//! caches, the memory guard and the endpoints come with the rest of the performance work.

pub mod instrumented;
pub mod query_stats;

pub use instrumented::InstrumentedStore;
pub use query_stats::{PatternSummary, QueryStats, pattern_of};

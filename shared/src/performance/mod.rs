//! Performance: pooled connections per external service, caches, the memory guard and query
//! statistics per access pattern, gathered across containers through the table, and the
//! recommendations drawn from them.

pub mod advice;
pub mod cache;
pub mod instrumented;
pub mod memory;
pub mod monitor;
pub mod pools;
pub mod query_stats;
pub mod report;

pub use instrumented::InstrumentedStore;
pub use monitor::Performance;
pub use pools::{Pool, PoolLimits, PoolSnapshot, Pools, Service};
pub use query_stats::{PatternSummary, QueryStats, pattern_of};

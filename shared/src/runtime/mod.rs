//! The composition root: the one place that reads a container's settings and builds what its
//! handlers use (clock, SDK configuration, pools, the store with its instrumentation and caches,
//! and the services), and the one event loop the event-driven functions share. Each Lambda `main`
//! is a few lines over this; `commander serve` builds from the same parts.

mod container;
pub mod cost;
mod events;
mod init_phases;
pub mod settings;
pub mod warming;

pub use container::{Container, Reads};
pub use events::{Flush, serve_events};
pub use init_phases::InitPhases;
pub use settings::{Settings, StartError};

//! Logs and metrics that cost nothing extra to ship: JSON log lines through `tracing` (CloudWatch
//! Logs picks them up) and metrics as Embedded Metric Format lines on stdout.

mod emf;
mod lambda_json;
mod logging;
mod sample_gate;

pub use emf::{Dimension, EmfError, EmfSink, MetricSet, Unit, lambda_keeps};
pub use lambda_json::{INVOKE_SPAN, LambdaJson, LogIdentity};
pub use logging::init_logging;
pub use sample_gate::SampleGate;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{Config, LogFormat};

/// Installs the process-wide subscriber once, in `main`.
///
/// JSON lines carry the current span list, so the `requestId` field of lambda_runtime's
/// per-invocation span appears on every line logged while handling that request. `RUST_LOG`, when
/// set, refines the level (for example `info,aws_smithy_runtime=warn`).
pub fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log_level.as_str().to_ascii_lowercase()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .with_writer(std::io::stdout);
    // A second call (tests, or a runner that already set one) keeps the first subscriber.
    let _ = match config.log_format {
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(false).with_span_list(true).try_init()
        }
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

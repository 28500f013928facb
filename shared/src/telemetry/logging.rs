use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::fmt::format::{FmtSpan, JsonFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::lambda_json::{INVOKE_SPAN, LambdaJson, LogIdentity};
use crate::config::{Config, LogFormat};

/// Installs the process-wide subscriber once, in `main`.
///
/// JSON lines follow the Powertools convention ([`LambdaJson`]): the invocation's request id,
/// cold start, function name and service at the top level of every line. lambda_runtime's
/// per-invocation span is kept at every level, so a WARN line still names its request when the
/// level filter drops INFO. `RUST_LOG`, when set, refines the level (for example
/// `info,aws_smithy_runtime=warn`).
pub fn init_logging(config: &Config, identity: &LogIdentity) {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(config.log_level.as_str().to_ascii_lowercase()))
    };
    // A second call (tests, or a runner that already set one) keeps the first subscriber.
    match config.log_format {
        LogFormat::Json => {
            let invoke_span =
                || tracing_subscriber::filter::filter_fn(|meta| meta.is_span() && meta.name() == INVOKE_SPAN);
            let (format, first_invocation) = LambdaJson::new(identity.clone());
            let layer = tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(format)
                .with_writer(std::io::stdout)
                .with_filter(filter().or(invoke_span()));
            let _ = tracing_subscriber::registry()
                .with(first_invocation.with_filter(invoke_span()))
                .with(layer)
                .try_init();
        }
        LogFormat::Text => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_target(false)
                .with_span_events(FmtSpan::NONE)
                .with_writer(std::io::stdout)
                .with_ansi(false)
                .try_init();
        }
    }
}

//! Whether a function's metrics reach CloudWatch whatever log level the template sets: the
//! function binary runs under a Runtime API at each of Lambda's application log levels, and
//! Lambda's documented filter is applied to every EMF line it printed.

use serde_json::Value;
use shared::telemetry::lambda_keeps;

use crate::runtime_api::{Function, RuntimeApi};

/// The log levels the template's `LogLevel` parameter allows.
pub const LOG_LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// Runs `binary` once per log level on `events` (a fresh table on `endpoint` each time) and
/// asserts it printed EMF lines in its namespace, among them each of `metrics`, every one of
/// which Lambda's filter keeps. Answers each level's EMF lines.
pub async fn assert_metrics_survive_every_log_level(
    binary: &str,
    name: &str,
    endpoint: &str,
    events: &[(&str, Value)],
    extra_env: &[(&str, &str)],
    metrics: &[&str],
) -> Vec<(&'static str, Vec<String>)> {
    let namespace = format!("IncidentCommander/test-{name}");
    let mut counts = Vec::new();
    for level in LOG_LEVELS {
        let table = format!("emf-{}", uuid::Uuid::new_v4().simple());
        shared::store::create_table(&shared::aws::local_dynamodb(endpoint), &table)
            .await
            .expect("create the table");
        let mut runtime = RuntimeApi::serve(events).await;
        let mut env: Vec<(&str, &str)> = vec![
            ("COMMANDER_TABLE_NAME", &table),
            ("COMMANDER_DYNAMODB_ENDPOINT", endpoint),
            ("AWS_LAMBDA_LOG_LEVEL", level),
            ("COMMANDER_METRIC_NAMESPACE", &namespace),
        ];
        env.extend(extra_env.iter().copied());
        let function = Function::spawn(binary, name, &runtime.address, &env);
        let _ = runtime.answers(events.len()).await;
        let lines = function.stop().await;
        let emf: Vec<String> = lines.iter().filter(|l| l.contains("\"_aws\"")).cloned().collect();
        assert!(!emf.is_empty(), "{name} at {level} printed no EMF line: {lines:#?}");
        for line in &emf {
            assert!(lambda_keeps(line, level), "{name} at {level}: Lambda would drop {line}");
            let doc: Value = serde_json::from_str(line).expect("an EMF line is JSON");
            assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], namespace.as_str(), "{line}");
        }
        for metric in metrics {
            assert!(
                emf.iter().any(|l| l.contains(&format!("\"{metric}\""))),
                "{name} at {level} printed no {metric}: {emf:#?}"
            );
        }
        counts.push((level, emf));
    }
    counts
}

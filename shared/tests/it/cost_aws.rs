//! The cost sweep's AWS sources and effects against mocked SDK clients (CloudWatch on the local
//! AWS-API servers does not speak the SDK's current protocol), and the webhook against a real
//! HTTP listener on loopback.

#![allow(clippy::float_cmp, reason = "the metrics are sums of whole numbers, exact in f64")]

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::MetricDataResult;
use aws_sdk_lambda::operation::get_provisioned_concurrency_config::{
    GetProvisionedConcurrencyConfigError, GetProvisionedConcurrencyConfigOutput,
};
use aws_sdk_lambda::types::error::ProvisionedConcurrencyConfigNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::{DateTime, Duration, Utc};
use shared::aws::cost_sources::AwsCostSources;
use shared::aws::webhook::Webhook;
use shared::cost::Architecture;
use shared::cost::actions::{Notification, Notifier};
use shared::cost::sources::{MeteredSources, PricedFunction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn function(name: &str, qualifier: Option<&str>) -> PricedFunction {
    PricedFunction {
        name: name.into(),
        memory_mb: 1024,
        architecture: Architecture::Arm64,
        provisioned_qualifier: qualifier.map(str::to_owned),
        critical: false,
    }
}

fn hour() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z").unwrap().with_timezone(&Utc);
    (start, start + Duration::minutes(30))
}

fn result(id: &str, values: &[f64]) -> MetricDataResult {
    MetricDataResult::builder().id(id).set_values(Some(values.to_vec())).build()
}

#[tokio::test]
async fn lambda_and_dynamodb_usage_come_from_one_get_metric_data_each() {
    let (start, end) = hour();
    let lambda_metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(move |r| {
            let q = r.metric_data_queries();
            q.len() == 6
                && q[0].id() == Some("i0")
                && q[0].metric_stat().and_then(aws_sdk_cloudwatch::types::MetricStat::period) == Some(1800)
                && q[1].metric_stat().and_then(|s| s.metric()).and_then(|m| m.metric_name())
                    == Some("Duration")
                && r.start_time().map(aws_sdk_cloudwatch::primitives::DateTime::secs)
                    == Some(start.timestamp())
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("i0", &[600.0, 400.0]))
                .metric_data_results(result("d0", &[120_000.0]))
                .metric_data_results(result("m0", &[300.0, 410.0]))
                .metric_data_results(result("i1", &[]))
                .build()
        });
    let table_metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries().len() == 2)
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("r", &[5000.0]))
                .metric_data_results(result("w", &[1200.0, 300.0]))
                .build()
        });
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&lambda_metrics, &table_metrics]);
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, []);
    let sources = AwsCostSources::new(cloudwatch, BTreeMap::from([("us-east-1".to_owned(), lambda)]));
    let metrics = sources.lambda(&[function("api", None), function("idle", None)], start, end).await.unwrap();
    assert_eq!(metrics[0].invocations, 1000.0);
    assert_eq!(metrics[0].duration_ms_sum, 120_000.0);
    assert_eq!(metrics[0].max_memory_used_mb, Some(410.0), "the high-water mark, not a sum");
    assert_eq!((metrics[1].invocations, metrics[1].max_memory_used_mb), (0.0, None), "no data is none");
    let units = sources.dynamodb("commander", start, end).await.unwrap();
    assert_eq!((units.read, units.write), (5000.0, 1500.0));
}

/// Issue 17, item 8: the scaler provisions in every region; the sweep read the home region only.
#[tokio::test]
async fn provisioned_concurrency_in_force_is_read_per_qualified_function_in_every_region() {
    let found = |units: i32| {
        mock!(aws_sdk_lambda::Client::get_provisioned_concurrency_config)
            .match_requests(|r| r.function_name() == Some("detection-agent") && r.qualifier() == Some("live"))
            .then_output(move || {
                GetProvisionedConcurrencyConfigOutput::builder()
                    .allocated_provisioned_concurrent_executions(units)
                    .build()
            })
    };
    let (east_found, west_found) = (found(12), found(3));
    let none_configured = mock!(aws_sdk_lambda::Client::get_provisioned_concurrency_config)
        .match_requests(|r| r.function_name() == Some("diagnosis-agent"))
        .then_error(|| {
            GetProvisionedConcurrencyConfigError::ProvisionedConcurrencyConfigNotFoundException(
                ProvisionedConcurrencyConfigNotFoundException::builder().build(),
            )
        });
    let no_function = mock!(aws_sdk_lambda::Client::get_provisioned_concurrency_config)
        .match_requests(|r| r.function_name() == Some("diagnosis-agent"))
        .then_error(|| {
            GetProvisionedConcurrencyConfigError::ResourceNotFoundException(
                aws_sdk_lambda::types::error::ResourceNotFoundException::builder().build(),
            )
        });
    let east = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&east_found, &none_configured]);
    let west = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&west_found, &no_function]);
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, []);
    let sources = AwsCostSources::new(
        cloudwatch,
        BTreeMap::from([("us-east-1".to_owned(), east), ("us-west-2".to_owned(), west)]),
    );
    let functions = [
        function("detection-agent", Some("live")),
        function("diagnosis-agent", Some("live")),
        function("api", None),
    ];
    let in_force = sources.provisioned(&functions).await.unwrap();
    assert_eq!(in_force, [("detection-agent".to_owned(), 15), ("diagnosis-agent".to_owned(), 0)]);
    assert_eq!(
        east_found.num_calls()
            + west_found.num_calls()
            + none_configured.num_calls()
            + no_function.num_calls(),
        4,
        "each qualified function in each region; functions without a qualifier are not asked about"
    );
}

#[tokio::test]
async fn the_webhook_posts_slack_json_and_reports_refusals() {
    let (url, server) = loopback_hook(&["200 OK", "500 Internal Server Error"]).await;
    let hook = Webhook::new(&url, slack_pool()).unwrap();
    hook.notify(&Notification { text: "EMERGENCY MODE ON".into() }).await.unwrap();
    let refused = hook.notify(&Notification { text: "again".into() }).await.unwrap_err();
    assert!(refused.message.contains("500") && refused.is_retryable(), "a 500 may pass: {refused}");
    let seen = server.await.unwrap();
    assert!(seen[0].starts_with("POST /hook HTTP/1.1"));
    assert!(seen[0].contains("content-type: application/json"));
    assert!(seen[0].ends_with(r#"{"text":"EMERGENCY MODE ON"}"#), "{}", seen[0]);
    assert!(Webhook::new("http://example.com/hook", slack_pool()).is_err(), "plain HTTP only on loopback");
    assert!(Webhook::new("not a url", slack_pool()).is_err());
}

/// Issue 17, item 14: a webhook whose answer never ends, or stalls after its status line, costs
/// the sweep at most the exchange's timeout and 64 KiB, never the sweep's whole run (the status
/// already said the notification was taken).
#[tokio::test]
async fn a_webhook_answer_is_read_within_its_time_and_size() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for endless in [true, false] {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let head = if endless {
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nok"
                };
                socket.write_all(head.as_bytes()).await.unwrap();
                if endless {
                    let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
                    while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                } else {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                }
            });
        }
    });
    let hook = Webhook::new(&url, slack_pool()).unwrap().with_timeout(std::time::Duration::from_millis(1500));
    let started = std::time::Instant::now();
    hook.notify(&Notification { text: "endless".into() }).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(1500), "stopped at 64 KiB");
    let started = std::time::Instant::now();
    hook.notify(&Notification { text: "stalled".into() }).await.unwrap();
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(3), "a stalled answer waited {waited:?}");
}

/// A Slack pool of the default limits, as a container's settings make it.
fn slack_pool() -> std::sync::Arc<shared::performance::Pool> {
    shared::performance::Pools::default().get(shared::performance::Service::Slack)
}

/// A loopback webhook answering each post with the next of `statuses`; answers the requests it
/// got, whole.
async fn loopback_hook(statuses: &[&'static str]) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let statuses = statuses.to_vec();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for status in statuses {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 8192];
            let mut read = 0;
            loop {
                read += socket.read(&mut buffer[read..]).await.unwrap();
                let text = String::from_utf8_lossy(&buffer[..read]).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned)
                        })
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if read >= head_end + 4 + length {
                        seen.push(text);
                        break;
                    }
                }
            }
            let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
        seen
    });
    (url, server)
}

/// A secret store that counts its reads and fails the first `failures` of them.
#[derive(Debug)]
struct CountingSecrets {
    value: String,
    reads: std::sync::atomic::AtomicUsize,
    failures: usize,
}

#[async_trait::async_trait]
impl shared::aws::secret_webhook::SecretSource for CountingSecrets {
    async fn read(&self, _: &str) -> Result<String, shared::error::AdapterError> {
        let n = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.failures {
            return Err(shared::error::AdapterError::transient("secretsmanager", "throttled"));
        }
        Ok(self.value.clone())
    }
}

/// Issue 19, item 5: the webhook URL comes from Secrets Manager, read once per container (a
/// failed read is tried again on the next notification, never kept).
#[tokio::test]
async fn the_webhook_url_is_read_from_its_secret_once_per_container() {
    use shared::aws::secret_webhook::SecretWebhook;
    let (url, server) = loopback_hook(&["200 OK"; 3]).await;
    for (value, form) in [(url.clone(), "plain"), (format!(r#"{{"url": "{url}"}}"#), "json")] {
        let secrets = std::sync::Arc::new(CountingSecrets { value, reads: 0.into(), failures: 1 });
        let hook = SecretWebhook::new(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook",
            secrets.clone(),
            slack_pool(),
        );
        let failed = hook.notify(&Notification { text: "first".into() }).await.unwrap_err();
        assert!(failed.is_retryable(), "{form}: {failed}");
        hook.notify(&Notification { text: format!("{form} 1") }).await.unwrap();
        if form == "plain" {
            hook.notify(&Notification { text: format!("{form} 2") }).await.unwrap();
        }
        assert_eq!(
            secrets.reads.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "{form}: one failed read, then one for good"
        );
    }
    let bodies: Vec<String> =
        server.await.unwrap().iter().map(|r| r.split_once("\r\n\r\n").unwrap().1.to_owned()).collect();
    assert_eq!(bodies, [r#"{"text":"plain 1"}"#, r#"{"text":"plain 2"}"#, r#"{"text":"json 1"}"#]);
    for (value, url) in [
        ("  https://h.example/x \n", Some("https://h.example/x")),
        (r#"{"url":"https://h.example/y"}"#, Some("https://h.example/y")),
        ("", None),
        (r#"{"other":1}"#, None),
    ] {
        assert_eq!(shared::aws::secret_webhook::url_in(value).as_deref(), url, "{value:?}");
    }
}

/// The request the container makes of Secrets Manager, and what it takes from the answer.
#[tokio::test]
async fn secrets_manager_is_asked_for_the_named_secret() {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use shared::aws::secret_webhook::{SecretSource, SecretsManager};
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf";
    let answered = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(move |r| r.secret_id() == Some(arn))
        .then_output(|| GetSecretValueOutput::builder().secret_string("https://hooks.example/T0").build());
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&answered]);
    assert_eq!(SecretsManager(client).read(arn).await.unwrap(), "https://hooks.example/T0");
    assert_eq!(answered.num_calls(), 1);
    let binary = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_output(|| GetSecretValueOutput::builder().build());
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&binary]);
    let refused = SecretsManager(client).read(arn).await.unwrap_err();
    assert!(!refused.is_retryable() && refused.message.contains("SecretString"), "{refused}");
}

//! The warmer planning from observed traffic, with CloudWatch's answers mocked (the local AWS-API
//! servers do not speak the SDK's current CloudWatch protocol).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::MetricDataResult;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::{DateTime, Utc};
use shared::aws::warm_history::CloudWatchHistory;
use shared::clock::ManualClock;
use shared::cost::PriceTable;
use shared::cost::price_book::{PriceBook, PriceSource};
use shared::store::{MemoryStore, Store};
use shared::warming::config::WarmConfig;
use shared::warming::warmer::Warmer;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn series(points: &[(&str, f64)]) -> GetMetricDataOutput {
    let mut result = MetricDataResult::builder().id("q");
    for (at, v) in points {
        result = result.timestamps(AwsDateTime::from_secs(utc(at).timestamp())).values(*v);
    }
    GetMetricDataOutput::builder().metric_data_results(result.build()).build()
}

fn config(function: &str) -> WarmConfig {
    WarmConfig::from_json(&format!(
        r#"{{"targets": [{{"function": "{function}", "regions": ["us-east-1"]}}]}}"#
    ))
    .unwrap()
}

async fn plan_with(
    function: &str,
    client: aws_sdk_cloudwatch::Client,
    now: DateTime<Utc>,
) -> shared::warming::plan::PlanEntry {
    let clock = Arc::new(ManualClock::new(now));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock));
    let prices = PriceBook::new(store.clone(), PriceTable::bundled(), PriceSource::Bundled);
    let history = CloudWatchHistory::with_clients(BTreeMap::from([("us-east-1".to_owned(), client)]));
    let warmer = Warmer::new(store, config(function), prices, None).with_history(Arc::new(history));
    warmer.scheduled(now).await.unwrap().plan.remove(0)
}

#[tokio::test]
async fn the_peak_for_the_local_hour_sets_the_count_and_real_traffic_skips() {
    // Thursday 26 November 2026, 10:30 in New York.
    let now = utc("2026-11-26T15:30:00Z");
    let peaks = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| {
            let stat = r.metric_data_queries()[0].metric_stat().unwrap();
            stat.metric().and_then(|m| m.metric_name()) == Some("ConcurrentExecutions")
                && stat.period() == Some(3600)
        })
        .then_output(|| {
            // Thursdays at 10:00 local a week and two weeks ago; another hour too.
            series(&[
                ("2026-11-19T15:00:00Z", 6.0),
                ("2026-11-12T15:00:00Z", 4.0),
                ("2026-11-19T20:00:00Z", 9.0),
            ])
        });
    let quiet = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries()[0].metric_stat().unwrap().period() == Some(60))
        .then_output(|| series(&[]));
    let entry =
        plan_with("busy-agent", mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&peaks, &quiet]), now)
            .await;
    assert_eq!((entry.concurrency, entry.skip_reason.as_deref()), (6, None), "{entry:?}");

    let busy = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries()[0].metric_stat().unwrap().period() == Some(60))
        .then_output(|| series(&[("2026-11-26T15:28:00Z", 12.0)]));
    let peaks_again = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.metric_data_queries()[0].metric_stat().unwrap().period() == Some(3600))
        .then_output(|| series(&[("2026-11-19T15:00:00Z", 6.0)]));
    let entry = plan_with(
        "busy-agent",
        mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&peaks_again, &busy]),
        now,
    )
    .await;
    assert_eq!(entry.concurrency, 0);
    assert_eq!(entry.skip_reason.as_deref(), Some("real traffic 120 s ago keeps it warm"));
}

#[tokio::test]
async fn outside_business_hours_cloudwatch_is_not_asked() {
    let never = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(|| series(&[]));
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&never]);
    let entry = plan_with("night-agent", client, utc("2026-11-26T04:00:00Z")).await;
    assert!(entry.skip_reason.unwrap().starts_with("outside business hours"));
    assert_eq!(never.num_calls(), 0);
}

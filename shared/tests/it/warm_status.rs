//! `Warmer::status`: each target's last run as stored, and where its region's day stands.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::clock::ManualClock;
use shared::cost::PriceTable;
use shared::cost::price_book::{PriceBook, PriceSource};
use shared::simulation::aws::SimulatedAws;
use shared::store::{MemoryStore, Store};
use shared::warming::config::WarmConfig;
use shared::warming::warmer::{WarmRequest, Warmer};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn shows_every_target_with_its_last_run_and_its_regions_window() {
    // 14:00 UTC on a Wednesday: 09:00 in New York (inside its day), 22:00 in Singapore (outside).
    let now = at("2027-01-13T14:00:00Z");
    let clock = Arc::new(ManualClock::new(now));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let prices = PriceBook::new(store.clone(), PriceTable::bundled(), PriceSource::Bundled);
    let aws = Arc::new(SimulatedAws::new(clock));
    let warmer = Warmer::new(store, WarmConfig::default(), prices, Some(aws));

    let before = warmer.status(now).await.unwrap();
    assert_eq!(before.len(), 20, "five agent functions in four regions");
    assert!(before.iter().all(|t| t.last_run.is_none()), "nothing warmed yet");

    let request = WarmRequest {
        functions: Some(vec!["detection-agent".into()]),
        regions: Some(vec!["us-east-1".into()]),
        concurrency: Some(3),
    };
    warmer.on_demand(&request, now).await.unwrap();

    let after = warmer.status(now).await.unwrap();
    let find = |function: &str, region: &str| {
        after.iter().find(|t| t.function == function && t.region == region).unwrap().clone()
    };
    let warmed = find("detection-agent", "us-east-1");
    let run = warmed.last_run.unwrap();
    assert_eq!(run.last_warmed, Some(now));
    assert_eq!((run.pings, run.containers, run.cold, run.errors), (3, 3, 3, 0));
    assert_eq!(warmed.timezone, "America/New_York");
    assert!(warmed.in_window);

    let singapore = find("detection-agent", "ap-southeast-1");
    assert!(singapore.last_run.is_none(), "only the named region was warmed");
    assert_eq!(singapore.timezone, "Asia/Singapore");
    assert!(!singapore.in_window);
    assert_eq!(singapore.concurrency, 1);
}

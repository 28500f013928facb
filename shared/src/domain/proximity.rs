//! How far regions are from each other, as round-trip times: the order in which a region's work
//! spills to the others, and where the replicas an unhealthy region gives up are placed.
//!
//! The defaults are published measurements kept as data (see [`PUBLISHED`]); an operator can
//! override any pair with `COMMANDER_REGION_LATENCIES` (see `config.rs`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Region;
use crate::error::ValidationError;

/// Median round-trip times in milliseconds between the fleet's default regions.
///
/// Source: CloudPing's AWS inter-region latency grid (cloudping.co), p50 over one year, rounded
/// to 5 ms, as recorded for this project in December 2026. Round trips are symmetric, so each
/// pair is listed once.
pub const PUBLISHED: [(&str, &str, u32); 6] = [
    ("us-east-1", "us-west-2", 65),
    ("us-east-1", "eu-west-1", 70),
    ("us-east-1", "ap-southeast-1", 215),
    ("us-west-2", "eu-west-1", 125),
    ("us-west-2", "ap-southeast-1", 165),
    ("eu-west-1", "ap-southeast-1", 175),
];

/// Where [`PUBLISHED`] comes from, for the status and the docs.
pub const PUBLISHED_SOURCE: &str =
    "CloudPing inter-region grid (cloudping.co), p50 over one year, recorded 2026-12";

/// Largest round trip an override may state (a full circle of the earth is under 400 ms).
const MAX_RTT_MS: u32 = 2_000;

/// Round trips between regions, symmetric; a region is 0 ms from itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proximity {
    rtt_ms: BTreeMap<(Region, Region), u32>,
}

fn pair(a: &Region, b: &Region) -> (Region, Region) {
    if a <= b { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) }
}

impl Default for Proximity {
    fn default() -> Self {
        Self::published()
    }
}

impl Proximity {
    /// No measurements at all: every other region is equally far (spill by name).
    pub fn unknown() -> Self {
        Self { rtt_ms: BTreeMap::new() }
    }

    /// The published table ([`PUBLISHED`]), built once per process (a container's start asks
    /// for it several times).
    pub fn published() -> Self {
        static TABLE: std::sync::LazyLock<Proximity> = std::sync::LazyLock::new(|| {
            let mut table = Proximity::unknown();
            for (a, b, ms) in PUBLISHED {
                if let (Ok(a), Ok(b)) = (Region::parse(a), Region::parse(b)) {
                    table = table.with(&a, &b, ms);
                }
            }
            table
        });
        TABLE.clone()
    }

    /// The same table with the round trip between `a` and `b` set to `ms`.
    #[must_use]
    pub fn with(mut self, a: &Region, b: &Region, ms: u32) -> Self {
        if a != b {
            self.rtt_ms.insert(pair(a, b), ms);
        }
        self
    }

    /// The round trip between two regions, when known.
    pub fn rtt_ms(&self, a: &Region, b: &Region) -> Option<u32> {
        if a == b {
            return Some(0);
        }
        self.rtt_ms.get(&pair(a, b)).copied()
    }

    /// `regions` other than `home`, nearest first; unknown distances last, ties by name.
    pub fn nearest_first<'a>(
        &self,
        home: &Region,
        regions: impl IntoIterator<Item = &'a Region>,
    ) -> Vec<Region> {
        let mut others: Vec<&Region> = regions.into_iter().filter(|r| *r != home).collect();
        others.sort_by(|a, b| {
            let (da, db) =
                (self.rtt_ms(home, a).unwrap_or(u32::MAX), self.rtt_ms(home, b).unwrap_or(u32::MAX));
            da.cmp(&db).then_with(|| a.cmp(b))
        });
        others.dedup();
        others.into_iter().cloned().collect()
    }

    /// Applies overrides written as JSON, `{"us-east-1": {"us-west-2": 60}, ...}` (milliseconds,
    /// whole numbers from 1 to 2000); a pair given both ways must agree.
    pub fn with_overrides(mut self, json: &str) -> Result<Self, ValidationError> {
        let bad = |message: String| ValidationError::new("region_latencies", message);
        let value: Value = serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Value::Object(from) = value else {
            return Err(bad("must be an object of objects: {\"us-east-1\": {\"us-west-2\": 60}}".into()));
        };
        let mut seen: BTreeMap<(Region, Region), u32> = BTreeMap::new();
        for (a, row) in from {
            let a = Region::parse(&a).map_err(|e| bad(e.message))?;
            let Value::Object(row) = row else {
                return Err(bad(format!("{a}: must map regions to milliseconds")));
            };
            for (b, ms) in row {
                let b = Region::parse(&b).map_err(|e| bad(e.message))?;
                let ms = ms
                    .as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .filter(|m| (1..=MAX_RTT_MS).contains(m))
                    .ok_or_else(|| {
                        bad(format!("{a} to {b}: must be a whole number of ms from 1 to {MAX_RTT_MS}"))
                    })?;
                if a == b {
                    return Err(bad(format!("{a} to itself is always 0 ms")));
                }
                if let Some(earlier) = seen.insert(pair(&a, &b), ms)
                    && earlier != ms
                {
                    return Err(bad(format!(
                        "{a} and {b} are given two round trips ({earlier} and {ms} ms)"
                    )));
                }
                self = self.with(&a, &b, ms);
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    #[test]
    fn spill_order_from_each_default_region_follows_the_round_trips() {
        let table = Proximity::published();
        let regions = Region::defaults();
        let order = |home: &str| -> Vec<String> {
            table.nearest_first(&r(home), &regions).iter().map(ToString::to_string).collect()
        };
        assert_eq!(order("us-east-1"), ["us-west-2", "eu-west-1", "ap-southeast-1"]);
        assert_eq!(order("us-west-2"), ["us-east-1", "eu-west-1", "ap-southeast-1"]);
        assert_eq!(order("eu-west-1"), ["us-east-1", "us-west-2", "ap-southeast-1"]);
        assert_eq!(order("ap-southeast-1"), ["us-west-2", "eu-west-1", "us-east-1"]);
    }

    #[test]
    fn round_trips_are_symmetric_and_unknown_pairs_come_last() {
        let table = Proximity::published();
        assert_eq!(table.rtt_ms(&r("eu-west-1"), &r("us-east-1")), Some(70));
        assert_eq!(table.rtt_ms(&r("us-east-1"), &r("us-east-1")), Some(0));
        assert_eq!(table.rtt_ms(&r("us-east-1"), &r("sa-east-1")), None);
        let order =
            table.nearest_first(&r("us-east-1"), &[r("sa-east-1"), r("ap-southeast-1"), r("us-east-1")]);
        assert_eq!(order, [r("ap-southeast-1"), r("sa-east-1")]);
    }

    #[test]
    fn overrides_replace_pairs_and_bad_ones_are_refused() {
        let table = Proximity::published()
            .with_overrides(r#"{"us-east-1": {"ap-southeast-1": 40}, "ap-southeast-1": {"us-east-1": 40}}"#)
            .unwrap();
        assert_eq!(table.nearest_first(&r("us-east-1"), &Region::defaults())[0], r("ap-southeast-1"));
        for bad in [
            "[]",
            r#"{"us-east-1": 5}"#,
            r#"{"us-east-1": {"us-west-2": 0}}"#,
            r#"{"us-east-1": {"us-west-2": 1.5}}"#,
            r#"{"us-east-1": {"us-west-2": 9999}}"#,
            r#"{"us-east-1": {"us-east-1": 5}}"#,
            r#"{"mars-1": {"us-west-2": 5}}"#,
            r#"{"us-east-1": {"us-west-2": 5}, "us-west-2": {"us-east-1": 6}}"#,
        ] {
            let err = Proximity::published().with_overrides(bad).unwrap_err();
            assert_eq!(err.field, "region_latencies", "{bad}");
        }
    }
}

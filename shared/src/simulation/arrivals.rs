//! The day's incidents: a non-homogeneous Poisson process per region (its business hours by its
//! own time zone, bursts on top), drawn by thinning, each incident with an agent type, a severity
//! and a service time. Deterministic: the same scenario and seed give the same incidents.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::scenario::{Scenario, ServiceTime};
use crate::domain::{AgentType, Region, Severity};
use crate::warming::plan::{Calendar, default_timezone};

/// One incident as it arrives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub region: Region,
    pub agent_type: AgentType,
    pub severity: Severity,
    /// How long its agent works on it once assigned.
    pub service_s: f64,
}

/// A region's business calendar for arrivals: 09:00-17:00 local, no lead time.
fn calendar(region: &Region) -> Calendar {
    let mut c = Calendar::business_hours(default_timezone(region.as_str()).unwrap_or(chrono_tz::UTC));
    c.lead_minutes = 0;
    c
}

/// The start of `region`'s first business hour within the run (09:00 local on a weekday), if any.
pub fn business_start(scenario: &Scenario, region: &Region) -> Option<DateTime<Utc>> {
    let calendar = calendar(region);
    (0..i64::from(scenario.hours)).map(|h| scenario.start + Duration::hours(h)).find(|at| {
        calendar.factor(*at + Duration::minutes(1)).0 > 0.0
            && calendar.factor(*at - Duration::minutes(1)).0 <= 0.0
    })
}

/// Arrivals per minute in `region` at `at`.
pub fn rate_per_minute(scenario: &Scenario, region: &Region, at: DateTime<Utc>) -> f64 {
    rate_with(scenario, region, &calendar(region), at)
}

fn rate_with(scenario: &Scenario, region: &Region, calendar: &Calendar, at: DateTime<Utc>) -> f64 {
    let Some(load) = scenario.regions.get(region) else { return 0.0 };
    let business = calendar.factor(at).0;
    let base = load.off_hours_per_minute
        + (load.business_per_minute - load.off_hours_per_minute).max(0.0) * business;
    let burst: f64 = scenario
        .bursts
        .iter()
        .filter(|b| {
            &b.region == region && at >= b.from && at < b.from + Duration::minutes(i64::from(b.minutes))
        })
        .map(|b| b.multiplier)
        .product();
    base * burst
}

/// The highest rate `region` reaches (the thinning envelope).
fn peak_rate(scenario: &Scenario, region: &Region) -> f64 {
    let Some(load) = scenario.regions.get(region) else { return 0.0 };
    let bursts: f64 =
        scenario.bursts.iter().filter(|b| &b.region == region).map(|b| b.multiplier.max(1.0)).product();
    load.off_hours_per_minute.max(load.business_per_minute) * bursts
}

/// Picks a key with probability proportional to its weight.
fn pick<'a, K>(rng: &mut StdRng, weights: &'a [(K, f64)]) -> &'a K {
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    let mut u = rng.random_range(0.0..total);
    for (k, w) in weights {
        if u < *w {
            return k;
        }
        u -= w;
    }
    &weights[weights.len() - 1].0
}

/// A log-normal draw with the given median and p95 (Box-Muller for the normal).
pub(crate) fn service_time(rng: &mut StdRng, s: ServiceTime) -> f64 {
    const Z95: f64 = 1.644_853_626_951_472_2;
    let sigma = (s.p95_s / s.median_s).ln() / Z95;
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    s.median_s * (sigma * z).exp()
}

/// Every incident of the scenario, in arrival order.
pub fn incidents(scenario: &Scenario) -> Vec<Incident> {
    let agent_mix: Vec<(AgentType, f64)> = scenario.agent_mix.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let severity_mix: Vec<(Severity, f64)> = scenario.severity_mix.iter().map(|(k, v)| (*k, *v)).collect();
    let end = scenario.end();
    let mut out = Vec::new();
    for (index, region) in scenario.regions.keys().enumerate() {
        // One stream per region, so adding a region leaves the others' incidents unchanged.
        let mut rng = StdRng::seed_from_u64(scenario.seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
        let peak = peak_rate(scenario, region);
        if peak <= 0.0 {
            continue;
        }
        let calendar = calendar(region);
        let mut at = scenario.start;
        loop {
            let gap_s = -(1.0 - rng.random_range(0.0..1.0_f64)).ln() / peak * 60.0;
            at += Duration::microseconds((gap_s * 1e6) as i64);
            if at >= end {
                break;
            }
            // Thinning: keep the candidate with probability rate(at) / peak.
            if rng.random_range(0.0..1.0) * peak >= rate_with(scenario, region, &calendar, at) {
                continue;
            }
            let agent_type = pick(&mut rng, &agent_mix).clone();
            let severity = *pick(&mut rng, &severity_mix);
            let service_s = service_time(&mut rng, scenario.service[&agent_type]);
            out.push(Incident { id: 0, at, region: region.clone(), agent_type, severity, service_s });
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.region.cmp(&b.region)));
    for (i, incident) in out.iter_mut().enumerate() {
        incident.id = i as u64;
    }
    out
}

/// The most incidents in progress at once if each were served the moment it arrived: what the
/// fleet must hold at the peak.
pub fn peak_concurrency(incidents: &[Incident]) -> usize {
    let mut edges: Vec<(DateTime<Utc>, i32)> = Vec::with_capacity(incidents.len() * 2);
    for i in incidents {
        edges.push((i.at, 1));
        edges.push((i.at + Duration::microseconds((i.service_s * 1e6) as i64), -1));
    }
    edges.sort();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    usize::try_from(peak).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        Scenario::parse(&format!(
            r#"{{"name": "t", "start": "2026-03-10T00:00:00Z", "hours": 24, "seed": 7,
                "regions": {{"us-east-1": {{"off_hours_per_minute": 2.0, "business_per_minute": 20.0}},
                             "ap-southeast-1": {{"off_hours_per_minute": 1.0, "business_per_minute": 10.0}}}},
                "agent_mix": {{"detection": 3.0, "diagnosis": 1.0}},
                "severity_mix": {{"critical": 1.0, "low": 3.0}},
                "service": {{"detection": {{"median_s": 20.0, "p95_s": 60.0}},
                             "diagnosis": {{"median_s": 90.0, "p95_s": 180.0}}}}{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_incidents() {
        let s = scenario("");
        assert_eq!(incidents(&s), incidents(&s));
        let mut other = s.clone();
        other.seed = 8;
        assert_ne!(incidents(&s), incidents(&other));
    }

    #[test]
    fn arrivals_follow_each_regions_business_hours() {
        let s = scenario("");
        let all = incidents(&s);
        let count = |region: &str, from_h: i64, to_h: i64| {
            all.iter()
                .filter(|i| i.region.as_str() == region)
                .filter(|i| {
                    i.at >= s.start + Duration::hours(from_h) && i.at < s.start + Duration::hours(to_h)
                })
                .count() as f64
        };
        // New York business hours on 10 March 2026 (EDT) are 13:00-21:00 UTC: 8 h at 20/min.
        let ny_business = count("us-east-1", 13, 21);
        assert!((ny_business / (8.0 * 60.0 * 20.0) - 1.0).abs() < 0.05, "{ny_business}");
        let ny_night = count("us-east-1", 0, 8);
        assert!((ny_night / (8.0 * 60.0 * 2.0) - 1.0).abs() < 0.1, "{ny_night}");
        // Singapore (UTC+8) is at work 01:00-09:00 UTC.
        let sg_business = count("ap-southeast-1", 1, 9);
        assert!((sg_business / (8.0 * 60.0 * 10.0) - 1.0).abs() < 0.05, "{sg_business}");
        // Mixes hold: three detections to a diagnosis, three lows to a critical.
        let detection = all.iter().filter(|i| i.agent_type.as_str() == "detection").count() as f64;
        assert!((detection / all.len() as f64 - 0.75).abs() < 0.02);
        let critical = all.iter().filter(|i| i.severity == Severity::Critical).count() as f64;
        assert!((critical / all.len() as f64 - 0.25).abs() < 0.02);
        assert!(
            all.windows(2).all(|w| w[0].at <= w[1].at)
                && all.iter().enumerate().all(|(n, i)| i.id == n as u64)
        );
    }

    #[test]
    fn bursts_multiply_their_regions_rate_for_their_minutes() {
        let s = scenario(
            r#", "bursts": [{"region": "us-east-1", "from": "2026-03-10T15:00:00Z", "minutes": 30, "multiplier": 4.0}]"#,
        );
        let at = |h: u32, m: u32| s.start + Duration::hours(i64::from(h)) + Duration::minutes(i64::from(m));
        let us = Region::parse("us-east-1").unwrap();
        assert!((rate_per_minute(&s, &us, at(15, 10)) - 80.0).abs() < 1e-9);
        assert!((rate_per_minute(&s, &us, at(15, 30)) - 20.0).abs() < 1e-9, "the burst is over");
        let burst =
            incidents(&s).iter().filter(|i| i.region == us && i.at >= at(15, 0) && i.at < at(15, 30)).count()
                as f64;
        assert!((burst / (30.0 * 80.0) - 1.0).abs() < 0.08, "{burst}");
    }

    #[test]
    fn service_times_have_the_configured_median_and_p95() {
        let s = scenario("");
        let mut detection: Vec<f64> = incidents(&s)
            .into_iter()
            .filter(|i| i.agent_type.as_str() == "detection")
            .map(|i| i.service_s)
            .collect();
        detection.sort_by(f64::total_cmp);
        let q = |p: f64| detection[(p * (detection.len() - 1) as f64) as usize];
        assert!((q(0.5) / 20.0 - 1.0).abs() < 0.05, "median {}", q(0.5));
        assert!((q(0.95) / 60.0 - 1.0).abs() < 0.08, "p95 {}", q(0.95));
    }

    #[test]
    fn peak_concurrency_counts_overlapping_work() {
        let s = scenario("");
        let one = |at_s: i64, service_s: f64| Incident {
            id: 0,
            at: s.start + Duration::seconds(at_s),
            region: Region::parse("us-east-1").unwrap(),
            agent_type: AgentType::parse("detection").unwrap(),
            severity: Severity::Low,
            service_s,
        };
        assert_eq!(peak_concurrency(&[one(0, 10.0), one(5, 10.0), one(12, 1.0), one(30, 1.0)]), 2);
        assert_eq!(peak_concurrency(&[]), 0);
    }
}

//! Outlier ejection (Envoy): a replica that fails 5 times in a row is ejected for 30 s x the
//! number of times it has been ejected (at most 300 s), as long as no more than 10 % of the
//! replicas would then be ejected (counting this one) and at least one healthy replica remains.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EjectionConfig {
    pub consecutive_failures: u32,
    pub base_ejection_s: i64,
    pub max_ejection_s: i64,
    pub max_ejection_percent: f64,
}

impl Default for EjectionConfig {
    fn default() -> Self {
        Self { consecutive_failures: 5, base_ejection_s: 30, max_ejection_s: 300, max_ejection_percent: 10.0 }
    }
}

/// What outlier detection remembers about one replica.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlierState {
    pub consecutive_failures: u32,
    pub times_ejected: u32,
    pub ejected_until: Option<DateTime<Utc>>,
}

impl OutlierState {
    pub fn ejected(&self, now: DateTime<Utc>) -> bool {
        self.ejected_until.is_some_and(|until| until > now)
    }
}

/// The rest of the replica set at the moment of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbours {
    /// Every replica of the type, this one included.
    pub total: usize,
    /// Others currently ejected.
    pub ejected: usize,
    /// Others healthy and not ejected.
    pub available: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Unchanged,
    Ejected {
        until: DateTime<Utc>,
    },
    /// It qualified, but ejecting it would break the cap or leave no healthy replica.
    Kept {
        reason: String,
    },
}

/// Records one result of the replica whose state is `state`.
pub fn record(
    config: &EjectionConfig,
    state: &mut OutlierState,
    ok: bool,
    now: DateTime<Utc>,
    neighbours: Neighbours,
) -> Verdict {
    if ok {
        state.consecutive_failures = 0;
        return Verdict::Unchanged;
    }
    if state.ejected(now) {
        // Answers still in flight when it was ejected say nothing new about it.
        return Verdict::Unchanged;
    }
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    if state.consecutive_failures < config.consecutive_failures {
        return Verdict::Unchanged;
    }
    let share_after = (neighbours.ejected + 1) as f64 * 100.0 / neighbours.total.max(1) as f64;
    if share_after > config.max_ejection_percent {
        return Verdict::Kept {
            reason: format!(
                "ejecting would put {share_after:.1} % of replicas out, above the {} % cap",
                config.max_ejection_percent
            ),
        };
    }
    if neighbours.available == 0 {
        return Verdict::Kept { reason: "it is the last healthy replica".into() };
    }
    state.times_ejected += 1;
    let seconds = (config.base_ejection_s * i64::from(state.times_ejected)).min(config.max_ejection_s);
    let until = now + Duration::seconds(seconds);
    state.ejected_until = Some(until);
    state.consecutive_failures = 0;
    Verdict::Ejected { until }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    const ROOMY: Neighbours = Neighbours { total: 20, ejected: 0, available: 19 };

    fn fail(state: &mut OutlierState, times: u32, at: DateTime<Utc>, n: Neighbours) -> Verdict {
        let mut last = Verdict::Unchanged;
        for _ in 0..times {
            last = record(&EjectionConfig::default(), state, false, at, n);
        }
        last
    }

    #[test]
    fn five_failures_in_a_row_eject_for_longer_each_time() {
        let mut s = OutlierState::default();
        assert_eq!(fail(&mut s, 4, now(), ROOMY), Verdict::Unchanged);
        record(&EjectionConfig::default(), &mut s, true, now(), ROOMY);
        assert_eq!(fail(&mut s, 4, now(), ROOMY), Verdict::Unchanged, "a success resets the count");
        let first = fail(&mut s, 1, now(), ROOMY);
        assert_eq!(first, Verdict::Ejected { until: now() + Duration::seconds(30) }, "the fifth in a row");
        assert_eq!(fail(&mut s, 7, now(), ROOMY), Verdict::Unchanged, "already out: no second ejection");
        assert!(s.ejected(now() + Duration::seconds(29)));
        assert!(!s.ejected(now() + Duration::seconds(30)), "un-ejected when the time is up");
        let later = now() + Duration::seconds(60);
        assert_eq!(fail(&mut s, 5, later, ROOMY), Verdict::Ejected { until: later + Duration::seconds(60) });
        s.times_ejected = 20;
        let much_later = now() + Duration::seconds(1000);
        assert_eq!(
            fail(&mut s, 5, much_later, ROOMY),
            Verdict::Ejected { until: much_later + Duration::seconds(300) },
            "at most 300 s"
        );
    }

    #[test]
    fn the_cap_counts_the_replica_being_ejected() {
        let mut s = OutlierState::default();
        let ten = Neighbours { total: 10, ejected: 0, available: 9 };
        assert!(matches!(fail(&mut s, 5, now(), ten), Verdict::Ejected { .. }), "1 of 10 is 10 %");
        let mut t = OutlierState::default();
        let one_out = Neighbours { total: 10, ejected: 1, available: 8 };
        assert!(matches!(fail(&mut t, 5, now(), one_out), Verdict::Kept { .. }), "2 of 10 is 20 %");
        assert!(!t.ejected(now()));
        let mut u = OutlierState::default();
        let nine = Neighbours { total: 9, ejected: 0, available: 8 };
        assert!(matches!(fail(&mut u, 5, now(), nine), Verdict::Kept { .. }), "1 of 9 is 11 %");
    }

    #[test]
    fn never_the_last_healthy_replica() {
        let mut s = OutlierState::default();
        let alone = Neighbours { total: 10, ejected: 0, available: 0 };
        let verdict = fail(&mut s, 5, now(), alone);
        assert_eq!(verdict, Verdict::Kept { reason: "it is the last healthy replica".into() });
    }
}

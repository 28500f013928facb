//! Several regional endpoints of one API (a control plane deployed in two regions has an API in
//! each), in the caller's order of preference, and which of them to use.
//!
//! An endpoint that gives no answer, or answers 502, 503 or 504, is marked down for the recheck
//! interval and the next call goes to the next endpoint in order. Once the interval has passed, a
//! preferred endpoint is health-checked (`GET /health`, a short timeout) before it is used again,
//! so a region that is still down costs one short probe per interval, not a call's full timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::base::ApiBase;
use crate::sigv4::Signer;

/// How long a failed endpoint is passed over before it is checked again.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(30);

/// One regional API and how to sign for it (its region's signer; none for loopback).
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub base: ApiBase,
    pub signer: Option<Signer>,
    down_until: Mutex<Option<Instant>>,
}

impl Endpoint {
    pub fn new(base: ApiBase, signer: Option<Signer>) -> Self {
        Self { base, signer, down_until: Mutex::new(None) }
    }

    fn down_until(&self) -> Option<Instant> {
        *self.down_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_down_until(&self, until: Option<Instant>) {
        *self.down_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }
}

/// What [`Endpoints::choose`] found for a call: use this endpoint now, or health-check it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Use(usize),
    CheckFirst(usize),
}

#[derive(Debug)]
pub(crate) struct Endpoints {
    pub list: Vec<Endpoint>,
    pub recheck: Duration,
}

impl Endpoints {
    /// The candidates for a call at `now`, in the order to try them: each endpoint in the
    /// caller's order that is up (or due a health check), then, if every one is down, the one that
    /// comes back soonest.
    pub fn choose(&self, now: Instant) -> Vec<Choice> {
        let mut choices = Vec::new();
        for (i, endpoint) in self.list.iter().enumerate() {
            match endpoint.down_until() {
                None => {
                    choices.push(Choice::Use(i));
                    return choices;
                }
                Some(until) if until <= now => choices.push(Choice::CheckFirst(i)),
                Some(_) => {}
            }
        }
        let soonest = self.list.iter().enumerate().filter_map(|(i, e)| e.down_until().map(|u| (u, i))).min();
        if let Some((_, i)) = soonest
            && !choices.iter().any(|c| matches!(c, Choice::CheckFirst(j) if *j == i))
        {
            choices.push(Choice::Use(i));
        }
        choices
    }

    pub fn mark_down(&self, i: usize, now: Instant) {
        if let Some(endpoint) = self.list.get(i) {
            endpoint.set_down_until(Some(now + self.recheck));
        }
    }

    pub fn mark_up(&self, i: usize) {
        if let Some(endpoint) = self.list.get(i) {
            endpoint.set_down_until(None);
        }
    }

    /// The endpoint a call made now would use first, without checking anything: the first
    /// that is not marked down, else the first.
    pub fn preferred(&self) -> &Endpoint {
        self.list.iter().find(|e| e.down_until().is_none()).unwrap_or(&self.list[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: usize) -> Endpoints {
        let list = (0..n)
            .map(|i| Endpoint::new(ApiBase::parse(&format!("http://127.0.0.1:{}", 9000 + i)).unwrap(), None))
            .collect();
        Endpoints { list, recheck: Duration::from_secs(30) }
    }

    #[test]
    fn failed_endpoints_are_passed_over_then_checked_before_use() {
        let e = endpoints(3);
        let t0 = Instant::now();
        assert_eq!(e.choose(t0), [Choice::Use(0)], "the first in order while it answers");
        e.mark_down(0, t0);
        assert_eq!(e.choose(t0), [Choice::Use(1)], "the next while the first is down");
        assert_eq!(e.preferred().base.authority.port_u16(), Some(9001));
        let later = t0 + Duration::from_secs(31);
        assert_eq!(
            e.choose(later),
            [Choice::CheckFirst(0), Choice::Use(1)],
            "the first is checked before it is used again"
        );
        e.mark_up(0);
        assert_eq!(e.choose(later), [Choice::Use(0)]);
    }

    #[test]
    fn with_every_endpoint_down_the_one_back_soonest_is_tried() {
        let e = endpoints(2);
        let t0 = Instant::now();
        e.mark_down(1, t0);
        e.mark_down(0, t0 + Duration::from_secs(5));
        assert_eq!(e.choose(t0 + Duration::from_secs(1)), [Choice::Use(1)]);
        assert_eq!(
            e.choose(t0 + Duration::from_secs(31)),
            [Choice::CheckFirst(1)],
            "the one due a check is checked; the other is not due yet"
        );
    }
}

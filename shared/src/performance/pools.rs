//! Connection pools per external service: how many requests may be in flight at once, how long a
//! caller waits for a slot, and gauges of what is in flight, so a saturated pool shows up as a
//! number and a recommendation instead of as unexplained latency.
//!
//! Each container has one [`Pools`]; every HTTP client of the container takes its slots from the
//! pool of the service it talks to (the AWS SDK clients through [`crate::aws::pooled_http_client`],
//! the chat webhook through the Slack pool).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The external services the suite talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Aws,
    Datadog,
    Pagerduty,
    Slack,
    Http,
}

impl Service {
    pub const ALL: [Self; 5] = [Self::Aws, Self::Datadog, Self::Pagerduty, Self::Slack, Self::Http];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Datadog => "datadog",
            Self::Pagerduty => "pagerduty",
            Self::Slack => "slack",
            Self::Http => "http",
        }
    }

    /// The seed's limits: AWS 50/5/30, Datadog 20/2/15, PagerDuty 10/1/20, Slack 5/1/10,
    /// generic HTTP 100/10/30 (max / min / timeout s).
    pub fn default_limits(self) -> PoolLimits {
        let (max, min, timeout_s) = match self {
            Self::Aws => (50, 5, 30),
            Self::Datadog => (20, 2, 15),
            Self::Pagerduty => (10, 1, 20),
            Self::Slack => (5, 1, 10),
            Self::Http => (100, 10, 30),
        };
        PoolLimits { max, min, timeout: Duration::from_secs(timeout_s) }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pool's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Requests in flight at once; more wait for a slot.
    pub max: u32,
    /// Idle connections worth keeping open (the HTTP client keeps up to `max` idle per host).
    pub min: u32,
    /// How long a request waits for a slot, and the longest a request may take.
    pub timeout: Duration,
}

impl FromStr for PoolLimits {
    type Err = String;

    /// `max/min/timeout_s`, for example `50/5/30`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').map(str::trim).collect();
        let [max, min, timeout] = parts.as_slice() else {
            return Err("must be max/min/timeout_seconds, for example 50/5/30".into());
        };
        let number =
            |what: &str, v: &str| v.parse::<u32>().map_err(|_| format!("{what} {v:?} is not a whole number"));
        let (max, min, timeout) = (number("max", max)?, number("min", min)?, number("timeout", timeout)?);
        if max == 0 || max > 10_000 {
            return Err("max must be 1 to 10000".into());
        }
        if min > max {
            return Err("min must not exceed max".into());
        }
        if timeout == 0 || timeout > 900 {
            return Err("timeout must be 1 to 900 seconds".into());
        }
        Ok(Self { max, min, timeout: Duration::from_secs(u64::from(timeout)) })
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("no {service} connection free within {} s ({max} in flight)", timeout.as_secs())]
pub struct PoolExhausted {
    pub service: Service,
    pub max: u32,
    pub timeout: Duration,
}

/// One service's pool: a semaphore of `max` slots and its gauges.
#[derive(Debug)]
pub struct Pool {
    service: Service,
    limits: PoolLimits,
    slots: Arc<Semaphore>,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    requests: AtomicU64,
    waited: AtomicU64,
    exhausted: AtomicU64,
}

/// A held slot; dropping it frees the slot and lowers the in-flight gauge.
#[derive(Debug)]
pub struct Slot {
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a pool's gauges read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoolSnapshot {
    pub service: String,
    pub max: u32,
    pub min: u32,
    pub timeout_s: u64,
    pub in_flight: u64,
    /// The most in flight at once since the container started.
    pub peak_in_flight: u64,
    pub requests: u64,
    /// Requests that found every slot taken and waited.
    pub waited: u64,
    /// Requests that gave up waiting.
    pub exhausted: u64,
    /// `peak_in_flight / max`: how close the pool came to making callers wait.
    pub utilization: f64,
}

impl Pool {
    pub fn new(service: Service, limits: PoolLimits) -> Arc<Self> {
        Arc::new(Self {
            service,
            limits,
            slots: Arc::new(Semaphore::new(limits.max as usize)),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
        })
    }

    pub fn service(&self) -> Service {
        self.service
    }

    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    /// Takes a slot, waiting up to the pool's timeout for one to free up.
    pub async fn acquire(self: &Arc<Self>) -> Result<Slot, PoolExhausted> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let permit = if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            permit
        } else {
            self.waited.fetch_add(1, Ordering::Relaxed);
            let waiting = Arc::clone(&self.slots).acquire_owned();
            // The semaphore is never closed: only the timeout ends the wait without a slot.
            let Ok(Ok(permit)) = tokio::time::timeout(self.limits.timeout, waiting).await else {
                self.exhausted.fetch_add(1, Ordering::Relaxed);
                return Err(PoolExhausted {
                    service: self.service,
                    max: self.limits.max,
                    timeout: self.limits.timeout,
                });
            };
            permit
        };
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        Ok(Slot { pool: Arc::clone(self), _permit: permit })
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let peak = self.peak_in_flight.load(Ordering::Relaxed);
        PoolSnapshot {
            service: self.service.to_string(),
            max: self.limits.max,
            min: self.limits.min,
            timeout_s: self.limits.timeout.as_secs(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            peak_in_flight: peak,
            requests: self.requests.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
            exhausted: self.exhausted.load(Ordering::Relaxed),
            utilization: peak as f64 / f64::from(self.limits.max),
        }
    }
}

/// The container's pools, one per service.
#[derive(Debug, Clone)]
pub struct Pools {
    pools: Arc<BTreeMap<Service, Arc<Pool>>>,
}

impl Default for Pools {
    fn default() -> Self {
        Self::with_limits(Service::default_limits)
    }
}

impl Pools {
    pub fn with_limits(limits: impl Fn(Service) -> PoolLimits) -> Self {
        Self { pools: Arc::new(Service::ALL.iter().map(|&s| (s, Pool::new(s, limits(s)))).collect()) }
    }

    pub fn get(&self, service: Service) -> Arc<Pool> {
        Arc::clone(&self.pools[&service])
    }

    pub fn snapshot(&self) -> Vec<PoolSnapshot> {
        self.pools.values().map(|p| p.snapshot()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_refuse_nonsense() {
        type Expected = Result<(u32, u32, u64), &'static str>;
        let table: [(&str, Expected); 6] = [
            ("50/5/30", Ok((50, 5, 30))),
            (" 7 / 0 / 1 ", Ok((7, 0, 1))),
            ("50/5", Err("max/min/timeout")),
            ("0/0/30", Err("max must be")),
            ("5/6/30", Err("min must not exceed max")),
            ("5/1/x", Err("not a whole number")),
        ];
        for (input, expected) in table {
            let got = input.parse::<PoolLimits>().map(|l| (l.max, l.min, l.timeout.as_secs()));
            match (got, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(why), Err(part)) => assert!(why.contains(part), "{input}: {why}"),
                (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_pool_makes_callers_wait_then_gives_up() {
        let pool = Pool::new(Service::Slack, PoolLimits { max: 2, min: 0, timeout: Duration::from_secs(10) });
        let a = pool.acquire().await.unwrap();
        let b = pool.acquire().await.unwrap();
        assert_eq!(pool.snapshot().in_flight, 2);
        // A third waits; freeing a slot within the timeout lets it through.
        let waiting = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.acquire().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(a);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        // With every slot held for longer than the timeout, the caller gets a typed error.
        let c = pool.acquire().await.unwrap();
        let refused = pool.acquire().await.unwrap_err();
        assert_eq!(refused.max, 2);
        let s = pool.snapshot();
        assert_eq!((s.in_flight, s.peak_in_flight, s.requests, s.waited, s.exhausted), (2, 2, 5, 2, 1));
        assert!((s.utilization - 1.0).abs() < 1e-9);
        drop((b, c));
        assert_eq!(pool.snapshot().in_flight, 0, "dropped slots lower the gauge");
    }
}

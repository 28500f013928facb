//! Lambda execution environments of one function in one region, as the simulation sees them: a
//! request takes an idle warm environment if there is one (provisioned ones first), else a new one
//! is started and the request waits its initialisation (a cold start); an environment idle longer
//! than the idle timeout is reclaimed. Warming pings start or refresh environments without
//! counting as traffic. AWS documents no fixed idle timeout; the simulation takes it as a parameter.

use chrono::{DateTime, Duration, Utc};

/// How a request started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// An initialised environment was free: no delay.
    Warm,
    /// A new environment was started: the request waited `init`.
    Cold { init: Duration },
}

#[derive(Debug, Clone, Copy)]
struct Environment {
    id: u64,
    /// Kept initialised whatever the traffic.
    provisioned: bool,
    busy_until: DateTime<Utc>,
    last_used: DateTime<Utc>,
}

/// The environments of one function in one region.
#[derive(Debug, Clone)]
pub struct Environments {
    idle_timeout: Duration,
    init: Duration,
    live: Vec<Environment>,
    started: u64,
    pub warm_starts: u64,
    pub cold_starts: u64,
    /// Environments started by warming pings (not user-facing).
    pub warmed_by_pings: u64,
}

impl Environments {
    pub fn new(idle_timeout: Duration, init: Duration) -> Self {
        Self {
            idle_timeout,
            init,
            live: Vec::new(),
            started: 0,
            warm_starts: 0,
            cold_starts: 0,
            warmed_by_pings: 0,
        }
    }

    /// Drops on-demand environments idle for longer than the idle timeout at `at`.
    fn reclaim(&mut self, at: DateTime<Utc>) {
        let timeout = self.idle_timeout;
        self.live.retain(|e| e.provisioned || e.busy_until > at || at - e.last_used <= timeout);
    }

    /// Sets the provisioned environments to `n` (initialised at once, as provisioned concurrency
    /// is before it is reported ready).
    pub fn set_provisioned(&mut self, n: usize, at: DateTime<Utc>) {
        let current = self.live.iter().filter(|e| e.provisioned).count();
        if n > current {
            for _ in current..n {
                let id = self.next_id();
                self.live.push(Environment { id, provisioned: true, busy_until: at, last_used: at });
            }
        } else {
            let mut excess = current - n;
            // Idle ones go first; busy ones finish their request as on-demand environments.
            self.live.sort_by_key(|e| (!e.provisioned, e.busy_until > at));
            for e in self.live.iter_mut().filter(|e| e.provisioned) {
                if excess == 0 {
                    break;
                }
                e.provisioned = false;
                excess -= 1;
            }
        }
    }

    /// The index of a free initialised environment at `at`, provisioned ones first.
    fn free(&self, at: DateTime<Utc>) -> Option<usize> {
        let free = |e: &Environment| e.busy_until <= at;
        self.live.iter().position(|e| e.provisioned && free(e)).or_else(|| self.live.iter().position(free))
    }

    /// One request arriving at `at` that works for `work` once started.
    pub fn invoke(&mut self, at: DateTime<Utc>, work: Duration) -> Start {
        self.reclaim(at);
        if let Some(i) = self.free(at) {
            let e = &mut self.live[i];
            e.busy_until = at + work;
            e.last_used = e.busy_until;
            self.warm_starts += 1;
            return Start::Warm;
        }
        let done = at + self.init + work;
        let id = self.next_id();
        self.live.push(Environment { id, provisioned: false, busy_until: done, last_used: done });
        self.cold_starts += 1;
        Start::Cold { init: self.init }
    }

    fn next_id(&mut self) -> u64 {
        self.started += 1;
        self.started
    }

    /// One warming ping at `at` held for `hold`: it takes a free environment, or starts one.
    /// Answers the environment's id and whether the ping started it (a cold start).
    pub fn ping(&mut self, at: DateTime<Utc>, hold: Duration) -> (u64, bool) {
        self.reclaim(at);
        if let Some(e) = self.live.iter_mut().find(|e| e.busy_until <= at) {
            e.busy_until = at + hold;
            e.last_used = e.busy_until;
            return (e.id, false);
        }
        let done = at + self.init + hold;
        let id = self.next_id();
        self.live.push(Environment { id, provisioned: false, busy_until: done, last_used: done });
        self.warmed_by_pings += 1;
        (id, true)
    }

    /// Initialised environments at `at` (busy or idle).
    pub fn initialised(&mut self, at: DateTime<Utc>) -> usize {
        self.reclaim(at);
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn pool() -> Environments {
        Environments::new(Duration::minutes(10), Duration::milliseconds(800))
    }

    #[test]
    fn requests_reuse_free_environments_and_start_new_ones_when_all_are_busy() {
        let mut env = pool();
        let work = Duration::seconds(30);
        let cold = Start::Cold { init: Duration::milliseconds(800) };
        // (arrival s, expected start)
        let table =
            [(0, cold), (10, cold), (40, Start::Warm), (41, Start::Warm), (42, cold), (600, Start::Warm)];
        for (at, expected) in table {
            assert_eq!(env.invoke(t(at), work), expected, "request at {at} s");
        }
        assert_eq!((env.cold_starts, env.warm_starts), (3, 3));
        // Idle beyond ten minutes: reclaimed, the next request starts cold.
        assert_eq!(env.invoke(t(600 + 30 + 601), work), cold);
        assert_eq!(env.initialised(t(600 + 30 + 601)), 1, "the others were reclaimed");
    }

    #[test]
    fn provisioned_environments_never_start_cold_until_outnumbered() {
        let mut env = pool();
        env.set_provisioned(2, t(0));
        let work = Duration::seconds(60);
        assert_eq!(env.invoke(t(3600), work), Start::Warm, "provisioned stay initialised while idle");
        assert_eq!(env.invoke(t(3600), work), Start::Warm);
        assert!(matches!(env.invoke(t(3600), work), Start::Cold { .. }), "a third request needs a new one");
        env.set_provisioned(0, t(3700));
        assert_eq!(env.initialised(t(3700 + 601)), 0, "unprovisioned and idle: reclaimed");
    }

    #[test]
    fn pings_keep_environments_warm_without_counting_as_traffic() {
        let mut env = pool();
        let hold = Duration::milliseconds(100);
        // Three pings held together start three environments, each answering its own id.
        let first: Vec<(u64, bool)> = (0..3).map(|_| env.ping(t(0), hold)).collect();
        assert_eq!(first, [(1, true), (2, true), (3, true)]);
        assert_eq!((env.warmed_by_pings, env.cold_starts), (3, 0));
        // Pinged every five minutes, three environments are there for a burst an hour later.
        for k in 1..=12 {
            let ids: Vec<u64> = (0..3).map(|_| env.ping(t(k * 300), hold).0).collect();
            assert_eq!(ids, [1, 2, 3], "the same environments answer");
        }
        assert_eq!(env.warmed_by_pings, 3, "refreshing warm environments starts none");
        for _ in 0..3 {
            assert_eq!(env.invoke(t(3601), Duration::seconds(20)), Start::Warm);
        }
        assert!(matches!(env.invoke(t(3601), Duration::seconds(20)), Start::Cold { .. }));
    }
}

//! Where a container's start goes: each phase of `Container::lambda` (and a function's own
//! wiring after it) timed, and logged at DEBUG once logging is up, so `AWS_LAMBDA_LOG_LEVEL=DEBUG`
//! shows a cold start's breakdown without a profiler. The figures in docs/performance.md come
//! from these lines.

use std::time::{Duration, Instant};

/// The phases timed so far, each with how long it took.
#[derive(Debug)]
pub struct InitPhases {
    started: Instant,
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl InitPhases {
    /// Starts timing now (a function's `main` calls this first).
    pub fn start() -> Self {
        let now = Instant::now();
        Self { started: now, last: now, phases: Vec::new() }
    }

    /// Ends the phase `name`, which began where the previous one ended.
    pub fn phase(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push((name, now - self.last));
        self.last = now;
    }

    /// The phases ended so far, in order.
    pub fn phases(&self) -> &[(&'static str, Duration)] {
        &self.phases
    }

    /// Logs every phase ended so far at DEBUG and forgets them (logging must be up by now).
    pub fn log(&mut self) {
        for (phase, took) in self.phases.drain(..) {
            tracing::debug!(phase, took_us = took.as_micros() as u64, "init phase");
        }
        tracing::debug!(since_start_us = self.started.elapsed().as_micros() as u64, "init so far");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_timed_back_to_back_in_order() {
        let mut init = InitPhases::start();
        std::thread::sleep(Duration::from_millis(3));
        init.phase("first");
        init.phase("second");
        let phases = init.phases();
        assert_eq!(phases.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["first", "second"]);
        assert!(phases[0].1 >= Duration::from_millis(3), "{phases:?}");
        assert!(phases[1].1 < phases[0].1, "{phases:?}");
    }
}

//! The day-long fleet simulation: scenarios, the incident workload they describe, the AWS the
//! suite runs on (execution environments, metrics), the agenda of events, the engine that drives
//! the suite's own decision code through a day, the baselines it is compared with, the record of
//! outcomes and the report.

pub mod arrivals;
pub mod aws;
pub mod cloudwatch;
pub mod containers;
pub mod control_plane;
pub mod engine;
pub mod events;
pub mod fleet;
pub mod history;
pub mod outcomes;
pub mod recorded_day;
pub mod report;
pub mod scenario;
pub mod variant;
pub mod what_if;

pub use arrivals::{Incident, incidents, peak_concurrency};
pub use containers::{Environments, Start};
pub use engine::{
    DayRun, HourRow, MorningWait, Progress, Sample, SimulationError, SweepPoint, run, to_the_end,
};
pub use events::Agenda;
pub use outcomes::{HourSummary, Outcomes, Overall, TypeSummary, response_targets};
pub use scenario::Scenario;
pub use variant::Variant;

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Scenario {
        let path = format!("{}/../tests/fixtures/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
        Scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_scenarios_read_and_the_normal_day_peaks_above_a_thousand_incidents() {
        let normal = fixture("normal-day");
        let outage = fixture("us-east-1-outage");
        let spike = fixture("cost-spike");
        assert_eq!((outage.outages.len(), spike.cost_spikes.len()), (1, 2));
        let day = incidents(&normal);
        let peak = peak_concurrency(&day);
        println!("normal day: {} incidents, peak {peak} at once", day.len());
        assert!(peak > 1000, "the normal day peaks at {peak} concurrent incidents");
        // The disturbances change what happens to incidents, not which arrive: same workload.
        for other in [&outage, &spike] {
            assert_eq!(
                (other.start, other.hours, other.seed, &other.regions, &other.bursts, &other.limits),
                (normal.start, normal.hours, normal.seed, &normal.regions, &normal.bursts, &normal.limits)
            );
            assert_eq!(
                (&other.agent_mix, &other.severity_mix, &other.service),
                (&normal.agent_mix, &normal.severity_mix, &normal.service)
            );
        }
    }
}

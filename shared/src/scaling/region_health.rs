//! Failover without an operator: a region is marked unhealthy when its replicas of some type go
//! silent while other regions still report, or when its Lambda agents fail too often; it is
//! cleared once it has looked well for a hold-down period. An operator's mark, either way, is
//! never touched. Pure: the tick gathers the evidence and writes the changes.

use chrono::{DateTime, Duration, Utc};

use super::records::{MarkSource, RegionEvent, RegionHealth};
use super::signals::LambdaFigures;
use crate::domain::{AgentType, Region};

/// How the scaler judges regions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSettings {
    /// A region whose replicas were live this recently and are gone now is silent.
    pub silence_window: Duration,
    /// How long a marked region must look well before its mark is cleared.
    pub hold_down: Duration,
    /// Failed share of Lambda invocations (errors and throttles) that marks a region.
    pub failure_rate: f64,
    /// Fewer attempts than this in the window prove nothing either way.
    pub min_attempts: f64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            silence_window: Duration::minutes(5),
            hold_down: Duration::minutes(5),
            failure_rate: 0.5,
            min_attempts: 10.0,
        }
    }
}

/// What the tick saw of one region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionEvidence {
    /// Types whose replicas here were live within the silence window and are due here, and of
    /// which none report now while the type's replicas in other regions still do.
    pub silent_types: Vec<AgentType>,
    /// Healthy replicas of any type reporting here now.
    pub healthy_replicas: u32,
    /// Lambda agents here, added up over the types that are Lambda functions (None: none is).
    pub lambda: Option<LambdaFigures>,
}

/// A type is silent in a region when it was live there within the window, is still due there,
/// has nothing live there now, and is live somewhere else.
pub fn is_silent(
    last_live_at: Option<DateTime<Utc>>,
    due: u32,
    live_here: u32,
    live_elsewhere: u32,
    settings: &HealthSettings,
    now: DateTime<Utc>,
) -> bool {
    live_here == 0
        && due > 0
        && live_elsewhere > 0
        && last_live_at.is_some_and(|at| now - at <= settings.silence_window)
}

/// A change the tick should store.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthChange {
    /// Write this mark (new, or its recovery bookkeeping), if the stored one is still at `version`
    /// (`None`: there is none).
    Put { region: Region, health: RegionHealth, version: Option<u64>, event: Option<RegionEvent> },
    /// Remove the automatic mark at `version`: the region is well again.
    Clear { region: Region, version: u64, event: RegionEvent },
}

fn failing(evidence: &RegionEvidence, settings: &HealthSettings) -> Option<(MarkSource, String)> {
    if !evidence.silent_types.is_empty() {
        let names: Vec<&str> = evidence.silent_types.iter().map(AgentType::as_str).collect();
        return Some((
            MarkSource::Silence,
            format!("{} replicas stopped reporting here while other regions still report", names.join(", ")),
        ));
    }
    let lambda = evidence.lambda?;
    let attempts = lambda.invocations + lambda.throttles;
    let rate = lambda.failure_rate()?;
    (attempts >= settings.min_attempts && rate >= settings.failure_rate).then(|| {
        (
            MarkSource::Errors,
            format!(
                "{:.0} % of {attempts:.0} Lambda agent invocations failed (errors {:.0}, throttles {:.0})",
                rate * 100.0,
                lambda.errors,
                lambda.throttles
            ),
        )
    })
}

/// Whether a region marked for `source` looks well now.
fn looks_well(source: MarkSource, evidence: &RegionEvidence, settings: &HealthSettings) -> bool {
    match source {
        MarkSource::Silence => evidence.silent_types.is_empty() && evidence.healthy_replicas > 0,
        MarkSource::Errors => evidence.lambda.is_some_and(|l| {
            l.invocations + l.throttles >= 1.0 && l.failure_rate().is_some_and(|r| r < settings.failure_rate)
        }),
        MarkSource::Operator => false,
    }
}

/// The changes to each region's mark. `marks` holds every region with its stored mark and the
/// mark's version; `evidence` is matched by region (a region without evidence proves nothing).
pub fn assess(
    marks: &[(Region, Option<(RegionHealth, u64)>)],
    evidence: &[(Region, RegionEvidence)],
    settings: &HealthSettings,
    now: DateTime<Utc>,
) -> Vec<HealthChange> {
    let mut changes = Vec::new();
    for (region, mark) in marks {
        let Some(seen) = evidence.iter().find(|(r, _)| r == region).map(|(_, e)| e) else { continue };
        match mark {
            // An operator's mark overrides the scaler either way.
            Some((health, _)) if health.source == MarkSource::Operator => {}
            Some((health, version)) if !health.healthy => {
                let well = looks_well(health.source, seen, settings);
                match (well, health.recovering_since) {
                    (true, Some(since)) if now - since >= settings.hold_down => {
                        changes.push(HealthChange::Clear {
                            region: region.clone(),
                            version: *version,
                            event: RegionEvent {
                                at: now,
                                region: region.clone(),
                                healthy: true,
                                source: health.source,
                                reason: format!(
                                    "well again for {} minutes: its share returns",
                                    settings.hold_down.num_minutes()
                                ),
                            },
                        });
                    }
                    (true, None) | (false, Some(_)) => {
                        let mut next = health.clone();
                        next.recovering_since = well.then_some(now);
                        changes.push(HealthChange::Put {
                            region: region.clone(),
                            health: next,
                            version: Some(*version),
                            event: None,
                        });
                    }
                    (true, Some(_)) | (false, None) => {}
                }
            }
            // No mark, or an automatic healthy one (not written by this module, but harmless).
            _ => {
                if let Some((source, reason)) = failing(seen, settings) {
                    changes.push(HealthChange::Put {
                        region: region.clone(),
                        health: RegionHealth {
                            healthy: false,
                            weight: mark.as_ref().map_or(1.0, |(h, _)| h.weight),
                            reason: Some(reason.clone()),
                            updated_at: now,
                            source,
                            recovering_since: None,
                        },
                        version: mark.as_ref().map(|(_, v)| *v),
                        event: Some(RegionEvent {
                            at: now,
                            region: region.clone(),
                            healthy: false,
                            source,
                            reason,
                        }),
                    });
                }
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn silent() -> RegionEvidence {
        RegionEvidence {
            silent_types: vec![AgentType::parse("detection").unwrap()],
            ..RegionEvidence::default()
        }
    }

    fn reporting(n: u32) -> RegionEvidence {
        RegionEvidence { healthy_replicas: n, ..RegionEvidence::default() }
    }

    fn auto(source: MarkSource, recovering_since: Option<DateTime<Utc>>) -> RegionHealth {
        RegionHealth {
            healthy: false,
            weight: 1.0,
            reason: Some("x".into()),
            updated_at: t0(),
            source,
            recovering_since,
        }
    }

    #[test]
    fn silence_marks_and_reporting_for_the_hold_down_clears() {
        let s = HealthSettings::default();
        let east = r("us-east-1");
        let marked = assess(&[(east.clone(), None)], &[(east.clone(), silent())], &s, t0());
        let [HealthChange::Put { health, version: None, event: Some(event), .. }] = marked.as_slice() else {
            panic!("{marked:?}")
        };
        assert_eq!((health.healthy, health.source), (false, MarkSource::Silence));
        assert!(event.reason.contains("detection"), "{event:?}");

        let mark = Some((auto(MarkSource::Silence, None), 3));
        assert!(assess(&[(east.clone(), mark.clone())], &[(east.clone(), silent())], &s, t0()).is_empty());
        let started = assess(&[(east.clone(), mark)], &[(east.clone(), reporting(2))], &s, t0());
        assert!(
            matches!(&started[..], [HealthChange::Put { health, version: Some(3), event: None, .. }] if health.recovering_since == Some(t0()))
        );
        let recovering = Some((auto(MarkSource::Silence, Some(t0())), 4));
        let early = t0() + Duration::minutes(4);
        assert!(
            assess(&[(east.clone(), recovering.clone())], &[(east.clone(), reporting(2))], &s, early)
                .is_empty()
        );
        let relapse =
            assess(&[(east.clone(), recovering.clone())], &[(east.clone(), reporting(0))], &s, early);
        assert!(
            matches!(&relapse[..], [HealthChange::Put { health, .. }] if health.recovering_since.is_none())
        );
        let done = t0() + Duration::minutes(5);
        let cleared = assess(&[(east.clone(), recovering)], &[(east.clone(), reporting(2))], &s, done);
        assert!(matches!(&cleared[..], [HealthChange::Clear { version: 4, event, .. }] if event.healthy));
    }

    #[test]
    fn operator_marks_are_never_touched() {
        let s = HealthSettings::default();
        let east = r("us-east-1");
        let healthy = RegionHealth::operator(true, 1.0, Some("known good".into()), t0());
        assert!(
            assess(&[(east.clone(), Some((healthy, 1)))], &[(east.clone(), silent())], &s, t0()).is_empty()
        );
        let down = RegionHealth::operator(false, 1.0, None, t0());
        let late = t0() + Duration::hours(1);
        assert!(
            assess(&[(east.clone(), Some((down, 1)))], &[(east.clone(), reporting(5))], &s, late).is_empty()
        );
    }

    #[test]
    fn lambda_failures_mark_a_region_only_past_the_threshold_with_enough_attempts() {
        let s = HealthSettings::default();
        let east = r("us-east-1");
        let figures = |invocations: f64, errors: f64, throttles: f64| RegionEvidence {
            lambda: Some(LambdaFigures { invocations, errors, throttles, ..LambdaFigures::default() }),
            ..RegionEvidence::default()
        };
        let cases = [
            (figures(100.0, 49.0, 0.0), false),
            (figures(100.0, 50.0, 0.0), true),
            (figures(10.0, 0.0, 10.0), true),
            (figures(4.0, 4.0, 0.0), false),
            (RegionEvidence::default(), false),
        ];
        for (evidence, marks) in cases {
            let changes = assess(&[(east.clone(), None)], &[(east.clone(), evidence.clone())], &s, t0());
            assert_eq!(!changes.is_empty(), marks, "{evidence:?}");
        }
        let mark = Some((auto(MarkSource::Errors, Some(t0())), 1));
        let later = t0() + Duration::minutes(6);
        let idle =
            assess(&[(east.clone(), mark.clone())], &[(east.clone(), figures(0.0, 0.0, 0.0))], &s, later);
        assert!(
            matches!(&idle[..], [HealthChange::Put { health, .. }] if health.recovering_since.is_none()),
            "no attempts prove nothing"
        );
        let well = assess(&[(east.clone(), mark)], &[(east.clone(), figures(50.0, 1.0, 0.0))], &s, later);
        assert!(matches!(&well[..], [HealthChange::Clear { .. }]));
    }

    #[test]
    fn silence_needs_recent_life_a_due_share_and_another_region_reporting() {
        let s = HealthSettings::default();
        let now = t0();
        let recent = Some(now - Duration::minutes(2));
        assert!(is_silent(recent, 2, 0, 3, &s, now));
        assert!(!is_silent(recent, 0, 0, 3, &s, now), "scaled to nothing there: not silence");
        assert!(!is_silent(recent, 2, 0, 0, &s, now), "nothing reports anywhere: not a regional outage");
        assert!(!is_silent(recent, 2, 1, 3, &s, now), "still reporting");
        assert!(!is_silent(Some(now - Duration::minutes(6)), 2, 0, 3, &s, now), "gone long ago");
        assert!(!is_silent(None, 2, 0, 3, &s, now), "never live there (still starting)");
    }
}

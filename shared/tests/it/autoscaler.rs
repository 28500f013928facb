//! The autoscaler against the Kubernetes HPA semantics, table by table, plus property tests and
//! the square-wave trace.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use shared::scaling::hpa::{Band, HpaPolicy, RateKind, RatePolicy, ScalingRules, SelectPolicy, Target};
use shared::scaling::replay::{Trace, replay};
use shared::scaling::{
    Floor, Observation, Recommendation, ScaleEvent, ScalingHistory, decide, decide_with_floor,
};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn policy() -> HpaPolicy {
    HpaPolicy {
        min_replicas: 1,
        max_replicas: 100,
        target: Target::Utilization(0.5),
        tolerance: 0.1,
        band: None,
        scale_up: ScalingRules::default_up(),
        scale_down: ScalingRules::default_down(),
        cooldown_s: 0,
    }
}

fn metrics(values: &[Option<f64>]) -> Observation {
    Observation::Replicas { metrics: values.to_vec(), ready: vec![true; values.len()] }
}

fn with_ready(values: &[Option<f64>], ready: &[bool]) -> Observation {
    Observation::Replicas { metrics: values.to_vec(), ready: ready.to_vec() }
}

fn recs(ago_and_replicas: &[(i64, u32)]) -> ScalingHistory {
    ScalingHistory {
        recommendations: ago_and_replicas
            .iter()
            .map(|(ago, r)| Recommendation { at: now() - Duration::seconds(*ago), replicas: *r })
            .collect(),
        events: Vec::new(),
    }
}

fn events(ago_and_change: &[(i64, i64)]) -> ScalingHistory {
    ScalingHistory {
        recommendations: Vec::new(),
        events: ago_and_change
            .iter()
            .map(|(ago, c)| ScaleEvent { at: now() - Duration::seconds(*ago), change: *c })
            .collect(),
    }
}

const S: Option<f64> = None;

#[test]
fn replica_calculation_follows_the_hpa() {
    let p = policy();
    let none = ScalingHistory::default();
    let cases: Vec<(&str, u32, Observation, u32)> = vec![
        ("scale up: ratio 1.8 over 3", 3, metrics(&[Some(0.9), Some(0.9), Some(0.9)]), 6),
        ("scale down: ratio 0.4 over 3", 3, metrics(&[Some(0.2), Some(0.2), Some(0.2)]), 2),
        ("inside tolerance (1.08)", 3, metrics(&[Some(0.54), Some(0.54), Some(0.54)]), 3),
        ("just outside tolerance (1.12)", 3, metrics(&[Some(0.56), Some(0.56), Some(0.56)]), 4),
        ("edge of tolerance (0.9) keeps", 10, metrics(&[Some(0.45); 10]), 10),
        ("missing metrics idle on the way up: reverses, keep", 4, metrics(&[Some(1.0), S, S, S]), 4),
        (
            "missing metrics idle on the way up: smaller step",
            4,
            metrics(&[Some(1.0), Some(1.0), Some(1.0), S]),
            6,
        ),
        ("missing metrics full on the way down", 4, metrics(&[Some(0.1), S, Some(0.1), Some(0.1)]), 3),
        (
            "not-ready counted as 0 on the way up: reverses, keep",
            4,
            with_ready(&[Some(0.7), Some(0.7), Some(0.9), Some(0.9)], &[true, true, false, false]),
            4,
        ),
        (
            "not-ready left out on the way down",
            3,
            with_ready(&[Some(0.1), Some(0.1), Some(0.9)], &[true, true, false]),
            1,
        ),
        ("no ready metric: hold", 3, with_ready(&[Some(0.9), S, S], &[false, true, true]), 3),
        ("aggregate utilization scales by ratio", 3, Observation::Aggregate(0.85), 6),
        ("aggregate inside tolerance", 3, Observation::Aggregate(0.52), 3),
        ("aggregate NaN holds", 3, Observation::Aggregate(f64::NAN), 3),
        ("failed source holds", 3, Observation::Unavailable, 3),
        ("from zero, load appears: ratio 1.8 of one", 0, Observation::Aggregate(0.9), 2),
    ];
    let mut p0 = p.clone();
    p0.min_replicas = 0;
    for (name, current, observation, expected) in cases {
        let policy = if current == 0 { &p0 } else { &p };
        let d = decide(policy, current, &observation, &none, now());
        assert_eq!(d.desired, expected, "{name}: {:?}", d.reasons);
        assert!(!d.reasons.is_empty(), "{name} gives its reasons");
    }
}

#[test]
fn raw_metrics_compare_their_average_with_the_target_value() {
    let mut p = policy();
    p.target = Target::Value(100.0);
    let none = ScalingHistory::default();
    assert_eq!(decide(&p, 2, &metrics(&[Some(150.0), Some(250.0)]), &none, now()).desired, 4);
    // A missing raw metric counts at the target value on the way down.
    assert_eq!(decide(&p, 3, &metrics(&[Some(10.0), Some(10.0), S]), &none, now()).desired, 2);
}

#[test]
fn stabilisation_windows() {
    let p = policy();
    let down = metrics(&[Some(0.1); 5]);
    let cases = [
        ("a high recommendation inside the window holds the count", recs(&[(100, 8)]), 5),
        ("a higher one inside lets it fall only to it", recs(&[(100, 3)]), 3),
        ("one outside the window is forgotten", recs(&[(301, 8)]), 1),
        ("exactly at the window edge is outside", recs(&[(300, 8)]), 1),
    ];
    for (name, history, expected) in cases {
        assert_eq!(decide(&p, 5, &down, &history, now()).desired, expected, "{name}");
    }
    let mut up_window = policy();
    up_window.scale_up.stabilization_window_s = 60;
    let up = metrics(&[Some(1.0); 5]);
    assert_eq!(
        decide(&up_window, 5, &up, &recs(&[(30, 6)]), now()).desired,
        6,
        "scale-up takes the window's lowest"
    );
    assert_eq!(
        decide(&up_window, 5, &up, &recs(&[(30, 4)]), now()).desired,
        5,
        "never below the current count"
    );
}

#[test]
fn rate_policies_and_select_policy() {
    let up = Observation::Aggregate(50.0);
    let none = ScalingHistory::default();
    let mut p = policy();
    assert_eq!(decide(&p, 10, &up, &none, now()).desired, 20, "max(4 pods, 100 %) per 15 s");
    assert_eq!(decide(&p, 2, &up, &none, now()).desired, 6, "for small counts 4 pods is the larger change");
    p.scale_up.select_policy = SelectPolicy::Min;
    assert_eq!(decide(&p, 10, &up, &none, now()).desired, 14, "Min takes the smaller change");
    p.scale_up.select_policy = SelectPolicy::Disabled;
    assert_eq!(decide(&p, 10, &up, &none, now()).desired, 10, "Disabled does not scale up");

    let p = policy();
    let added = events(&[(10, 10)]);
    assert_eq!(
        decide(&p, 20, &up, &added, now()).desired,
        20,
        "10 added within the period: it started at 10"
    );
    assert_eq!(
        decide(&p, 20, &up, &events(&[(16, 10)]), now()).desired,
        40,
        "an older event is outside the period"
    );

    let mut slow_down = policy();
    slow_down.scale_down.policies = vec![RatePolicy { kind: RateKind::Pods, value: 1, period_s: 60 }];
    let down = Observation::Aggregate(0.01);
    assert_eq!(decide(&slow_down, 10, &down, &none, now()).desired, 9, "one pod per minute");
    assert_eq!(decide(&slow_down, 9, &down, &events(&[(30, -1)]), now()).desired, 9, "already removed one");
    slow_down.scale_down.policies.push(RatePolicy { kind: RateKind::Percent, value: 50, period_s: 60 });
    assert_eq!(decide(&slow_down, 10, &down, &none, now()).desired, 5, "Max: the larger of 1 pod and 50 %");
    slow_down.scale_down.select_policy = SelectPolicy::Min;
    assert_eq!(decide(&slow_down, 10, &down, &none, now()).desired, 9, "Min: the smaller");
}

#[test]
fn bounds_clamp_the_result() {
    let mut p = policy();
    p.max_replicas = 8;
    p.min_replicas = 2;
    let none = ScalingHistory::default();
    assert_eq!(decide(&p, 6, &Observation::Aggregate(5.0), &none, now()).desired, 8);
    assert_eq!(decide(&p, 4, &Observation::Aggregate(0.01), &none, now()).desired, 2);
    assert_eq!(
        decide(&p, 12, &Observation::Aggregate(0.5), &none, now()).desired,
        8,
        "above max moves to max"
    );
    assert_eq!(decide(&p, 1, &Observation::Unavailable, &none, now()).desired, 2, "below min moves to min");
}

#[test]
fn application_auto_scaling_cooldowns() {
    let mut p = policy();
    p.cooldown_s = 300;
    p.scale_up.policies = vec![RatePolicy { kind: RateKind::Pods, value: 100, period_s: 15 }];
    // Current 12 after +2 a minute ago; the new alarm alone would take it to 15 (+3).
    let fifteen = Observation::Aggregate(0.625);
    let d = decide(&p, 12, &fifteen, &events(&[(60, 2)]), now());
    assert_eq!(d.desired, 13, "+2 then +3 nets +3: {:?}", d.reasons);
    assert_eq!(
        decide(&p, 12, &fifteen, &events(&[(301, 2)]), now()).desired,
        15,
        "after the cooldown: a new step"
    );
    let down = Observation::Aggregate(0.1);
    assert_eq!(
        decide(&p, 12, &down, &events(&[(60, 2)]), now()).desired,
        12,
        "no scale-in during a cooldown"
    );
    let up = Observation::Aggregate(1.0);
    assert_eq!(
        decide(&p, 10, &up, &events(&[(60, -2)]), now()).desired,
        20,
        "a scale-in cooldown never blocks"
    );
}

#[test]
fn history_remembers_what_the_windows_need() {
    let p = policy();
    let mut h = ScalingHistory::default();
    let d = decide(&p, 3, &Observation::Aggregate(0.9), &h, now());
    h.record(&p, &d, now());
    assert_eq!(h.recommendations, vec![Recommendation { at: now(), replicas: 6 }]);
    assert_eq!(h.events, vec![ScaleEvent { at: now(), change: 3 }]);
    let failed = decide(&p, 6, &Observation::Unavailable, &h, now());
    h.record(&p, &failed, now());
    assert_eq!(h.recommendations.len(), 1, "a failed source leaves no recommendation");
    let later = now() + Duration::seconds(301);
    let d = decide(&p, 6, &Observation::Aggregate(0.5), &h, later);
    h.record(&p, &d, later);
    assert_eq!(h.recommendations.len(), 1, "old recommendations are dropped");
    assert!(h.events.is_empty(), "old events are dropped");
}

fn fixture(name: &str) -> Trace {
    let path = format!("{}/../tests/fixtures/scaling/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn square_wave_does_not_flap() {
    let lines = replay(&fixture("square-wave.json")).unwrap();
    assert_eq!(lines.len(), 120, "30 minutes every 15 s");
    let changes: Vec<(u64, i64)> = lines
        .iter()
        .filter(|l| l.desired != l.current)
        .map(|l| (l.t, i64::from(l.desired) - i64::from(l.current)))
        .collect();
    let downs: Vec<u64> = changes.iter().filter(|(_, c)| *c < 0).map(|(t, _)| *t).collect();
    for pair in downs.windows(2) {
        assert!(pair[1] - pair[0] >= 300, "scale-downs {downs:?} closer than 300 s");
    }
    let reversals = changes.windows(2).filter(|w| (w[0].1 > 0) != (w[1].1 > 0)).count();
    assert!(reversals <= 2, "at most 4 reversals per hour, so 2 in 30 minutes: {changes:?}");
    assert!(!changes.is_empty(), "the 85 % phases do scale up: {changes:?}");
}

#[test]
fn the_documented_example_trace_replays() {
    let lines = replay(&fixture("example.json")).unwrap();
    let got: Vec<(u64, u32, u32)> = lines.iter().map(|l| (l.t, l.current, l.desired)).collect();
    assert_eq!(got, [(0, 3, 3), (15, 3, 6), (30, 6, 9), (45, 9, 9), (360, 9, 4), (375, 4, 4)]);
}

/// Windows, periods and cooldowns from data never panic (issue 17, item 4: a cooldown of
/// 9,000,000,000,000 s panicked in chrono, killing the type's evaluation): a decision made with
/// absurd ones holds where a day-long one would.
#[test]
fn absurd_windows_and_periods_decide_instead_of_panicking() {
    let mut p = policy();
    p.cooldown_s = 9_000_000_000_000;
    p.scale_down.stabilization_window_s = u64::MAX;
    p.scale_up.policies = vec![RatePolicy { kind: RateKind::Pods, value: 4, period_s: u64::MAX }];
    let mut history = events(&[(60, 2)]);
    history.recommendations.push(Recommendation { at: now(), replicas: 9 });
    let up = decide(&p, 4, &metrics(&[Some(0.9); 4]), &history, now());
    assert!(up.desired >= 4, "{:?}", up.reasons);
    let down = decide(&p, 4, &metrics(&[Some(0.1); 4]), &history, now());
    assert_eq!(down.desired, 4, "the window (and the cooldown) hold the count: {:?}", down.reasons);
    history.record(&p, &down, now());
    let far = now() + Duration::days(365 * 1000);
    assert!(decide(&p, 4, &metrics(&[Some(0.1); 4]), &history, far).desired <= 9);
}

fn banded() -> HpaPolicy {
    let mut p = policy();
    p.target = Target::Utilization(0.7);
    p.band = Some(Band { scale_down_below: 0.3, scale_up_above: 0.8 });
    p
}

#[test]
fn thresholds_replace_the_tolerance_and_a_scale_up_adds_at_least_one() {
    let p = banded();
    let none = ScalingHistory::default();
    let cases: Vec<(&str, u32, Observation, u32)> = vec![
        ("0.79 is inside the band though 13 % off target", 4, metrics(&[Some(0.79); 4]), 4),
        ("0.31 is inside the band", 4, metrics(&[Some(0.31); 4]), 4),
        ("0.81 on one replica: ceil(1.16) = 2", 1, metrics(&[Some(0.81)]), 2),
        ("0.81 on ten: ceil(11.6) = 12", 10, metrics(&[Some(0.81); 10]), 12),
        ("0.81 on two: ceil(2.31) = 3", 2, metrics(&[Some(0.81); 2]), 3),
        ("aggregate 0.805 on 20: ceil(23.0) = 23, +1 at least", 20, Observation::Aggregate(0.805), 23),
        ("0.29 on 10: ceil(4.14) = 5", 10, metrics(&[Some(0.29); 10]), 5),
        (
            "missing metrics idle on the way up hold inside the band",
            4,
            metrics(&[Some(0.95), Some(0.95), Some(0.95), S]),
            4,
        ),
    ];
    for (name, current, observation, expected) in cases {
        let d = decide(&p, current, &observation, &none, now());
        assert_eq!(d.desired, expected, "{name}: {:?}", d.reasons);
    }
}

#[test]
fn a_floor_raises_the_recommendation_and_the_rest_still_applies() {
    let mut p = banded();
    p.max_replicas = 6;
    let none = ScalingHistory::default();
    let floor = Floor { replicas: 5, reason: "refused work".into() };
    let idle = metrics(&[Some(0.1); 3]);
    let d = decide_with_floor(&p, 3, &idle, Some(&floor), &none, now());
    assert_eq!(d.desired, 5, "{:?}", d.reasons);
    assert!(d.reasons.iter().any(|r| r.contains("refused work")));
    let high = Floor { replicas: 50, reason: "refused work".into() };
    assert_eq!(decide_with_floor(&p, 3, &idle, Some(&high), &none, now()).desired, 6, "never past max");
    let low = Floor { replicas: 2, reason: "refused work".into() };
    let busy = metrics(&[Some(0.95); 3]);
    assert_eq!(
        decide_with_floor(&p, 3, &busy, Some(&low), &none, now()).desired,
        5,
        "metrics asking more win"
    );
    assert_eq!(
        decide_with_floor(&p, 3, &Observation::Unavailable, Some(&floor), &none, now()).desired,
        5,
        "refused work is known even when the metrics are not"
    );
}

#[test]
fn scale_outs_sized_on_every_replica_are_not_netted_by_the_cooldown() {
    let mut p = banded();
    p.cooldown_s = 300;
    // +2 a minute ago, now live and still busy: a per-replica observation sees all six.
    let d = decide(&p, 6, &metrics(&[Some(0.95); 6]), &events(&[(60, 2)]), now());
    assert_eq!(d.desired, 9, "{:?}", d.reasons);
    let d = decide(&p, 6, &metrics(&[Some(0.1); 6]), &events(&[(60, 2)]), now());
    assert_eq!(d.desired, 6, "but no scale-in within the cooldown: {:?}", d.reasons);
}

proptest! {
    #[test]
    fn inside_the_thresholds_nothing_changes_and_above_them_at_least_one_is_added(
        current in 1u32..90, value in 0.0f64..2.0,
    ) {
        let p = banded();
        let d = decide(&p, current, &metrics(&vec![Some(value); current as usize]), &ScalingHistory::default(), now());
        if (0.3..=0.8).contains(&value) {
            prop_assert_eq!(d.desired, current);
        } else if value > 0.8 {
            prop_assert!(d.desired > current || current == p.max_replicas, "{:?}", d);
        } else {
            prop_assert!(d.desired <= current);
        }
    }

    #[test]
    fn results_stay_within_bounds(
        min in 0u32..10, span in 0u32..50, current in 0u32..80,
        value in prop::option::of(0.0f64..5.0), window_rec in 0u32..80,
    ) {
        let mut p = policy();
        p.min_replicas = min;
        p.max_replicas = min + span;
        let obs = value.map_or(Observation::Unavailable, Observation::Aggregate);
        let d = decide(&p, current, &obs, &recs(&[(30, window_rec)]), now());
        prop_assert!(d.desired >= p.min_replicas && d.desired <= p.max_replicas, "{:?}", d);
    }

    #[test]
    fn nothing_changes_inside_the_dead_band(current in 1u32..100, offset in -0.1f64..=0.1) {
        let p = policy();
        let value = 0.5 * (1.0 + offset * 0.999);
        let d = decide(&p, current, &Observation::Aggregate(value), &ScalingHistory::default(), now());
        prop_assert_eq!(d.desired, current);
    }

    #[test]
    fn a_failing_source_never_shrinks(current in 1u32..100, rec in 0u32..100, ago in 0i64..400) {
        let d = decide(&policy(), current, &Observation::Unavailable, &recs(&[(ago, rec)]), now());
        prop_assert!(d.desired >= current);
    }
}

//! Replica selection: each strategy's promise, panic mode and determinism.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use shared::balancing::{Balancer, Candidate, PickContext, Strategy};
use shared::domain::{Region, Severity};

fn candidate(id: &str, region: &str) -> Candidate {
    Candidate {
        id: id.into(),
        region: Region::parse(region).unwrap(),
        active: 0,
        capacity: 10,
        healthy: true,
        ejected: false,
        performance_score: 0.9,
        consecutive_failures: 0,
        weight: None,
        latency_ewma_s: 0.1,
    }
}

fn fleet(n: usize) -> Vec<Candidate> {
    (0..n).map(|i| candidate(&format!("r{i:03}"), Region::DEFAULTS[i % 4])).collect()
}

fn ctx(severity: Severity) -> PickContext<'static> {
    PickContext { severity, region: None, require_headroom: true }
}

#[test]
fn weighted_round_robin_shares_and_waits() {
    for weights in [
        &[1.0, 2.0, 3.0, 4.0, 10.0][..],
        &[1.0, 2.0, 4.0, 8.0],
        &[1.0, 1.0, 2.0, 4.0],
        &[2.0, 3.0, 5.0],
        &[5.0, 1.0, 1.0],
    ] {
        check_weighted_round_robin(weights);
    }
}

fn check_weighted_round_robin(weights: &[f64]) {
    let mut candidates = fleet(weights.len());
    for (c, w) in candidates.iter_mut().zip(weights) {
        c.weight = Some(*w);
    }
    let sum: f64 = weights.iter().sum();
    let mut b = Balancer::new(7);
    let picks = 100_000;
    let mut counts = vec![0usize; weights.len()];
    let mut last_seen = vec![0usize; weights.len()];
    let mut longest_wait = vec![0usize; weights.len()];
    for n in 1..=picks {
        let i = b.pick(Strategy::WeightedRoundRobin, &candidates, &ctx(Severity::Medium)).unwrap().index;
        counts[i] += 1;
        longest_wait[i] = longest_wait[i].max(n - last_seen[i]);
        last_seen[i] = n;
    }
    for (i, w) in weights.iter().enumerate() {
        let share = counts[i] as f64 / picks as f64;
        assert!((share - w / sum).abs() <= 0.005, "{weights:?} replica {i}: share {share} vs {}", w / sum);
        let bound = (sum / w).ceil() as usize + 1;
        assert!(
            longest_wait[i] <= bound,
            "{weights:?} replica {i} waited {} picks, bound {bound}",
            longest_wait[i]
        );
    }
}

#[test]
fn equal_weights_rotate() {
    let candidates = fleet(3);
    let mut b = Balancer::new(1);
    let order: Vec<usize> = (0..6)
        .map(|_| b.pick(Strategy::WeightedRoundRobin, &candidates, &ctx(Severity::Low)).unwrap().index)
        .collect();
    assert_eq!(order, [0, 1, 2, 0, 1, 2]);
    let rr: Vec<usize> = (0..4)
        .map(|_| b.pick(Strategy::RoundRobin, &candidates, &ctx(Severity::Low)).unwrap().index)
        .collect();
    assert_eq!(rr.len(), 4);
    assert_ne!(rr[0], rr[1]);
}

#[test]
fn least_connections_always_takes_the_less_loaded_of_two() {
    let mut b = Balancer::new(3);
    for (a, c) in [(0, 1), (5, 2), (9, 8), (1, 0)] {
        let mut two = fleet(2);
        two[0].active = a;
        two[1].active = c;
        for _ in 0..100 {
            let pick = b.pick(Strategy::LeastConnections, &two, &ctx(Severity::Medium)).unwrap();
            assert_eq!(pick.index, usize::from(a >= c), "the replica with fewer active incidents");
        }
    }
}

#[test]
fn power_of_two_choices_samples_two_distinct_replicas() {
    // Nine replicas (above the full-scan size): one idle. It wins exactly when it is one of the
    // two sampled: 2/9 when the two are distinct, 17/81 if the same could be drawn twice.
    let mut nine = fleet(9);
    for c in nine.iter_mut().skip(1) {
        c.active = 5;
    }
    let mut b = Balancer::new(11);
    let picks = 200_000;
    let idle = (0..picks)
        .filter(|_| b.pick(Strategy::LeastConnections, &nine, &ctx(Severity::Low)).unwrap().index == 0)
        .count();
    let share = idle as f64 / f64::from(picks);
    assert!((share - 2.0 / 9.0).abs() < 0.004, "idle replica share {share}");
}

#[test]
fn unequal_weights_use_the_weighted_least_request_form() {
    let mut two = fleet(2);
    two[0].weight = Some(3.0);
    two[1].weight = Some(1.0);
    let mut b = Balancer::new(5);
    let mut counts = [0u32; 2];
    for _ in 0..4000 {
        counts[b.pick(Strategy::LeastConnections, &two, &ctx(Severity::Low)).unwrap().index] += 1;
    }
    assert!((f64::from(counts[0]) / 4000.0 - 0.75).abs() < 0.01, "{counts:?}");
}

#[test]
fn severity_picks_the_best_sound_replica() {
    let mut c = fleet(4);
    c[0].performance_score = 0.99;
    c[0].consecutive_failures = 2;
    c[1].performance_score = 0.95;
    c[1].active = 10;
    c[2].performance_score = 0.93;
    c[3].performance_score = 0.40;
    let mut b = Balancer::new(2);
    let critical = b.pick(Strategy::IncidentSeverity, &c, &ctx(Severity::Critical)).unwrap();
    assert_eq!(critical.index, 2, "0 is degraded, 1 is full: {}", critical.reason);
    let high = b
        .pick(Strategy::IncidentSeverity, &c, &PickContext { require_headroom: false, ..ctx(Severity::High) })
        .unwrap();
    assert_eq!(high.index, 2, "with a sound replica that has room, a full one is passed over");
    c[1].active = 12;
    c[2].active = 10;
    let crowded = b
        .pick(Strategy::IncidentSeverity, &c, &PickContext { require_headroom: false, ..ctx(Severity::High) })
        .unwrap();
    assert_eq!(crowded.index, 1, "no sound replica has room: the best sound one, never the degraded");
    let mut low = fleet(3);
    low[0].active = 4;
    low[1].active = 1;
    low[2].active = 3;
    assert_eq!(
        b.pick(Strategy::IncidentSeverity, &low, &ctx(Severity::Low)).unwrap().index,
        1,
        "least connections"
    );
}

#[test]
fn geographic_prefers_home_and_spills_by_health() {
    let home = Region::parse("us-east-1").unwrap();
    let mut c: Vec<Candidate> = (0..4).map(|i| candidate(&format!("e{i}"), "us-east-1")).collect();
    c.extend((0..4).map(|i| candidate(&format!("w{i}"), "us-west-2")));
    c.extend((0..4).map(|i| candidate(&format!("x{i}"), "eu-west-1")));
    let mut b = Balancer::new(9)
        .with_latency(&home, &Region::parse("us-west-2").unwrap(), 70.0)
        .with_latency(&home, &Region::parse("eu-west-1").unwrap(), 80.0);
    let geo = PickContext { region: Some(&home), ..ctx(Severity::Medium) };
    for _ in 0..200 {
        assert_eq!(c[b.pick(Strategy::Geographic, &c, &geo).unwrap().index].region, home);
    }
    for e in c.iter_mut().take(3) {
        e.healthy = false;
    }
    let picks = 20_000;
    let mut local = 0;
    let mut west = 0;
    for _ in 0..picks {
        let r = &c[b.pick(Strategy::Geographic, &c, &geo).unwrap().index].region;
        if r == &home {
            local += 1;
        } else if r.as_str() == "us-west-2" {
            west += 1;
        }
    }
    let local_share = f64::from(local) / f64::from(picks);
    assert!((local_share - 0.35).abs() < 0.02, "1 of 4 healthy x 1.4 = 35 % stays home: {local_share}");
    assert!(
        (f64::from(west) / f64::from(picks) - 0.65).abs() < 0.02,
        "the rest spills to the nearest region"
    );
}

#[test]
fn peak_ewma_weighs_latency_by_queue() {
    let mut c = fleet(3);
    c[0].latency_ewma_s = 2.0;
    c[1].latency_ewma_s = 0.1;
    c[1].active = 4;
    c[2].latency_ewma_s = 0.2;
    c[2].active = 1;
    let mut b = Balancer::new(4);
    assert_eq!(
        b.pick(Strategy::PeakEwma, &c, &ctx(Severity::Medium)).unwrap().index,
        2,
        "0.2 x 2 < 0.1 x 5 < 2.0 x 1"
    );
}

#[test]
fn panic_mode_below_half_available() {
    let mut c = fleet(10);
    for x in c.iter_mut().take(5) {
        x.healthy = false;
    }
    let mut b = Balancer::new(8);
    for _ in 0..50 {
        let p = b.pick(Strategy::RoundRobin, &c, &ctx(Severity::Low)).unwrap();
        assert!(!p.panic && c[p.index].healthy, "half available: no panic");
    }
    c[5].ejected = true;
    let picks: Vec<_> =
        (0..20).map(|_| b.pick(Strategy::RoundRobin, &c, &ctx(Severity::Low)).unwrap()).collect();
    assert!(picks.iter().all(|p| p.panic && p.reason.starts_with("panic mode")));
    assert!(picks.iter().any(|p| !c[p.index].healthy), "in panic every replica takes traffic");
}

#[test]
fn nothing_to_pick_is_none() {
    let mut full = fleet(3);
    for c in &mut full {
        c.active = c.capacity;
    }
    let mut b = Balancer::new(1);
    for s in Strategy::ALL {
        assert!(b.pick(s, &full, &ctx(Severity::Critical)).is_none(), "{s:?}");
        assert!(b.pick(s, &[], &ctx(Severity::Critical)).is_none());
    }
}

#[test]
fn the_same_seed_gives_the_same_picks() {
    let mut c = fleet(20);
    for (i, x) in c.iter_mut().enumerate() {
        x.active = (i % 5) as u32;
        x.latency_ewma_s = 0.05 * (i % 3 + 1) as f64;
    }
    for s in Strategy::ALL {
        let run = |seed| {
            let mut b = Balancer::new(seed);
            (0..100).map(|_| b.pick(s, &c, &ctx(Severity::Medium)).unwrap().index).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42), "{s:?}");
    }
}

#[test]
fn departed_replicas_are_forgotten_by_the_scheduler() {
    let mut b = Balancer::new(3);
    for generation in 0..50 {
        let mut c = fleet(4);
        for (i, x) in c.iter_mut().enumerate() {
            x.id = format!("g{generation}-{i}");
            x.weight = Some(1.0 + i as f64);
        }
        for _ in 0..4 {
            b.pick(Strategy::WeightedRoundRobin, &c, &ctx(Severity::Low)).unwrap();
        }
    }
    assert!(format!("{b:?}").matches("g0-").count() == 0, "the first generation is gone from the scheduler");
}

//! One replica pick per strategy at 10, 100 and 1,000 replicas.

#![allow(clippy::unwrap_used, reason = "bench set-up")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use shared::balancing::{Balancer, Candidate, PickContext, Strategy};
use shared::domain::{Region, Severity};

fn replicas(n: usize) -> Vec<Candidate> {
    let regions = Region::defaults();
    (0..n)
        .map(|i| Candidate {
            id: format!("r{i:04}"),
            region: regions[i % regions.len()].clone(),
            active: (i % 7) as u32,
            capacity: 20,
            healthy: i % 13 != 0,
            ejected: false,
            performance_score: 0.5 + (i % 50) as f64 / 100.0,
            consecutive_failures: 0,
            weight: None,
            latency_ewma_s: 0.01 + (i % 11) as f64 / 1000.0,
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    let home = Region::parse("us-east-1").unwrap();
    let ctx = PickContext { severity: Severity::High, region: Some(&home), require_headroom: true };
    for strategy in Strategy::ALL {
        let mut group =
            c.benchmark_group(format!("pick/{}", serde_json::to_value(strategy).unwrap().as_str().unwrap()));
        for n in [10, 100, 1000] {
            let candidates = replicas(n);
            let mut balancer = Balancer::new(1);
            group.bench_with_input(BenchmarkId::from_parameter(n), &candidates, |b, candidates| {
                b.iter(|| black_box(balancer.pick(strategy, candidates, &ctx)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, picks);
criterion_main!(benches);

//! One replica pick per strategy at 10, 100 and 1,000 replicas, and the whole cycle an assignment
//! costs the balancer (pick, start, finish) at 1,000. Criterion gives means; the tail (p50, p99,
//! p99.9, max of a million single picks, each timed alone, so the clock read is included) is
//! printed after it as `tail ...` lines.

#![allow(clippy::unwrap_used, reason = "bench set-up")]

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group};
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
            draining: false,
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    let home = Region::parse("us-east-1").unwrap();
    let ctx = PickContext { severity: Severity::High, region: Some(&home) };
    for strategy in Strategy::ALL {
        let name = serde_json::to_value(strategy).unwrap().as_str().unwrap().to_owned();
        let mut group = c.benchmark_group(format!("pick/{name}"));
        for n in [10, 100, 1000] {
            let mut balancer = Balancer::new(1);
            balancer.refresh(replicas(n));
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| black_box(balancer.pick(strategy, &ctx)));
            });
        }
        group.finish();
        let mut balancer = Balancer::new(1);
        balancer.refresh(replicas(1000));
        c.bench_function(&format!("assign_cycle/{name}/1000"), |b| {
            b.iter(|| {
                let pick = balancer.pick(strategy, &ctx).unwrap();
                balancer.started(pick.index);
                balancer.finished(pick.index, None);
                black_box(pick.index)
            });
        });
    }
}

/// Nanoseconds at the given quantiles of `samples`.
fn quantiles(samples: &mut [u64], at: &[f64]) -> Vec<u64> {
    samples.sort_unstable();
    at.iter().map(|q| samples[((samples.len() - 1) as f64 * q).round() as usize]).collect()
}

fn tail() {
    let home = Region::parse("us-east-1").unwrap();
    let ctx = PickContext { severity: Severity::High, region: Some(&home) };
    let rounds = 1_000_000;
    let mut samples = vec![0u64; rounds];
    println!("tail: nanoseconds per pick over {rounds} picks: p50 p99 p99.9 max");
    for strategy in Strategy::ALL {
        let name = serde_json::to_value(strategy).unwrap().as_str().unwrap().to_owned();
        for n in [10, 100, 1000] {
            let mut balancer = Balancer::new(1);
            balancer.refresh(replicas(n));
            for sample in &mut samples {
                let started = Instant::now();
                black_box(balancer.pick(strategy, &ctx));
                *sample = started.elapsed().as_nanos() as u64;
            }
            let q = quantiles(&mut samples, &[0.5, 0.99, 0.999, 1.0]);
            println!("tail pick/{name}/{n}: {} {} {} {}", q[0], q[1], q[2], q[3]);
        }
    }
}

criterion_group!(benches, picks);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    tail();
}

//! Hit ratio of the cache crate the suite uses (moka: TinyLFU admission, and its LRU policy)
//! against a plain LRU (the `lru` crate) on Zipf-distributed key traces, the shape of real read
//! traffic: a few hot keys, a long tail. Also a trace where one-off scans interrupt the Zipf
//! reads, which is where admission earns its keep. Prints a table; deterministic (fixed seed).
//!
//! `cargo bench -p shared --bench cache_hit_ratio`

#![allow(clippy::unwrap_used, reason = "bench set-up")]

use std::num::NonZeroUsize;

use moka::policy::EvictionPolicy;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const KEYS: usize = 100_000;
const REQUESTS: usize = 1_000_000;

/// Ranks 0..n drawn with probability proportional to 1 / (rank + 1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> u64 {
        let u: f64 = rng.random_range(0.0..1.0);
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// `REQUESTS` keys: Zipf reads, and with `scans` a run of `scan_len` never-repeated keys after
/// every 10,000 reads.
fn trace(s: f64, scans: bool, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(KEYS, s);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(REQUESTS * 2);
    let mut fresh = KEYS as u64;
    while out.len() < REQUESTS {
        out.push(zipf.sample(&mut rng));
        if scans && out.len() % 10_000 == 0 {
            for _ in 0..5_000 {
                out.push(fresh);
                fresh += 1;
            }
        }
    }
    out
}

fn moka_ratio(trace: &[u64], capacity: u64, policy: EvictionPolicy) -> f64 {
    let cache: moka::sync::Cache<u64, ()> =
        moka::sync::Cache::builder().max_capacity(capacity).eviction_policy(policy).build();
    let mut hits = 0u64;
    for (i, &key) in trace.iter().enumerate() {
        if cache.get(&key).is_some() {
            hits += 1;
        } else {
            cache.insert(key, ());
        }
        // moka applies admission and eviction in batches; settle regularly as a busy cache does.
        if i % 512 == 0 {
            cache.run_pending_tasks();
        }
    }
    hits as f64 / trace.len() as f64
}

fn lru_ratio(trace: &[u64], capacity: usize) -> f64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(capacity).unwrap());
    let mut hits = 0u64;
    for &key in trace {
        if cache.get(&key).is_some() {
            hits += 1;
        } else {
            cache.put(key, ());
        }
    }
    hits as f64 / trace.len() as f64
}

fn main() {
    println!("hit ratio over {REQUESTS} Zipf requests on {KEYS} keys (higher is better)");
    println!("| trace | capacity | moka TinyLFU | moka LRU | lru crate |");
    println!("|---|---|---|---|---|");
    for (name, s, scans) in
        [("zipf s=0.8", 0.8, false), ("zipf s=1.0", 1.0, false), ("zipf s=1.0 + scans", 1.0, true)]
    {
        let keys = trace(s, scans, 42);
        for capacity in [500u64, 1_000, 10_000] {
            println!(
                "| {name} | {capacity} | {:.3} | {:.3} | {:.3} |",
                moka_ratio(&keys, capacity, EvictionPolicy::tiny_lfu()),
                moka_ratio(&keys, capacity, EvictionPolicy::lru()),
                lru_ratio(&keys, capacity as usize),
            );
        }
    }
}

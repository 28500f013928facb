//! What timing a store call costs: a get on the in-memory store, bare and through the
//! instrumented wrapper (the difference is the instrumentation).

#![allow(clippy::unwrap_used, reason = "bench set-up")]

use std::hint::black_box;
use std::sync::Arc;

use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::clock::{ManualClock, SystemClock};
use shared::performance::{InstrumentedStore, QueryStats};
use shared::store::{Key, MemoryStore, Store, Update};

fn store_calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
    let bare: Arc<dyn Store> = Arc::new(MemoryStore::new(clock));
    let key = Key::new("AGENT#detection", "REPLICA#us-east-1#r-0001");
    runtime.block_on(bare.update(&key, Update::new().add("active", 1.0))).unwrap();
    let instrumented: Arc<dyn Store> =
        Arc::new(InstrumentedStore::new(bare.clone(), Arc::new(QueryStats::new(Arc::new(SystemClock)))));
    for (name, store) in [("bare", bare), ("instrumented", instrumented)] {
        c.bench_function(&format!("store_get/{name}"), |b| {
            b.iter(|| black_box(runtime.block_on(store.get(black_box(&key))).unwrap()));
        });
    }
}

criterion_group!(benches, store_calls);
criterion_main!(benches);

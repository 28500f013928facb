//! A warm ping's cost: recognising the payload and answering it, with no hold and with a 5 ms hold
//! (the answer should take the hold plus well under a millisecond).

#![allow(clippy::unwrap_used, reason = "bench set-up")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use shared::warming::ping_or;

fn pings(c: &mut Criterion) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
    for hold_ms in [0u64, 5] {
        let payload = json!({"warmer": {"correlation_id": "bench", "concurrency": 3, "hold_ms": hold_ms}});
        c.bench_function(&format!("ping/hold_{hold_ms}ms"), |b| {
            b.iter(|| {
                let answered =
                    runtime.block_on(ping_or(black_box(&payload), || async { Err::<(), ()>(()) })).unwrap();
                black_box(answered)
            });
        });
    }
}

criterion_group!(benches, pings);
criterion_main!(benches);

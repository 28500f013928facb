//! A per-container snapshot of an expensive read (`GET /scaling/status`'s answer, serialized):
//! served to every request for at most [`MAX_AGE`], dropped at once by any write this container
//! serves. Between containers (and for the scaler's and sweeper's writes) it is at most
//! [`MAX_AGE`] old. One request refreshes it while the others wait for that refresh instead of
//! each reading the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use axum::body::Bytes;
use chrono::{DateTime, Duration, Utc};

/// The oldest a snapshot is served: a dashboard polls every 5 s and an operator's command line
/// waits longer than this between reads, while an API under load answers most reads from it.
pub const MAX_AGE: Duration = Duration::seconds(1);

#[derive(Debug, Clone)]
struct Taken {
    generation: u64,
    at: DateTime<Utc>,
    body: Bytes,
}

/// One snapshot and the count of writes that invalidate it.
#[derive(Debug, Default)]
pub struct Snapshot {
    generation: AtomicU64,
    current: RwLock<Option<Taken>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Snapshot {
    /// A write happened in this container: the next read takes a new snapshot.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn fresh(&self, now: DateTime<Utc>) -> Option<Bytes> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|t| t.generation == self.generation.load(Ordering::Acquire))
            .filter(|t| now >= t.at && now - t.at < MAX_AGE)
            .map(|t| t.body.clone())
    }

    /// The snapshot if it is fresh at `now`, else what `take` reads (kept for the next reads
    /// unless it failed; a failure is not remembered).
    pub async fn get_or_take<E, F>(&self, now: DateTime<Utc>, take: impl FnOnce() -> F) -> Result<Bytes, E>
    where
        F: Future<Output = Result<Bytes, E>>,
    {
        if let Some(body) = self.fresh(now) {
            return Ok(body);
        }
        let _refreshing = self.refreshing.lock().await;
        // Whoever held the lock before may have just taken one.
        if let Some(body) = self.fresh(now) {
            return Ok(body);
        }
        // A write that lands while this one reads makes it stale at once.
        let generation = self.generation.load(Ordering::Acquire);
        let body = take().await?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Taken { generation, at: now, body: body.clone() });
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::milliseconds(ms)
    }

    /// Reads through `snapshot` at `now`, counting the times the store is read.
    async fn read(snapshot: &Snapshot, reads: &AtomicUsize, now: DateTime<Utc>) -> Bytes {
        snapshot
            .get_or_take(now, || async {
                let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                Ok::<_, Infallible>(Bytes::from(format!("read {n}")))
            })
            .await
            .unwrap_or_else(|e| match e {})
    }

    #[tokio::test]
    async fn served_for_under_a_second_then_taken_again() {
        let (snapshot, reads) = (Snapshot::default(), AtomicUsize::new(0));
        assert_eq!(read(&snapshot, &reads, at(0)).await, "read 1");
        assert_eq!(read(&snapshot, &reads, at(999)).await, "read 1");
        assert_eq!(read(&snapshot, &reads, at(1_000)).await, "read 2");
        // A clock that steps back never serves a snapshot from its future.
        assert_eq!(read(&snapshot, &reads, at(500)).await, "read 3");
    }

    #[tokio::test]
    async fn a_write_drops_it_at_once() {
        let (snapshot, reads) = (Snapshot::default(), AtomicUsize::new(0));
        read(&snapshot, &reads, at(0)).await;
        snapshot.invalidate();
        assert_eq!(read(&snapshot, &reads, at(1)).await, "read 2");
        assert_eq!(read(&snapshot, &reads, at(2)).await, "read 2");
    }

    #[tokio::test]
    async fn a_write_during_a_read_leaves_that_read_stale() {
        let snapshot = Snapshot::default();
        let taken = snapshot
            .get_or_take(at(0), || async {
                snapshot.invalidate();
                Ok::<_, Infallible>(Bytes::from_static(b"before the write"))
            })
            .await;
        assert_eq!(taken.ok().as_deref(), Some(&b"before the write"[..]));
        let again =
            snapshot.get_or_take(at(1), || async { Ok::<_, Infallible>(Bytes::from_static(b"after")) });
        assert_eq!(again.await.ok().as_deref(), Some(&b"after"[..]));
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let (snapshot, reads) = (Snapshot::default(), AtomicUsize::new(0));
        let failed = snapshot.get_or_take(at(0), || async { Err::<Bytes, _>("store down") }).await;
        assert_eq!(failed, Err("store down"));
        assert_eq!(read(&snapshot, &reads, at(1)).await, "read 1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_readers_share_one_read() {
        let snapshot = Arc::new(Snapshot::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (snapshot, reads) = (Arc::clone(&snapshot), Arc::clone(&reads));
                tokio::spawn(async move {
                    snapshot
                        .get_or_take(at(0), || async {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            reads.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Infallible>(Bytes::from_static(b"one"))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.ok().and_then(Result::ok).as_deref(), Some(&b"one"[..]));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}

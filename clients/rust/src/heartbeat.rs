//! A long-running agent's heartbeat: a task reporting every interval, through errors and
//! restarts of the control plane, that drains and deregisters the replica when stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::scaling::ReplicaHeartbeat;
use shared::wire::ReplicaRef;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Client, Error};

/// Reports sent and failed so far.
#[derive(Debug, Default)]
pub struct HeartbeatStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
}

/// The running heartbeat task.
#[derive(Debug)]
pub struct Heartbeat {
    client: Client,
    replica: ReplicaRef,
    stats: Arc<HeartbeatStats>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Heartbeat {
    /// Reports `report()` now and then every `interval` (the suite's default is 30 s; a replica
    /// vanishes after three missed intervals). A failed report is logged and the next one goes
    /// out on time: the task never ends on an error, so it outlives an outage of the API.
    pub fn spawn(
        client: Client,
        interval: Duration,
        report: impl Fn() -> ReplicaHeartbeat + Send + Sync + 'static,
    ) -> Self {
        let first = report();
        let replica =
            ReplicaRef { agent_type: first.agent_type, region: first.region, replica_id: first.replica_id };
        let stats = Arc::new(HeartbeatStats::default());
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn({
            let (client, stats) = (client.clone(), Arc::clone(&stats));
            async move {
                loop {
                    match client.heartbeat(&report()).await {
                        Ok(_) => stats.sent.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            tracing::warn!(error = %e, "heartbeat failed; the next goes out on time");
                            stats.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }
        });
        Self { client, replica, stats, stop, task }
    }

    pub fn stats(&self) -> &HeartbeatStats {
        &self.stats
    }

    /// Stops reporting; with `leave`, drains the replica and then deregisters it (call once
    /// the work in hand is done).
    pub async fn stop(self, leave: bool) -> Result<(), Error> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if leave {
            self.client.drain(&self.replica).await?;
            self.client.deregister(&self.replica).await?;
        }
        Ok(())
    }
}

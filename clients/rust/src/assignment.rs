//! Select around a piece of work, release when it ends: also when it fails, and when the guard
//! is dropped without a release (a panic, a cancelled task).

use std::time::Instant;

use shared::domain::{AgentType, ReplicaId};
use shared::wire::{ReleaseRequest, ReleaseResponse, SelectRequest, SelectResponse};

use crate::{Client, Error};

/// An incident assigned to a replica, not yet released.
#[derive(Debug)]
pub struct Assignment {
    client: Client,
    agent_type: AgentType,
    incident_id: String,
    pub selected: SelectResponse,
    started: Instant,
    released: bool,
}

impl Client {
    /// Selects a replica for the incident (an `incident_id` is made up when none is given).
    pub async fn assign(&self, mut request: SelectRequest) -> Result<Assignment, Error> {
        let incident_id = request.incident_id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string()).clone();
        let agent_type = request.agent_type.clone();
        let selected = self.select(request).await?;
        Ok(Assignment {
            client: self.clone(),
            agent_type,
            incident_id,
            selected,
            started: Instant::now(),
            released: false,
        })
    }
}

impl Assignment {
    fn release_request(&self, ok: bool) -> Result<ReleaseRequest, Error> {
        Ok(ReleaseRequest {
            replica_id: ReplicaId::parse(&self.selected.replica_id)
                .map_err(|e| Error::Invalid(e.to_string()))?,
            agent_type: self.agent_type.clone(),
            ok,
            latency_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            incident_id: Some(self.incident_id.clone()),
        })
    }

    /// Releases it, as handled (`ok`) or failed, with the time since it was selected.
    pub async fn finish(mut self, ok: bool) -> Result<ReleaseResponse, Error> {
        self.released = true;
        let request = self.release_request(ok)?;
        self.client.release(&request).await
    }

    /// Runs `work`, then releases: `ok` when it returned `Ok`, failed when it returned `Err`.
    /// The work's own result comes back either way; a failed release is logged (the replica's
    /// next heartbeat resets its count).
    pub async fn run<T, E, F>(self, work: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let result = work.await;
        if let Err(e) = self.finish(result.is_ok()).await {
            tracing::warn!(error = %e, "the release failed");
        }
        result
    }
}

impl Drop for Assignment {
    /// Dropped unreleased (a panic, a cancelled task): released as failed on the runtime.
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (Ok(runtime), Ok(request)) = (tokio::runtime::Handle::try_current(), self.release_request(false))
        else {
            return;
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            if let Err(e) = client.release(&request).await {
                tracing::warn!(error = %e, "the release of a dropped assignment failed");
            }
        });
    }
}

//! The `ecs` actuator: agents that run as ECS services, one service per agent type in the same
//! cluster of every region. A decision sets each region's service desired count
//! (`UpdateService`); what ECS reports running (`DescribeServices`) is read back as the live
//! count, so a task ECS stopped stops counting at once instead of when its heartbeats expire.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::Service;
use futures::StreamExt;
use tokio::sync::Mutex;
use tokio::time::{Duration, Instant};

use super::lazy_clients::LazyClients;
use crate::domain::{AgentType, PerRegion, Region};
use crate::error::AdapterError;
use crate::scaling::actuator::{Actuator, every_region};
use crate::scaling::setup::EcsAgents;

/// What the ports' errors call this service.
const SERVICE: &str = "ecs";

/// Services one `DescribeServices` call may name (the ECS API's limit).
const SERVICES_PER_CALL: usize = 10;
/// How long a region's counts are used before they are read again: a tick evaluates every
/// type within seconds, so each region's services are described once per tick in calls of
/// ten, not once per type and again before each update (ECS throttles its describe calls at
/// a few tens a second per account and region).
const FRESH_FOR: Duration = Duration::from_secs(15);
/// `DescribeServices` calls in flight per region at once.
const CALLS_AT_ONCE: usize = 4;

/// Per-region ECS clients, each built when its region is first acted on, and each region's
/// services as last described.
#[derive(Debug, Clone)]
pub struct EcsServices {
    clients: LazyClients<Client>,
    agents: EcsAgents,
    /// Shared, not copied, by every type's read of the round (up to a thousand services).
    described: Arc<BTreeMap<String, Mutex<Option<Arc<Described>>>>>,
}

/// One region's services as one round of `DescribeServices` found them.
#[derive(Debug)]
struct Described {
    at: Instant,
    /// By service name; a service ECS does not have (or not `ACTIVE`) maps to why not.
    services: BTreeMap<String, Result<Counts, String>>,
}

/// One service as `DescribeServices` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    desired: u32,
    running: u32,
    pending: u32,
}

impl EcsServices {
    pub fn new(clients: impl Into<LazyClients<Client>>, agents: EcsAgents) -> Self {
        let clients: LazyClients<Client> = clients.into();
        let described = clients.regions().map(|r| (r.to_owned(), Mutex::new(None))).collect();
        Self { clients, agents, described: Arc::new(described) }
    }

    fn client(&self, region: &str) -> Result<&Client, AdapterError> {
        self.clients
            .get(region)
            .ok_or_else(|| AdapterError::permanent(SERVICE, format!("no ECS client for region {region}")))
    }

    /// Every ECS type's service in `region`, described now unless a round younger than
    /// [`FRESH_FOR`] is at hand.
    async fn described(&self, region: &str) -> Result<Arc<Described>, AdapterError> {
        let slot = self
            .described
            .get(region)
            .ok_or_else(|| AdapterError::permanent(SERVICE, format!("no ECS client for region {region}")))?;
        // Held across the round: callers racing for a stale region wait for one round.
        let mut slot = slot.lock().await;
        if let Some(d) = slot.as_ref()
            && d.at.elapsed() < FRESH_FOR
        {
            return Ok(Arc::clone(d));
        }
        let client = self.client(region)?;
        let cluster = &self.agents.cluster;
        let names: Vec<String> = self.agents.types.iter().map(|t| self.agents.service(t)).collect();
        // The futures made first, then run: a stream mapping a closure over borrowed chunks is not
        // provably `Send`.
        let calls: Vec<_> = names
            .chunks(SERVICES_PER_CALL)
            .map(|chunk| async move {
                client
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| {
                        let retry = e
                            .as_service_error()
                            .is_some_and(|s| transient(s.is_server_exception(), s.code()));
                        failure(&format!("{region}: describing services of {cluster}"), &e, retry)
                    })
            })
            .collect();
        let answers: Vec<_> =
            futures::stream::iter(calls).buffer_unordered(CALLS_AT_ONCE).collect::<Vec<_>>().await;
        let mut services = BTreeMap::new();
        for answer in answers {
            let out = answer?;
            for service in out.services() {
                let Some(name) = service.service_name() else { continue };
                let found = if service.status() == Some("ACTIVE") {
                    Ok(counts(service))
                } else {
                    Err(format!("status {}", service.status().unwrap_or("unknown")))
                };
                services.insert(name.to_owned(), found);
            }
            for missing in out.failures() {
                let Some(arn) = missing.arn() else { continue };
                let name = arn.rsplit('/').next().unwrap_or(arn);
                services.insert(name.to_owned(), Err(missing.reason().unwrap_or("not found").to_owned()));
            }
        }
        let described = Arc::new(Described { at: Instant::now(), services });
        *slot = Some(Arc::clone(&described));
        Ok(described)
    }

    /// The service's counts in `region`; a service that is missing or not `ACTIVE` is a
    /// permanent failure (the stack names services that do not exist).
    async fn counts(&self, region: &str, service: &str) -> Result<Counts, AdapterError> {
        let described = self.described(region).await?;
        match described.services.get(service) {
            Some(Ok(counts)) => Ok(*counts),
            found => {
                let reason = match found {
                    Some(Err(reason)) => reason.as_str(),
                    _ => "not described",
                };
                Err(AdapterError::permanent(
                    SERVICE,
                    format!("{region}: service {}/{service} is not usable ({reason})", self.agents.cluster),
                ))
            }
        }
    }

    /// After an update of `service` in `region`: its desired count is `desired` in the round at
    /// hand (the other services' counts still hold, so the next type's update needs no new
    /// round); `None` (the update failed, its outcome unknown) drops the round.
    async fn updated(&self, region: &str, service: &str, desired: Option<u32>) {
        let Some(slot) = self.described.get(region) else { return };
        let mut slot = slot.lock().await;
        let patched = desired.zip(slot.as_ref()).map(|(desired, round)| {
            let mut services = round.services.clone();
            if let Some(Ok(counts)) = services.get_mut(service) {
                counts.desired = desired;
            }
            Arc::new(Described { at: round.at, services })
        });
        *slot = patched;
    }

    /// One region's service brought to `replicas` desired tasks: the action taken, or why not.
    /// A service already at the count is left alone (a retried event changes nothing).
    async fn apply_region(&self, service: &str, region: &str, replicas: u32) -> Result<String, AdapterError> {
        let cluster = &self.agents.cluster;
        let before = self.counts(region, service).await?;
        if before.desired == replicas {
            return Ok(format!(
                "ECS service {cluster}/{service} in {region} already at {replicas} desired ({} running)",
                before.running
            ));
        }
        let desired = i32::try_from(replicas).unwrap_or(i32::MAX);
        let updated = self
            .client(region)?
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| {
                let retry =
                    e.as_service_error().is_some_and(|s| transient(s.is_server_exception(), s.code()));
                failure(&format!("{region}: updating {cluster}/{service}"), &e, retry)
            });
        self.updated(region, service, updated.is_ok().then_some(replicas)).await;
        updated?;
        Ok(format!(
            "set ECS service {cluster}/{service} in {region} to {replicas} desired (was {}; {} running, {} pending)",
            before.desired, before.running, before.pending
        ))
    }
}

fn counts(service: &Service) -> Counts {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Counts {
        desired: count(service.desired_count()),
        running: count(service.running_count()),
        pending: count(service.pending_count()),
    }
}

/// ECS's own errors a later attempt can outlast: its server faults and throttling (which ECS
/// sends as a `ThrottlingException` code); everything else (a missing cluster or service, access
/// denied, a bad parameter) needs a person.
fn transient(server_exception: bool, code: Option<&str>) -> bool {
    server_exception || matches!(code, Some("ThrottlingException" | "ServiceUnavailableException"))
}

fn failure<E, R>(what: &str, err: &SdkError<E, R>, transient_service_error: bool) -> AdapterError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    super::call_failure(SERVICE, what, err, transient_service_error)
}

#[async_trait]
impl Actuator for EcsServices {
    /// Every region at once; see [`every_region`] for how failures are reported.
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &PerRegion<u32>,
    ) -> Result<Vec<String>, AdapterError> {
        let service = self.agents.service(agent_type);
        let attempts =
            desired.iter().map(|(region, replicas)| self.apply_region(&service, region.as_str(), *replicas));
        every_region(SERVICE, futures::future::join_all(attempts).await)
    }

    /// The running task count of the type's service in each of `regions` that answered; a region
    /// that did not is left out (its heartbeats alone count there) and logged.
    async fn running(
        &self,
        agent_type: &AgentType,
        regions: &[Region],
    ) -> Result<Option<PerRegion<u32>>, AdapterError> {
        let service = self.agents.service(agent_type);
        let reads = regions
            .iter()
            .map(|region| async { (region.clone(), self.counts(region.as_str(), &service).await) });
        let mut running = PerRegion::new();
        for (region, read) in futures::future::join_all(reads).await {
            match read {
                Ok(counts) => {
                    running.insert(region, counts.running);
                }
                Err(e) => {
                    tracing::warn!(%agent_type, %region, error = %e, "ECS running count unavailable; heartbeats alone count there");
                }
            }
        }
        Ok(Some(running))
    }
}

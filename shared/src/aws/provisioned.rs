//! The `provisioned-concurrency` actuator: each agent type's Lambda function alias gets
//! replicas x concurrency-per-replica provisioned concurrency in every region.

use super::lazy_clients::LazyClients;
use crate::domain::AgentType;
use crate::domain::PerRegion;
use crate::error::AdapterError;
use crate::scaling::actuator::{Actuator, every_region};
use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::delete_provisioned_concurrency_config::DeleteProvisionedConcurrencyConfigError;

/// Where the agent functions are and how much concurrency a replica stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Function name with `{agent_type}` in it, e.g. `incident-{agent_type}-agent`.
    pub function_pattern: String,
    /// The alias (or version) that carries the provisioned concurrency; never `$LATEST`.
    pub qualifier: String,
    pub concurrency_per_replica: u32,
}

/// Per-region Lambda clients, each built when its region is first acted on.
#[derive(Debug, Clone)]
pub struct ProvisionedConcurrency {
    clients: LazyClients<Client>,
    target: Target,
}

impl ProvisionedConcurrency {
    pub fn new(clients: impl Into<LazyClients<Client>>, target: Target) -> Self {
        Self { clients: clients.into(), target }
    }

    fn function(&self, agent_type: &AgentType) -> String {
        self.target.function_pattern.replace("{agent_type}", agent_type.as_str())
    }
}

/// What the ports' errors call this service.
const SERVICE: &str = "provisioned concurrency";

/// `transient_service_error`: whether the service's own error is one a retry can outlast
/// (throttling, a conflicting update in progress, a service fault).
fn failure<E, R>(what: &str, err: &SdkError<E, R>, transient_service_error: bool) -> AdapterError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    super::call_failure(SERVICE, what, err, transient_service_error)
}

impl ProvisionedConcurrency {
    /// One region's configuration brought to `replicas`: the action taken, or why not.
    async fn apply_region(
        &self,
        function: &str,
        region: &str,
        replicas: u32,
    ) -> Result<String, AdapterError> {
        let qualifier = &self.target.qualifier;
        let client = self.clients.get(region).ok_or_else(|| {
            AdapterError::permanent(SERVICE, format!("no Lambda client for region {region}"))
        })?;
        let transient = |s: &dyn TransientError| s.transient();
        let concurrency = replicas.saturating_mul(self.target.concurrency_per_replica);
        if concurrency == 0 {
            // Lambda takes no zero: removing the configuration is how to provision nothing.
            let result = client
                .delete_provisioned_concurrency_config()
                .function_name(function)
                .qualifier(qualifier)
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error().is_some_and(
                        DeleteProvisionedConcurrencyConfigError::is_resource_not_found_exception,
                    ) => {}
                Err(e) => {
                    let retry = e.as_service_error().is_some_and(|s| transient(s));
                    return Err(failure(
                        &format!("{region}: removing provisioned concurrency of {function}:{qualifier}"),
                        &e,
                        retry,
                    ));
                }
            }
            return Ok(format!("removed provisioned concurrency of {function}:{qualifier} in {region}"));
        }
        let concurrency_i32 = i32::try_from(concurrency).unwrap_or(i32::MAX);
        client
            .put_provisioned_concurrency_config()
            .function_name(function)
            .qualifier(qualifier)
            .provisioned_concurrent_executions(concurrency_i32)
            .send()
            .await
            .map_err(|e| {
                let retry = e.as_service_error().is_some_and(|s| transient(s));
                failure(
                    &format!("{region}: setting provisioned concurrency of {function}:{qualifier}"),
                    &e,
                    retry,
                )
            })?;
        Ok(format!("set provisioned concurrency of {function}:{qualifier} in {region} to {concurrency}"))
    }
}

/// Lambda's own errors a later attempt can outlast: throttling, a conflicting update in
/// progress, a service fault.
trait TransientError {
    fn transient(&self) -> bool;
}

impl TransientError for DeleteProvisionedConcurrencyConfigError {
    fn transient(&self) -> bool {
        self.is_too_many_requests_exception()
            || self.is_resource_conflict_exception()
            || self.is_service_exception()
    }
}

impl TransientError
    for aws_sdk_lambda::operation::put_provisioned_concurrency_config::PutProvisionedConcurrencyConfigError
{
    fn transient(&self) -> bool {
        self.is_too_many_requests_exception()
            || self.is_resource_conflict_exception()
            || self.is_service_exception()
    }
}

#[async_trait]
impl Actuator for ProvisionedConcurrency {
    /// Region by region; see [`every_region`] for how failures are reported.
    async fn apply(
        &self,
        agent_type: &AgentType,
        desired: &PerRegion<u32>,
    ) -> Result<Vec<String>, AdapterError> {
        let function = self.function(agent_type);
        let mut results = Vec::new();
        for (region, replicas) in desired {
            results.push(self.apply_region(&function, region.as_str(), *replicas).await);
        }
        every_region(SERVICE, results)
    }
}

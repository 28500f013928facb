//! Errors of the domain layer. Store errors live in `store`; the API maps both to HTTP at its edge.

use thiserror::Error;

/// A value broke a rule of the domain. Names the field so a caller can fix its input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// How a failed call to an outside service may go if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A later attempt may succeed: throttling, a timeout, a region unreachable.
    Transient,
    /// Trying again changes nothing until someone changes something.
    Permanent,
    /// What the call named does not exist (a function, an alias).
    NotFound,
}

/// The one error every port returns (alarms, metrics, actuator, cost sources, concurrency
/// limits, notifier, invoker, history): which service failed, where, why, and whether to try
/// again. Adapters in `aws/` and the simulation's fakes build it; decisions read `failure`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{service}{}: {message}", region.as_deref().map(|r| format!(" in {r}")).unwrap_or_default())]
pub struct AdapterError {
    /// What was called, as an operator would name it ("CloudWatch alarms", "Lambda invoke").
    pub service: &'static str,
    /// The region of the call, when it was one region's.
    pub region: Option<String>,
    pub message: String,
    pub failure: Failure,
}

impl AdapterError {
    /// A failure that trying again does not cure.
    pub fn permanent(service: &'static str, message: impl Into<String>) -> Self {
        Self { service, region: None, message: message.into(), failure: Failure::Permanent }
    }

    /// A failure a later attempt may not meet.
    pub fn transient(service: &'static str, message: impl Into<String>) -> Self {
        Self { failure: Failure::Transient, ..Self::permanent(service, message) }
    }

    /// What the call named does not exist.
    pub fn not_found(service: &'static str, message: impl Into<String>) -> Self {
        Self { failure: Failure::NotFound, ..Self::permanent(service, message) }
    }

    /// The same failure, in `region`.
    #[must_use]
    pub fn in_region(mut self, region: &impl ToString) -> Self {
        self.region = Some(region.to_string());
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.failure == Failure::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adapter_error_says_what_where_and_whether_to_retry() {
        let table = [
            (AdapterError::transient("webhook", "no answer within 10000 ms"), "webhook: no answer", true),
            (
                AdapterError::permanent("agent metrics", "AccessDenied").in_region(&"eu-west-1"),
                "agent metrics in eu-west-1: AccessDenied",
                false,
            ),
            (
                AdapterError::not_found("Lambda concurrency", "no such function"),
                "Lambda concurrency: no",
                false,
            ),
        ];
        for (error, starts, retryable) in table {
            assert!(error.to_string().starts_with(starts), "{error}");
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
    }
}

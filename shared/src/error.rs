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

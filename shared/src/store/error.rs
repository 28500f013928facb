use thiserror::Error;

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a store operation failed, in terms a caller can act on.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The write's condition did not hold: someone else changed the item first.
    #[error("the item's condition did not hold")]
    ConditionFailed,
    /// The store cannot be reached or is throttling; retrying later can help.
    #[error("the state store is unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Source>,
    },
    /// The item itself is not acceptable (reserved attributes of the wrong type, bad cursor, ...).
    #[error("invalid item or request: {0}")]
    Invalid(String),
    /// The stored data could not be read back (corrupt or written by an incompatible version).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Anything else the backend reported; not the caller's fault and not known to be transient.
    #[error("state store failure: {message}")]
    Internal {
        message: String,
        #[source]
        source: Option<Source>,
    },
}

impl StoreError {
    pub fn unavailable(message: impl Into<String>, source: impl Into<Source>) -> Self {
        Self::Unavailable { message: message.into(), source: Some(source.into()) }
    }

    pub fn internal(message: impl Into<String>, source: impl Into<Source>) -> Self {
        Self::Internal { message: message.into(), source: Some(source.into()) }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

//! Task types: what a model call was for. The agent types' names, or any other name the caller
//! uses (priced and counted alike; token estimates fall back to "other").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Severity;
use crate::error::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskType(String);

impl TaskType {
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(ValidationError::new(
                "task_type",
                format!("{name:?} is not a valid task type: use 1 to 64 of a-z, 0-9, '-' and '_'"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Tokens a call of this task typically uses (seed-facts.md), before the severity multiplier.
    pub fn typical_tokens(&self) -> f64 {
        match self.0.as_str() {
            "detection" => 500.0,
            "diagnosis" => 1500.0,
            "prediction" => 800.0,
            "resolution" => 1200.0,
            "communication" => 300.0,
            _ => 1000.0,
        }
    }

    /// How much a second of model latency weighs against cost: time-critical tasks count it double.
    pub fn latency_weight(&self) -> f64 {
        if matches!(self.0.as_str(), "detection" | "communication") { 2.0 } else { 1.0 }
    }
}

/// More severe incidents take longer conversations (seed-facts.md).
pub fn severity_token_multiplier(severity: Severity) -> f64 {
    match severity {
        Severity::Low => 0.8,
        Severity::Medium => 1.0,
        Severity::High => 1.3,
        Severity::Critical => 1.5,
    }
}

impl TryFrom<String> for TaskType {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TaskType> for String {
    fn from(t: TaskType) -> Self {
        t.0
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

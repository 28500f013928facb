use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AgentType, Region};
use crate::error::ValidationError;

/// A replica's identifier as its agent reports it: 1 to 128 of `A-Z a-z 0-9 . _ : -`.
///
/// `#` is excluded because it separates the parts of store keys (`REPLICA#<region>#<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReplicaId(String);

impl ReplicaId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(id: &str) -> Result<Self, ValidationError> {
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(ValidationError::new(
                "replica_id",
                format!(
                    "{id:?} is not a valid replica id: use 1 to 128 of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ReplicaId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ReplicaId> for String {
    fn from(value: ReplicaId) -> Self {
        value.0
    }
}

/// One running agent replica as last reported by its heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub replica_id: ReplicaId,
    pub agent_type: AgentType,
    pub region: Region,
    /// Incidents the replica is working on now.
    pub load: f64,
    /// Incidents it can work on at once.
    pub capacity: u32,
    pub healthy: bool,
    /// 0 (worst) to 1 (best), as scored by the agent fleet.
    pub performance_score: f64,
    pub last_heartbeat: DateTime<Utc>,
    /// Leaving: it takes no new work and finishes what it has (`POST /replicas/drain`, or a
    /// heartbeat saying so). Stored only when true, so a later heartbeat, which writes only the
    /// fields it reports, never turns it back; it ends when the replica is deregistered or stops
    /// reporting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
}

impl Replica {
    /// A replica reports at most this many times its capacity as load (its queue included): more
    /// is a fault, and one report must not be able to drive the fleet to its maximum.
    pub const MAX_LOAD_PER_CAPACITY: f64 = 4.0;
    /// Incidents one replica may say it can run at once.
    pub const MAX_CAPACITY: u32 = 100_000;

    /// Checks the numeric invariants that serde cannot express.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.capacity == 0 || self.capacity > Self::MAX_CAPACITY {
            return Err(ValidationError::new("capacity", format!("must be 1 to {}", Self::MAX_CAPACITY)));
        }
        let most = f64::from(self.capacity) * Self::MAX_LOAD_PER_CAPACITY;
        if !self.load.is_finite() || self.load < 0.0 || self.load > most {
            return Err(ValidationError::new(
                "load",
                format!("must be a number from 0 to {} x capacity ({most})", Self::MAX_LOAD_PER_CAPACITY),
            ));
        }
        if !(0.0..=1.0).contains(&self.performance_score) {
            return Err(ValidationError::new("performance_score", "must be between 0 and 1"));
        }
        Ok(())
    }

    /// The report as stored: tiny figures read as zero (see [`super::clamp_tiny`]).
    #[must_use]
    pub fn normalized(mut self) -> Self {
        self.load = super::clamp_tiny(self.load);
        self.performance_score = super::clamp_tiny(self.performance_score);
        self
    }

    /// Whether new work may go to it: healthy and not draining. The scaler counts only such
    /// replicas as ready, so a draining one is replaced rather than counted on.
    pub fn takes_work(&self) -> bool {
        self.healthy && !self.draining
    }

    /// Load as a share of capacity; above 1 when the replica is overloaded.
    pub fn utilization(&self) -> f64 {
        self.load / f64::from(self.capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Breaker = fn(&mut Replica);

    fn replica() -> Replica {
        Replica {
            replica_id: ReplicaId::parse("det-1").unwrap(),
            agent_type: AgentType::parse("detection").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            load: 5.0,
            capacity: 20,
            healthy: true,
            performance_score: 0.9,
            last_heartbeat: DateTime::UNIX_EPOCH,
            draining: false,
        }
    }

    #[test]
    fn replica_invariants() {
        assert!(replica().validate().is_ok());
        assert!((replica().utilization() - 0.25).abs() < 1e-12);
        let broken: [(&str, Breaker); 5] = [
            ("load", |r| r.load = -1.0),
            ("load", |r| r.load = f64::NAN),
            ("capacity", |r| r.capacity = 0),
            ("performance_score", |r| r.performance_score = 1.5),
            ("performance_score", |r| r.performance_score = f64::NAN),
        ];
        for (field, breaker) in broken {
            let mut r = replica();
            breaker(&mut r);
            assert_eq!(r.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn replica_ids_are_checked() {
        for (id, ok) in [
            ("i-0abc123", true),
            ("pod:detection.7_a", true),
            ("", false),
            ("a#b", false),
            ("a b", false),
            (&"r".repeat(129), false),
        ] {
            assert_eq!(ReplicaId::parse(id).is_ok(), ok, "{id:?}");
        }
    }
}

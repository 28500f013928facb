use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The five agent types the fleet ships with; each has seed defaults (seed-facts.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinAgentType {
    Detection,
    Diagnosis,
    Prediction,
    Resolution,
    Communication,
}

impl BuiltinAgentType {
    pub const ALL: [Self; 5] =
        [Self::Detection, Self::Diagnosis, Self::Prediction, Self::Resolution, Self::Communication];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Detection => "detection",
            Self::Diagnosis => "diagnosis",
            Self::Prediction => "prediction",
            Self::Resolution => "resolution",
            Self::Communication => "communication",
        }
    }

    pub fn agent_type(self) -> AgentType {
        AgentType(self.as_str().to_owned())
    }
}

/// An agent type name: one of the builtins or an operator-defined name matching `[a-z0-9-]{1,64}`.
///
/// Kept as a validated string so operators can add types without a code change, while every name
/// stays safe to embed in store keys (`AGENT#<type>`) and metric dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentType(String);

impl AgentType {
    pub const MAX_LEN: usize = 64;

    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        let valid_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if name.is_empty() || name.len() > Self::MAX_LEN || !valid_chars {
            return Err(ValidationError::new(
                "agent_type",
                format!("{name:?} is not a valid agent type: use 1 to 64 of a-z, 0-9 and '-'"),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The builtin this name refers to, if any.
    pub fn builtin(&self) -> Option<BuiltinAgentType> {
        BuiltinAgentType::ALL.into_iter().find(|b| b.as_str() == self.0)
    }
}

impl fmt::Display for AgentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AgentType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for AgentType {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AgentType> for String {
    fn from(value: AgentType) -> Self {
        value.0
    }
}

impl From<BuiltinAgentType> for AgentType {
    fn from(value: BuiltinAgentType) -> Self {
        value.agent_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_checked() {
        let cases = [
            ("detection", true),
            ("custom-agent-7", true),
            ("a", true),
            (&"x".repeat(64), true),
            (&"x".repeat(65), false),
            ("", false),
            ("Detection", false),
            ("with space", false),
            ("under_score", false),
            ("agent#1", false),
            ("ünïcode", false),
        ];
        for (name, ok) in cases {
            assert_eq!(AgentType::parse(name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn builtins_are_recognised() {
        for b in BuiltinAgentType::ALL {
            assert_eq!(AgentType::parse(b.as_str()).unwrap().builtin(), Some(b));
        }
        assert_eq!(AgentType::parse("triage").unwrap().builtin(), None);
    }

    #[test]
    fn serde_rejects_invalid_names() {
        assert!(serde_json::from_str::<AgentType>("\"BAD\"").is_err());
        let t: AgentType = serde_json::from_str("\"diagnosis\"").unwrap();
        assert_eq!(t.builtin(), Some(BuiltinAgentType::Diagnosis));
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(name in "[a-z0-9-]{1,64}") {
            let t = AgentType::parse(&name).unwrap();
            prop_assert_eq!(t.as_str(), name.as_str());
        }

        #[test]
        fn names_with_other_characters_are_rejected(name in "[a-z0-9-]{0,10}[^a-z0-9-][a-z0-9-]{0,10}") {
            prop_assert!(AgentType::parse(&name).is_err());
        }
    }
}

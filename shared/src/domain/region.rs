use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// An AWS region code such as `us-east-1` or `us-gov-west-1`.
///
/// Checked by shape rather than against a fixed list, so a region AWS opens next year works
/// without a release, while typos such as `us-east1` or `US-EAST-1` are caught at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

const DIRECTIONS: [&str; 9] =
    ["central", "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"];
const PARTITION_INFIXES: [&str; 4] = ["gov", "iso", "isob", "isof"];

impl Region {
    /// The four regions the fleet runs in by default (seed-facts.md).
    pub const DEFAULTS: [&'static str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"];

    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        if is_region_code(code) {
            Ok(Self(code.to_owned()))
        } else {
            Err(ValidationError::new(
                "region",
                format!("{code:?} is not an AWS region code (expected a code like \"us-east-1\")"),
            ))
        }
    }

    pub fn defaults() -> Vec<Self> {
        Self::DEFAULTS.iter().map(|r| Self((*r).to_owned())).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_region_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    let (geo, rest) = match parts.as_slice() {
        [geo, rest @ ..] => (*geo, rest),
        [] => return false,
    };
    let rest = match rest {
        [infix, tail @ ..] if PARTITION_INFIXES.contains(infix) => tail,
        tail => tail,
    };
    let [direction, number] = rest else {
        return false;
    };
    geo.len() == 2
        && geo.bytes().all(|b| b.is_ascii_lowercase())
        && DIRECTIONS.contains(direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Region {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Region {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Maps keyed by region answer lookups by code (`map.get("us-east-1")`); a region orders,
/// compares and hashes as its code does, as `Borrow` requires.
impl std::borrow::Borrow<str> for Region {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// One value per region of the fleet.
pub type PerRegion<T> = std::collections::BTreeMap<Region, T>;

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_are_checked() {
        let cases = [
            ("us-east-1", true),
            ("us-west-2", true),
            ("eu-west-1", true),
            ("ap-southeast-1", true),
            ("eu-central-2", true),
            ("il-central-1", true),
            ("us-gov-west-1", true),
            ("us-iso-east-1", true),
            ("ap-southeast-10", true),
            ("us-east1", false),
            ("US-EAST-1", false),
            ("us-east-0", false),
            ("us-east-100", false),
            ("us-middle-1", false),
            ("usa-east-1", false),
            ("us-gov-east", false),
            ("", false),
            ("us-east-1 ", false),
        ];
        for (code, ok) in cases {
            assert_eq!(Region::parse(code).is_ok(), ok, "{code:?}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        for r in Region::DEFAULTS {
            assert!(Region::parse(r).is_ok(), "{r}");
        }
    }
}

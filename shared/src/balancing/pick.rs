//! A pick and why it was made. The explanation is kept as data and only written out when asked
//! for, so choosing a replica never formats text.

use std::fmt;

use crate::domain::{Region, Severity};

/// How the winner was found among the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// It was the only one.
    Only,
    /// All candidates were compared (few of them).
    All,
    /// The better of two distinct random candidates.
    TwoRandom,
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Only => "only candidate",
            Self::All => "lowest of all",
            Self::TwoRandom => "lower of two random choices",
        })
    }
}

/// The rule that chose the replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Rotation,
    EarliestDeadline { weight: f64 },
    WeightedLeastRequests { active: u32 },
    FewestActive { sampling: Sampling, active: u32 },
    PeakEwma { sampling: Sampling, cost_s: f64 },
    BestScore { score: f64 },
}

/// What narrowed the candidates before the rule applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Direct,
    /// A severity that does not ask for the best replicas.
    Severity(Severity),
    /// A critical or high incident: the best-scoring replica.
    Severe(Severity),
    NoIncidentRegion,
    NoRegionCanServe,
    Home(Region),
    Spilled {
        to: Region,
        home: Region,
        home_health: f64,
    },
}

/// Fewer than half the replicas were available, so all of them were considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panic {
    pub available: usize,
    pub total: usize,
}

/// The chosen candidate (an index into the balancer's candidates) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub index: usize,
    pub rule: Rule,
    pub route: Route,
    pub panic: Option<Panic>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rotation => f.write_str("next in rotation"),
            Self::EarliestDeadline { weight } => write!(f, "earliest deadline at weight {weight:.3}"),
            Self::WeightedLeastRequests { active } => write!(f, "weighted least requests ({active} active)"),
            Self::FewestActive { sampling, active } => write!(f, "{sampling}: {active} active"),
            Self::PeakEwma { sampling, cost_s } => write!(f, "{sampling}: peak EWMA cost {cost_s:.3} s"),
            Self::BestScore { score } => write!(f, "best performance score {score:.2}"),
        }
    }
}

impl fmt::Display for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(Panic { available, total }) = self.panic {
            write!(f, "panic mode ({available} of {total} replicas available): ")?;
        }
        match &self.route {
            Route::Direct => {}
            Route::Severity(s) | Route::Severe(s) => write!(f, "{s} incident: ")?,
            Route::NoIncidentRegion => f.write_str("no incident region: ")?,
            Route::NoRegionCanServe => f.write_str("no region can serve: ")?,
            Route::Home(region) => write!(f, "in the incident's region {region}: ")?,
            Route::Spilled { to, home, home_health } => {
                write!(f, "spilled to {to} ({home} at {:.0} % health): ", home_health * 100.0)?;
            }
        }
        write!(f, "{}", self.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_read_as_sentences() {
        let home = Region::parse("us-east-1").unwrap();
        let to = Region::parse("us-west-2").unwrap();
        let cases = [
            (
                Pick {
                    index: 0,
                    rule: Rule::FewestActive { sampling: Sampling::TwoRandom, active: 2 },
                    route: Route::Spilled { to, home: home.clone(), home_health: 0.35 },
                    panic: None,
                },
                "spilled to us-west-2 (us-east-1 at 35 % health): lower of two random choices: 2 active",
            ),
            (
                Pick {
                    index: 0,
                    rule: Rule::Rotation,
                    route: Route::Direct,
                    panic: Some(Panic { available: 4, total: 10 }),
                },
                "panic mode (4 of 10 replicas available): next in rotation",
            ),
            (
                Pick {
                    index: 0,
                    rule: Rule::BestScore { score: 0.934 },
                    route: Route::Severe(Severity::Critical),
                    panic: None,
                },
                "critical incident: best performance score 0.93",
            ),
            (
                Pick { index: 0, rule: Rule::Rotation, route: Route::Home(home), panic: None },
                "in the incident's region us-east-1: next in rotation",
            ),
        ];
        for (pick, text) in cases {
            assert_eq!(pick.to_string(), text);
        }
    }
}

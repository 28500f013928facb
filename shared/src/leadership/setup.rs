//! Where the control plane runs, from the environment.

use chrono::Duration;

use crate::config::{ConfigError, Env, bad, parse_regions, var};
use crate::domain::Region;

/// Takeover time bounds: at least two scaler ticks (a minute each) of silence, so one late or
/// failed tick never moves the lease; at most an hour.
pub const MIN_TAKEOVER_AFTER_S: i64 = 120;
pub const MAX_TAKEOVER_AFTER_S: i64 = 3600;
pub const DEFAULT_TAKEOVER_AFTER_S: i64 = 300;

/// A control plane deployed in several regions: `COMMANDER_CONTROL_PLANE_REGIONS` (home first),
/// this one (`AWS_REGION`) among them, and `COMMANDER_TAKEOVER_AFTER_SECONDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneSetup {
    pub regions: Vec<Region>,
    pub region: Region,
    pub takeover_after: Duration,
}

impl ControlPlaneSetup {
    /// `None` for a single-region stack (the variable unset, or naming one region).
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        const REGIONS: &str = "COMMANDER_CONTROL_PLANE_REGIONS";
        let Some(list) = var(env, REGIONS) else { return Ok(None) };
        let regions = parse_regions(REGIONS, &list)?;
        if regions.len() < 2 {
            return Ok(None);
        }
        let here = var(env, "AWS_REGION").or_else(|| var(env, "AWS_DEFAULT_REGION"));
        let Some(here) = here else {
            return Err(bad("AWS_REGION", "a multi-region control plane needs its own region"));
        };
        let region = Region::parse(&here).map_err(|e| bad("AWS_REGION", e.message))?;
        if !regions.contains(&region) {
            return Err(bad(REGIONS, format!("this region, {region}, is not in the list")));
        }
        let takeover_after_s = match var(env, "COMMANDER_TAKEOVER_AFTER_SECONDS") {
            None => DEFAULT_TAKEOVER_AFTER_S,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|s| (MIN_TAKEOVER_AFTER_S..=MAX_TAKEOVER_AFTER_S).contains(s))
                .ok_or_else(|| {
                    bad(
                        "COMMANDER_TAKEOVER_AFTER_SECONDS",
                        format!("{s:?} is not a whole number of seconds from {MIN_TAKEOVER_AFTER_S} to {MAX_TAKEOVER_AFTER_S}"),
                    )
                })?,
        };
        Ok(Some(Self { regions, region, takeover_after: Duration::seconds(takeover_after_s) }))
    }

    /// The home region: the first listed.
    pub fn home(&self) -> &Region {
        &self.regions[0]
    }

    pub(crate) fn listed(&self) -> String {
        self.regions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<ControlPlaneSetup>, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ControlPlaneSetup::from_env(&|name: &str| vars.get(name).cloned())
    }

    #[test]
    fn unset_or_one_region_is_a_single_region_stack() {
        assert_eq!(read(&[("AWS_REGION", "us-east-1")]).unwrap(), None);
        let one = [("COMMANDER_CONTROL_PLANE_REGIONS", "us-east-1"), ("AWS_REGION", "us-east-1")];
        assert_eq!(read(&one).unwrap(), None);
    }

    #[test]
    fn two_regions_with_this_one_among_them() {
        let setup = read(&[
            ("COMMANDER_CONTROL_PLANE_REGIONS", "us-east-1, us-west-2"),
            ("AWS_REGION", "us-west-2"),
            ("COMMANDER_TAKEOVER_AFTER_SECONDS", "180"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(setup.home().as_str(), "us-east-1");
        assert_eq!(setup.region.as_str(), "us-west-2");
        assert_eq!(setup.takeover_after, Duration::seconds(180));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let two = ("COMMANDER_CONTROL_PLANE_REGIONS", "us-east-1,us-west-2");
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("COMMANDER_CONTROL_PLANE_REGIONS", "us-east-1,mars-1"), ("AWS_REGION", "us-east-1")],
                "COMMANDER_CONTROL_PLANE_REGIONS",
            ),
            (
                &[("COMMANDER_CONTROL_PLANE_REGIONS", "us-east-1,us-east-1"), ("AWS_REGION", "us-east-1")],
                "COMMANDER_CONTROL_PLANE_REGIONS",
            ),
            (&[two, ("AWS_REGION", "eu-west-1")], "COMMANDER_CONTROL_PLANE_REGIONS"),
            (&[two], "AWS_REGION"),
            (
                &[two, ("AWS_REGION", "us-east-1"), ("COMMANDER_TAKEOVER_AFTER_SECONDS", "60")],
                "COMMANDER_TAKEOVER_AFTER_SECONDS",
            ),
            (
                &[two, ("AWS_REGION", "us-east-1"), ("COMMANDER_TAKEOVER_AFTER_SECONDS", "soon")],
                "COMMANDER_TAKEOVER_AFTER_SECONDS",
            ),
        ];
        for (vars, variable) in cases {
            let err = read(vars).unwrap_err();
            assert_eq!(err.variable, variable, "{vars:?}: {err}");
        }
    }
}

//! The lease item and the pure decision each run makes about it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Region;

/// Who may act, until when, under which epoch. Stored at `CONTROL` / `LEADER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lease {
    /// The region whose control plane acts.
    #[schema(value_type = String)]
    pub holder: Region,
    /// Raised by one at every change of holder; the fence every stored decision carries.
    pub epoch: u64,
    /// The holder's last renewal.
    pub renewed_at: DateTime<Utc>,
    /// When a standby may take over if the holder has not renewed by then.
    pub expires_at: DateTime<Utc>,
    /// What wrote the lease last: a function's run (`scaler-tick`, `cost-sweep`, ...) or
    /// `promote` by an operator.
    pub by: String,
}

/// What this region is, after its run's look at the lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// This region acts, stamping `epoch` on its decisions.
    Active { epoch: u64 },
    /// Another region acts (or none has claimed the lease yet); this one waits.
    Standby {
        #[schema(value_type = Option<String>)]
        holder: Option<Region>,
        epoch: u64,
        /// When this region may take over if the holder stays silent.
        until: Option<DateTime<Utc>>,
    },
}

/// What a run does with the lease it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No lease yet and this is the home region: claim epoch 1.
    Claim,
    /// This region holds it: extend it, same epoch.
    Renew,
    /// The holder has not renewed in time: take it over with the next epoch.
    TakeOver,
    /// Someone else holds a live lease, or none exists and this is not the home region.
    Follow,
}

/// The decision, apart from any I/O. A standby never claims an absent lease (the home region
/// does, at its first run; an operator can promote a standby if the home region never comes up),
/// and never takes over a lease that is still live, so the home region keeps the lease while it
/// runs and a standby gets it only after `takeover_after` of silence.
pub fn decide(lease: Option<&Lease>, me: &Region, home: &Region, now: DateTime<Utc>) -> Step {
    match lease {
        None if me == home => Step::Claim,
        Some(l) if &l.holder == me => Step::Renew,
        Some(l) if now >= l.expires_at => Step::TakeOver,
        // No lease and not home, or someone else's live lease.
        None | Some(_) => Step::Follow,
    }
}

impl Lease {
    /// The lease `holder` writes at `now` under `epoch`.
    pub fn held(holder: Region, epoch: u64, now: DateTime<Utc>, takeover_after: Duration, by: &str) -> Self {
        Self { holder, epoch, renewed_at: now, expires_at: now + takeover_after, by: by.to_owned() }
    }

    /// What a region that reads this lease is, when it does not hold it.
    pub fn standby_role(lease: Option<&Self>) -> Role {
        Role::Standby {
            holder: lease.map(|l| l.holder.clone()),
            epoch: lease.map_or(0, |l| l.epoch),
            until: lease.map(|l| l.expires_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
    }

    #[test]
    fn each_case_decides_as_the_rules_say() {
        let (home, standby) = (region("us-east-1"), region("us-west-2"));
        let held_by =
            |holder: &Region| Lease::held(holder.clone(), 3, at(0), Duration::minutes(5), "scaler-tick");
        let by_home = held_by(&home);
        let by_standby = held_by(&standby);
        let cases = [
            ("no lease, home claims", None, &home, 0, Step::Claim),
            ("no lease, a standby waits for the home region", None, &standby, 60, Step::Follow),
            ("the holder renews, even late", Some(&by_home), &home, 9, Step::Renew),
            ("a live lease is followed", Some(&by_home), &standby, 4, Step::Follow),
            ("expiry is the takeover point", Some(&by_home), &standby, 5, Step::TakeOver),
            ("a silent holder is taken over", Some(&by_home), &standby, 30, Step::TakeOver),
            ("no automatic hand-back to home", Some(&by_standby), &home, 4, Step::Follow),
            ("the standby keeps what it took", Some(&by_standby), &standby, 1, Step::Renew),
        ];
        for (name, lease, me, minute, want) in cases {
            assert_eq!(decide(lease, me, &home, at(minute)), want, "{name}");
        }
    }

    #[test]
    fn a_standby_role_names_the_holder_and_when_it_may_take_over() {
        let lease = Lease::held(region("us-east-1"), 2, at(0), Duration::minutes(5), "cost-sweep");
        assert_eq!(
            Lease::standby_role(Some(&lease)),
            Role::Standby { holder: Some(region("us-east-1")), epoch: 2, until: Some(at(5)) }
        );
        assert_eq!(Lease::standby_role(None), Role::Standby { holder: None, epoch: 0, until: None });
    }
}

//! Emergency concurrency caps as desired state, reconciled on every sweep.
//!
//! Capping is not an event to fire once: a cap that timed out, a throttled uncap or a sweep
//! stopped midway would leave functions capped forever (possibly at 0) or never capped. So the
//! sweep stores, before it touches a function, the reserved concurrency the function had
//! (`CONTROL`/`CAPS`, versioned), and every sweep reads each function's reserved concurrency and
//! puts or deletes it until it matches what the controls want: the cap while emergency mode is
//! on (never above what the function had reserved), what it had before once it is off. A
//! function is forgotten only once it is back where it was. A sweep that could not bring every
//! function where it should be fails retryably; the next sweep carries on either way.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::actions::ConcurrencyLimiter;
use crate::error::{AdapterError, Failure};
use crate::store::{Condition, Item, Key, Store, StoreError};

fn caps_key() -> Key {
    crate::table::caps()
}

/// The functions a sweep has capped, each with what it had before.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapsRecord {
    #[serde(default)]
    pub functions: BTreeMap<String, CappedFunction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CappedFunction {
    /// Reserved concurrency before the cap (`None`: none reserved, the account's pool).
    pub previous: Option<u32>,
    pub capped_at: DateTime<Utc>,
}

/// Where one function's reserved concurrency should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Emergency: at most `limit`.
    Capped { limit: u32 },
    /// Back to what it had before the cap.
    Restored,
}

/// The cap a function gets: `limit`, or less when it had less reserved (a cap never raises one).
pub fn capped_value(previous: Option<u32>, limit: u32) -> u32 {
    previous.map_or(limit, |p| p.min(limit))
}

/// What each function should be: capped when `cap` is in force (emergency mode with a cap
/// configured) for every non-critical function, restored for every function capped before that
/// no longer should be (including ones no longer configured).
pub fn plan(record: &CapsRecord, cap: Option<u32>, non_critical: &[String]) -> BTreeMap<String, Want> {
    let mut wants = BTreeMap::new();
    if let Some(limit) = cap {
        for name in non_critical {
            wants.insert(name.clone(), Want::Capped { limit });
        }
    }
    for name in record.functions.keys() {
        wants.entry(name.clone()).or_insert(Want::Restored);
    }
    wants
}

/// One function's reconciliation, as reported with the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CapStatus {
    pub function: String,
    /// `capped` or `restored`.
    pub want: String,
    /// The reserved concurrency it should have (`null`: none reserved).
    pub target: Option<u32>,
    /// What the sweep found it had (`null`: none reserved, or unknown after an error).
    pub found: Option<u32>,
    /// The sweep changed it.
    pub changed: bool,
    /// Why it is not where it should be (the next sweep tries again).
    pub error: Option<String>,
}

impl CapStatus {
    /// One line for the record of a control change.
    pub fn describe(&self) -> String {
        let target = self.target.map_or_else(|| "no reserved concurrency".to_owned(), |n| n.to_string());
        match (&self.error, self.changed) {
            (Some(e), _) => format!("could not bring {} to {target}: {e}", self.function),
            (None, true) => format!("{} {} to {target}", self.want, self.function),
            (None, false) => format!("{} already at {target}", self.function),
        }
    }
}

/// What one reconciliation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapsOutcome {
    pub statuses: Vec<CapStatus>,
    /// Every function is where it should be and the record says so.
    pub complete: bool,
}

/// Reads the record, brings every function where [`plan`] wants it, and writes the record back.
pub async fn reconcile(
    store: &dyn Store,
    limiter: &dyn ConcurrencyLimiter,
    cap: Option<u32>,
    non_critical: &[String],
    now: DateTime<Utc>,
) -> Result<CapsOutcome, StoreError> {
    let item = store.get(&caps_key()).await?;
    let mut version = item.as_ref().and_then(Item::version);
    let mut record: CapsRecord = item.as_ref().map(Item::record).transpose()?.unwrap_or_default();
    let wants = plan(&record, cap, non_critical);
    let mut statuses = Vec::new();
    let mut complete = true;
    let mut found = BTreeMap::new();

    // What each function to cap had, stored before any cap is put, so a cap is always undone
    // to the right value however the sweep ends.
    let mut learned = false;
    for (name, want) in &wants {
        if matches!(want, Want::Capped { .. }) && !record.functions.contains_key(name) {
            match limiter.reserved(name).await {
                Ok(previous) => {
                    found.insert(name.clone(), previous);
                    record.functions.insert(name.clone(), CappedFunction { previous, capped_at: now });
                    learned = true;
                }
                Err(e) => {
                    complete &= e.failure == Failure::NotFound;
                    statuses.push(failed(name, *want, None, &e));
                }
            }
        }
    }
    if learned {
        match write(store, &record, version).await {
            Ok(v) => version = Some(v),
            Err(StoreError::ConditionFailed) => {
                // Another sweep is reconciling; it (or the next) carries on from its record.
                return Ok(CapsOutcome { statuses, complete: false });
            }
            Err(e) => return Err(e),
        }
    }

    let mut restored = Vec::new();
    for (name, want) in &wants {
        let Some(entry) = record.functions.get(name) else { continue };
        let target = match want {
            Want::Capped { limit } => Some(capped_value(entry.previous, *limit)),
            Want::Restored => entry.previous,
        };
        let current = match found.remove(name) {
            Some(current) => Ok(current),
            None => limiter.reserved(name).await,
        };
        let outcome = match current {
            Ok(current) if current == target => Ok((current, false)),
            Ok(current) => {
                let set = match target {
                    Some(n) => limiter.reserve(name, n).await,
                    None => limiter.unreserve(name).await,
                };
                set.map(|()| (current, true))
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok((current, changed)) => {
                if *want == Want::Restored {
                    restored.push(name.clone());
                }
                statuses.push(CapStatus {
                    function: name.clone(),
                    want: label(*want).into(),
                    target,
                    found: current,
                    changed,
                    error: None,
                });
            }
            // Gone: there is nothing left to cap or restore.
            Err(e) if e.failure == Failure::NotFound => {
                restored.push(name.clone());
                statuses.push(failed(name, *want, target, &e));
            }
            Err(e) => {
                complete = false;
                statuses.push(failed(name, *want, target, &e));
            }
        }
    }
    if !restored.is_empty() {
        for name in &restored {
            record.functions.remove(name);
        }
        match write(store, &record, version).await {
            Ok(_) => {}
            // Restored again (a no-op) and forgotten by a later sweep.
            Err(StoreError::ConditionFailed) => complete = false,
            Err(e) => return Err(e),
        }
    }
    Ok(CapsOutcome { statuses, complete })
}

fn label(want: Want) -> &'static str {
    match want {
        Want::Capped { .. } => "capped",
        Want::Restored => "restored",
    }
}

fn failed(name: &str, want: Want, target: Option<u32>, error: &AdapterError) -> CapStatus {
    CapStatus {
        function: name.to_owned(),
        want: label(want).into(),
        target,
        found: None,
        changed: false,
        error: Some(error.to_string()),
    }
}

/// Writes the record over `version` (absent when `None`); answers the new version.
async fn write(store: &dyn Store, record: &CapsRecord, version: Option<u64>) -> Result<u64, StoreError> {
    let next = version.unwrap_or(0) + 1;
    let item = Item::from_record(caps_key(), record)?.with_version(next);
    store.put(item, version.map_or(Condition::Absent, Condition::Version)).await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_never_raises_what_a_function_had() {
        for (previous, limit, expected) in
            [(None, 5, 5), (Some(20), 5, 5), (Some(2), 5, 2), (Some(0), 5, 0), (Some(5), 5, 5)]
        {
            assert_eq!(capped_value(previous, limit), expected, "{previous:?} capped at {limit}");
        }
    }

    #[test]
    fn the_plan_caps_the_non_critical_and_restores_the_rest() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let record = CapsRecord {
            functions: [("gone".to_owned(), CappedFunction { previous: Some(3), capped_at: at })].into(),
        };
        let non_critical = ["a".to_owned(), "b".to_owned()];
        let capped = plan(&record, Some(4), &non_critical);
        assert_eq!(capped["a"], Want::Capped { limit: 4 });
        assert_eq!(capped["gone"], Want::Restored, "a function no longer listed is restored");
        let calm = plan(&record, None, &non_critical);
        assert_eq!(calm.len(), 1, "only what was capped is touched once emergency mode is off");
        assert_eq!(calm["gone"], Want::Restored);
    }
}

//! One SDK client per region of the fleet, each built the first time something asks for its
//! region.
//!
//! The api holds about twenty such clients (Lambda and CloudWatch for signals, actuation,
//! warming, warm history and cost, in every region) and a request uses at most a few of them;
//! building each takes tens of microseconds, so building them all before the first Runtime API
//! poll made up most of the api's own init time. Built lazily, a container pays for the ones
//! its requests use, once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Builds the client of one region from its code.
type Build<C> = Arc<dyn Fn(&str) -> C + Send + Sync>;

/// Clients keyed by region code; only the regions given at construction have one.
pub struct LazyClients<C> {
    slots: BTreeMap<String, OnceLock<C>>,
    /// `None` when every slot was filled at construction.
    build: Option<Build<C>>,
}

impl<C> LazyClients<C> {
    /// A client for each of `regions`, built by `build` on first use.
    pub fn lazy(
        regions: &[crate::domain::Region],
        build: impl Fn(&str) -> C + Send + Sync + 'static,
    ) -> Self {
        Self {
            slots: regions.iter().map(|r| (r.to_string(), OnceLock::new())).collect(),
            build: Some(Arc::new(build)),
        }
    }

    /// The client of `region`, built now if this is its first use; `None` for a region this map
    /// was not given.
    pub fn get(&self, region: &str) -> Option<&C> {
        let slot = self.slots.get(region)?;
        match &self.build {
            Some(build) => Some(slot.get_or_init(|| build(region))),
            None => slot.get(),
        }
    }

    /// Every region's client (building those not built yet), in region-code order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &C)> {
        self.slots.keys().filter_map(|region| self.get(region).map(|client| (region.as_str(), client)))
    }

    /// The regions this map holds a client for (built or not), in code order.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    /// How many regions have a client built so far.
    pub fn built(&self) -> usize {
        self.slots.values().filter(|slot| slot.get().is_some()).count()
    }
}

/// Clients built beforehand (tests, a local endpoint).
impl<C> From<BTreeMap<String, C>> for LazyClients<C> {
    fn from(clients: BTreeMap<String, C>) -> Self {
        let slots = clients.into_iter().map(|(region, client)| (region, OnceLock::from(client))).collect();
        Self { slots, build: None }
    }
}

impl<C: Clone> Clone for LazyClients<C> {
    fn clone(&self) -> Self {
        Self { slots: self.slots.clone(), build: self.build.clone() }
    }
}

impl<C> fmt::Debug for LazyClients<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let built: Vec<_> = self.slots.iter().map(|(region, slot)| (region, slot.get().is_some())).collect();
        f.debug_struct("LazyClients")
            .field("slots", &built)
            .field("build", &self.build.as_ref().map(|_| "on first use"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::Region;

    fn regions(codes: &[&str]) -> Vec<Region> {
        codes.iter().map(|c| Region::parse(c).unwrap()).collect()
    }

    #[test]
    fn builds_a_regions_client_on_first_use_and_only_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let clients = LazyClients::lazy(&regions(&["us-east-1", "eu-west-1"]), move |r| {
            counted.fetch_add(1, Ordering::SeqCst);
            format!("client for {r}")
        });
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing built at construction");
        assert_eq!(clients.get("eu-west-1").map(String::as_str), Some("client for eu-west-1"));
        assert_eq!(clients.get("eu-west-1").map(String::as_str), Some("client for eu-west-1"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(clients.built(), 1);
        assert!(clients.get("ap-south-1").is_none(), "a region not given has no client");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let all: Vec<_> = clients.iter().map(|(r, _)| r.to_owned()).collect();
        assert_eq!(all, ["eu-west-1", "us-east-1"]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn clients_given_beforehand_are_answered_as_given() {
        let clients = LazyClients::from(BTreeMap::from([("us-east-1".to_owned(), 7)]));
        assert_eq!(clients.get("us-east-1"), Some(&7));
        assert_eq!(clients.get("us-west-2"), None);
        assert_eq!(clients.built(), 1);
    }
}

//! One SDK client built the first time something uses it.
//!
//! Building an SDK client parses its service's endpoint rules (a partitions document and the
//! regular expressions in it) and, for the first client of a container, sets up the TLS
//! connector: a few hundred microseconds each. The api holds clients that only some routes use
//! (the cost sweep's CloudWatch and Lambda clients, the managed alarms' CloudWatch client);
//! built lazily, a cold start does not pay for them before its first Runtime API poll, and a
//! container that never serves those routes never builds them.

use std::fmt;
use std::sync::{Arc, OnceLock};

type Build<C> = Arc<dyn Fn() -> C + Send + Sync>;

/// A client built on first use; clones share it (and build it at most once between them).
pub struct LazyClient<C> {
    slot: Arc<OnceLock<C>>,
    build: Option<Build<C>>,
}

impl<C> LazyClient<C> {
    /// A client that `build` makes the first time [`get`](Self::get) is called.
    pub fn lazy(build: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self { slot: Arc::new(OnceLock::new()), build: Some(Arc::new(build)) }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        match &self.build {
            Some(build) => self.slot.get_or_init(|| build()),
            None => self.slot.get().expect("a client given beforehand is always set"),
        }
    }

    /// Whether the client has been built.
    pub fn is_built(&self) -> bool {
        self.slot.get().is_some()
    }
}

/// A client built beforehand (tests, a local endpoint).
impl<C> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self { slot: Arc::new(OnceLock::from(client)), build: None }
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self { slot: Arc::clone(&self.slot), build: self.build.clone() }
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient").field("built", &self.is_built()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn builds_on_first_use_once_for_every_clone() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let client = LazyClient::lazy(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            "client"
        });
        let clone = client.clone();
        assert!(!client.is_built());
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing built at construction");
        assert_eq!(*clone.get(), "client");
        assert_eq!(*client.get(), "client");
        assert!(client.is_built(), "a clone's first use builds it for both");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_client_given_beforehand_is_answered_as_given() {
        let client = LazyClient::from(7);
        assert!(client.is_built());
        assert_eq!(*client.get(), 7);
    }
}

use std::cmp::Ordering;

use super::Item;

/// Which sort keys of the partition a query wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    All,
    /// Sort keys that begin with this text.
    Prefix(String),
    /// Sort keys between the two, both included.
    Between(String, String),
}

impl SortKey {
    /// Where `sk` falls relative to the wanted keys in ascending order.
    pub(crate) fn position(&self, sk: &str) -> Ordering {
        match self {
            Self::Prefix(p) if !sk.starts_with(p.as_str()) => sk.cmp(p.as_str()),
            Self::Between(lo, _) if sk < lo.as_str() => Ordering::Less,
            Self::Between(_, hi) if sk > hi.as_str() => Ordering::Greater,
            Self::All | Self::Prefix(_) | Self::Between(..) => Ordering::Equal,
        }
    }
}

/// One page's worth of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub pk: String,
    pub sort_key: SortKey,
    /// Newest (highest sort key) first when true.
    pub descending: bool,
    /// At most this many items per page (1..=1000).
    pub limit: usize,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

impl Query {
    pub const MAX_LIMIT: usize = 1000;

    pub fn partition(pk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sort_key: SortKey::All, descending: false, limit: 100, after: None }
    }

    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sort_key = SortKey::Prefix(prefix.into());
        self
    }

    #[must_use]
    pub fn between(mut self, lo: impl Into<String>, hi: impl Into<String>) -> Self {
        self.sort_key = SortKey::Between(lo.into(), hi.into());
        self
    }

    #[must_use]
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    #[must_use]
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.after = cursor;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), super::StoreError> {
        if self.pk.is_empty() {
            return Err(super::StoreError::Invalid("query needs a partition key".into()));
        }
        if !(1..=Self::MAX_LIMIT).contains(&self.limit) {
            return Err(super::StoreError::Invalid(format!(
                "query limit must be 1 to {}, not {}",
                Self::MAX_LIMIT,
                self.limit
            )));
        }
        if self.after.as_deref() == Some("") {
            return Err(super::StoreError::Invalid("an empty cursor is not a cursor".into()));
        }
        Ok(())
    }
}

/// Items in order, and where to continue. `next` is `None` when nothing follows; a page may be
/// followed by an empty one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let p = SortKey::Prefix("REPLICA#".into());
        assert_eq!(p.position("POLICY"), Ordering::Less);
        assert_eq!(p.position("REPLICA#us-east-1#a"), Ordering::Equal);
        assert_eq!(p.position("STATE"), Ordering::Greater);
        let b = SortKey::Between("B".into(), "D".into());
        assert_eq!(b.position("A"), Ordering::Less);
        assert_eq!(b.position("B"), Ordering::Equal);
        assert_eq!(b.position("D"), Ordering::Equal);
        assert_eq!(b.position("DA"), Ordering::Greater);
    }
}

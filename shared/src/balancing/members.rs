//! A set of replica indices with constant-time insert, remove and random access, so the balancer
//! can keep "who may be picked" current as work starts and finishes, and sample from it directly.

const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
pub(crate) struct Members {
    list: Vec<u32>,
    /// Where each index sits in `list`, or `ABSENT`.
    position: Vec<u32>,
}

impl Members {
    /// An empty set over indices `0..n`.
    pub(crate) fn new(n: usize) -> Self {
        Self { list: Vec::new(), position: vec![ABSENT; n] }
    }

    pub(crate) fn contains(&self, index: usize) -> bool {
        self.position.get(index).is_some_and(|&p| p != ABSENT)
    }

    pub(crate) fn insert(&mut self, index: usize) {
        if !self.contains(index) && index < self.position.len() {
            self.position[index] = self.list.len() as u32;
            self.list.push(index as u32);
        }
    }

    /// Removes by swapping the last member into the gap: order is not kept.
    pub(crate) fn remove(&mut self, index: usize) {
        if !self.contains(index) {
            return;
        }
        let at = self.position[index] as usize;
        self.list.swap_remove(at);
        if let Some(&moved) = self.list.get(at) {
            self.position[moved as usize] = at as u32;
        }
        self.position[index] = ABSENT;
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn as_slice(&self) -> &[u32] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in prop::collection::vec((any::<bool>(), 0usize..20), 0..200)) {
            let mut members = Members::new(16);
            let mut model = std::collections::BTreeSet::new();
            for (insert, i) in ops {
                if insert {
                    members.insert(i);
                    if i < 16 { model.insert(i); }
                } else {
                    members.remove(i);
                    model.remove(&i);
                }
                let mut listed: Vec<usize> = members.as_slice().iter().map(|&m| m as usize).collect();
                listed.sort_unstable();
                prop_assert_eq!(listed, model.iter().copied().collect::<Vec<_>>());
                for j in 0..20 {
                    prop_assert_eq!(members.contains(j), model.contains(&j));
                }
            }
        }
    }
}

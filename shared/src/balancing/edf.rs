//! Weighted round robin as an earliest-deadline-first scheduler (Envoy's): the scheduler's time is
//! the deadline last served; a served entry is next due 1 / weight later; the earliest deadline is
//! served next, ties first in, first out. An entry joins half a period from now rather than a whole
//! one: that staggers entries whose periods are multiples of each other, so their deadlines do not
//! coincide and a heavy entry is not left waiting behind a burst of light ones. Shares converge on
//! w / sum(w).
//!
//! Entries live in a binary heap, so a pick costs O(log n). Weights are read when an entry is
//! served: an entry whose weight has dropped to zero leaves the heap and joins again when it has
//! weight once more.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Deadlines this close (relative) are a tie: sums of 1 / w drift by rounding errors. Rounding
/// the deadline to 29 mantissa bits keeps the heap's order total and lets such near-equal
/// deadlines fall back to arrival order.
fn deadline_key(deadline: f64) -> u64 {
    const DROPPED_BITS: u32 = 23;
    let bits = deadline.max(0.0).to_bits();
    bits.saturating_add(1 << (DROPPED_BITS - 1)) & !((1u64 << DROPPED_BITS) - 1)
}

fn usable(weight: f64) -> bool {
    weight.is_finite() && weight > 0.0
}

/// What an entry carries from one scheduler to the next: its deadline relative to the scheduler's
/// time, and its place in arrival order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) due_in: f64,
    pub(crate) sequence: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct EdfQueue {
    now: f64,
    sequence: u64,
    /// (deadline key, arrival sequence, entry).
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    deadline: Vec<f64>,
    arrival: Vec<u64>,
    queued: Vec<bool>,
}

impl EdfQueue {
    /// An empty scheduler for entries `0..n`, continuing the arrival order from `sequence`.
    pub(crate) fn new(n: usize, sequence: u64) -> Self {
        Self {
            now: 0.0,
            sequence,
            heap: BinaryHeap::new(),
            deadline: vec![0.0; n],
            arrival: vec![0; n],
            queued: vec![false; n],
        }
    }

    pub(crate) fn sequence(&self) -> u64 {
        self.sequence
    }

    fn push(&mut self, index: usize, deadline: f64, sequence: u64) {
        self.deadline[index] = deadline;
        self.arrival[index] = sequence;
        self.queued[index] = true;
        self.heap.push(Reverse((deadline_key(deadline), sequence, index as u32)));
    }

    /// Adds an entry half a period from now, unless it is queued already or has no weight.
    pub(crate) fn join(&mut self, index: usize, weight: f64) {
        if index < self.queued.len() && !self.queued[index] && usable(weight) {
            self.sequence += 1;
            self.push(index, self.now + 0.5 / weight, self.sequence);
        }
    }

    /// Adds an entry where an earlier scheduler had it.
    pub(crate) fn restore(&mut self, index: usize, slot: Slot) {
        if index < self.queued.len() && !self.queued[index] {
            self.push(index, self.now + slot.due_in.max(0.0), slot.sequence);
        }
    }

    /// Where an entry stands, to carry it over to a new scheduler.
    pub(crate) fn slot(&self, index: usize) -> Option<Slot> {
        (*self.queued.get(index)?)
            .then(|| Slot { due_in: self.deadline[index] - self.now, sequence: self.arrival[index] })
    }

    /// Serves the entry with the earliest deadline among those `weight` gives a positive weight,
    /// and schedules it again. Entries found without weight leave until they `join` again.
    pub(crate) fn pick(&mut self, weight: impl Fn(usize) -> f64) -> Option<(usize, f64)> {
        while let Some(Reverse((_, _, index))) = self.heap.pop() {
            let index = index as usize;
            self.queued[index] = false;
            let w = weight(index);
            if !usable(w) {
                continue;
            }
            self.now = self.now.max(self.deadline[index]);
            self.sequence += 1;
            self.push(index, self.now + 1.0 / w, self.sequence);
            return Some((index, w));
        }
        None
    }

    /// How many entries are queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_equal_deadlines_tie_and_order_is_kept() {
        assert_eq!(deadline_key(1.0), deadline_key(1.0 + 1e-12));
        assert!(deadline_key(1.0) < deadline_key(1.001));
        let mut last = 0;
        for i in 0..10_000 {
            let key = deadline_key(f64::from(i) * 0.37);
            assert!(key >= last, "keys never go backwards");
            last = key;
        }
    }

    #[test]
    fn equal_weights_rotate_and_zero_weights_wait() {
        let mut q = EdfQueue::new(3, 0);
        for i in 0..3 {
            q.join(i, 1.0);
        }
        let order: Vec<usize> = (0..6).map(|_| q.pick(|_| 1.0).unwrap().0).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        let without_one: Vec<usize> =
            (0..4).map(|_| q.pick(|i| if i == 1 { 0.0 } else { 1.0 }).unwrap().0).collect();
        assert!(!without_one.contains(&1));
        assert_eq!(q.len(), 2, "the weightless entry left the heap");
        q.join(1, 1.0);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn carried_over_entries_keep_their_place() {
        let mut q = EdfQueue::new(2, 0);
        q.join(0, 1.0);
        q.join(1, 3.0);
        q.pick(|i| [1.0, 3.0][i]);
        let (a, b) = (q.slot(0).unwrap(), q.slot(1).unwrap());
        let mut next = EdfQueue::new(2, q.sequence());
        next.restore(1, a);
        next.restore(0, b);
        let mut old = q.clone();
        for _ in 0..8 {
            let expected = old.pick(|i| [1.0, 3.0][i]).unwrap().0;
            assert_eq!(next.pick(|i| [3.0, 1.0][i]).unwrap().0, 1 - expected);
        }
    }
}

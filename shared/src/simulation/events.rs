//! The simulation's agenda: events in time order, and events due at the same instant in the order
//! they were scheduled, so a run never depends on how a heap breaks ties.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};

/// When an event is due, the order it was scheduled in, and the event.
type Entry<E> = Reverse<(DateTime<Utc>, u64, Slot<E>)>;

/// Events of type `E`, each due at an instant.
#[derive(Debug)]
pub struct Agenda<E> {
    heap: BinaryHeap<Entry<E>>,
    scheduled: u64,
}

/// Wraps an event so the heap never compares events themselves.
#[derive(Debug)]
struct Slot<E>(E);

impl<E> PartialEq for Slot<E> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<E> Eq for Slot<E> {}

impl<E> PartialOrd for Slot<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Slot<E> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<E> Default for Agenda<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), scheduled: 0 }
    }
}

impl<E> Agenda<E> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn schedule(&mut self, at: DateTime<Utc>, event: E) {
        self.heap.push(Reverse((at, self.scheduled, Slot(event))));
        self.scheduled += 1;
    }

    /// The next event and when it is due, if any is due by `until`.
    pub fn next_until(&mut self, until: DateTime<Utc>) -> Option<(DateTime<Utc>, E)> {
        let Reverse((at, _, _)) = self.heap.peek()?;
        if *at > until {
            return None;
        }
        self.heap.pop().map(|Reverse((at, _, Slot(event)))| (at, event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn events_come_in_time_order_and_ties_in_scheduling_order() {
        let mut agenda = Agenda::new();
        for (at, name) in [(5, "c"), (1, "a"), (5, "d"), (3, "b"), (9, "late")] {
            agenda.schedule(t(at), name);
        }
        let mut seen = Vec::new();
        while let Some((_, name)) = agenda.next_until(t(5)) {
            seen.push(name);
        }
        assert_eq!(seen, ["a", "b", "c", "d"]);
        assert_eq!(agenda.len(), 1, "the event after `until` waits");
        assert_eq!(agenda.next_until(t(9)), Some((t(9), "late")));
        assert!(agenda.is_empty());
    }

    proptest! {
        #[test]
        fn any_schedule_drains_sorted_by_time_then_insertion(times in proptest::collection::vec(0i64..50, 0..200)) {
            let mut agenda = Agenda::new();
            for (i, s) in times.iter().enumerate() {
                agenda.schedule(t(*s), i);
            }
            let mut expected: Vec<(i64, usize)> = times.iter().copied().zip(0..).collect();
            expected.sort_unstable();
            let mut drained = Vec::new();
            while let Some((at, i)) = agenda.next_until(t(1000)) {
                drained.push(((at - t(0)).num_seconds(), i));
            }
            prop_assert_eq!(drained, expected);
        }
    }
}

//! Weighted round robin as an earliest-deadline-first scheduler (Envoy's): the scheduler's time is
//! the deadline last served; a served entry is next due 1 / weight later; the earliest deadline is
//! served next, ties first in, first out. An entry joins half a period from now rather than a whole
//! one: that staggers entries whose periods are multiples of each other, so their deadlines do not
//! coincide and a heavy entry is not left waiting behind a burst of light ones. Shares converge on
//! w / sum(w).

use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
struct Slot {
    deadline: f64,
    /// Arrival order, for ties.
    sequence: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Edf {
    now: f64,
    slots: HashMap<String, Slot>,
    sequence: u64,
}

impl Edf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Picks among `entries` (id, weight); entries without a positive weight are never picked.
    pub fn pick<'a>(&mut self, entries: impl Iterator<Item = (&'a str, f64)>) -> Option<&'a str> {
        let mut best: Option<(&str, f64, Slot)> = None;
        for (id, weight) in entries.filter(|(_, w)| w.is_finite() && *w > 0.0) {
            let slot = if let Some(s) = self.slots.get(id) {
                *s
            } else {
                self.sequence += 1;
                let s = Slot { deadline: self.now + 0.5 / weight, sequence: self.sequence };
                self.slots.insert(id.to_owned(), s);
                s
            };
            let better = best.is_none_or(|(_, _, b)| {
                // Deadlines a rounding error apart are a tie: sums of 1 / w drift.
                if (slot.deadline - b.deadline).abs() <= 1e-9 * b.deadline.abs().max(1.0) {
                    slot.sequence < b.sequence
                } else {
                    slot.deadline < b.deadline
                }
            });
            if better {
                best = Some((id, weight, slot));
            }
        }
        let (id, weight, slot) = best?;
        self.now = self.now.max(slot.deadline);
        self.sequence += 1;
        self.slots.insert(id.to_owned(), Slot { deadline: self.now + 1.0 / weight, sequence: self.sequence });
        Some(id)
    }

    /// How many entries it remembers.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Forgets entries that are gone, so the map does not grow without bound.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.slots.retain(|id, _| keep(id));
    }
}

//! The weighted least-loaded index: which worker gets the next task.

use std::collections::BTreeSet;

use super::WorkerId;

/// A worker's place in the index. Ordered by `(in_flight + 1) / capacity`,
/// then by the tick of its last assignment (idle longest first), then by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LoadKey {
    /// Bits of a positive f64: for positive floats the bit patterns order
    /// the same way as the values, and a u64 is `Ord`.
    ratio_bits: u64,
    last_assigned: u64,
    worker: WorkerId,
}

impl LoadKey {
    pub(crate) fn new(in_flight: u32, capacity: f64, last_assigned: u64, worker: WorkerId) -> Self {
        let ratio = f64::from(in_flight + 1) / capacity;
        Self { ratio_bits: ratio.to_bits(), last_assigned, worker }
    }

    pub(crate) fn worker(&self) -> WorkerId {
        self.worker
    }
}

/// Workers with a free pipeline slot, least loaded first. O(log W) per
/// insert, remove and pick.
#[derive(Debug, Default)]
pub(crate) struct LoadIndex {
    set: BTreeSet<LoadKey>,
}

impl LoadIndex {
    pub(crate) fn insert(&mut self, key: LoadKey) {
        self.set.insert(key);
    }

    pub(crate) fn remove(&mut self, key: &LoadKey) {
        self.set.remove(key);
    }

    /// The least-loaded worker with a free slot.
    pub(crate) fn first(&self) -> Option<LoadKey> {
        self.set.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_ratio_first_then_idle_longest() {
        let mut index = LoadIndex::default();
        // 2 in flight on 4 cores (0.75) beats 1 in flight on 2 cores (1.0).
        index.insert(LoadKey::new(1, 2.0, 1, WorkerId(1)));
        index.insert(LoadKey::new(2, 4.0, 5, WorkerId(2)));
        assert_eq!(index.first().unwrap().worker(), WorkerId(2));
        // Equal ratios: the one assigned to longest ago wins.
        let mut index = LoadIndex::default();
        index.insert(LoadKey::new(0, 1.0, 9, WorkerId(1)));
        index.insert(LoadKey::new(0, 1.0, 3, WorkerId(2)));
        assert_eq!(index.first().unwrap().worker(), WorkerId(2));
    }
}

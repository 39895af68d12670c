//! Where tasks go: the weighted least-loaded index, dispatch from the queue,
//! and work stealing (prefetched tasks asked back for idle cores).

use std::collections::BTreeSet;

use super::task::TaskState;
use super::worker::Indexed;
use super::{Comm, Core, WorkerId};

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

    /// Swaps one entry for another (either may be absent).
    pub(crate) fn replace(&mut self, old: Option<LoadKey>, new: Option<LoadKey>) {
        if old != new {
            if let Some(key) = old {
                self.remove(&key);
            }
            if let Some(key) = new {
                self.insert(key);
            }
        }
    }

    /// The least-loaded worker with a free slot.
    pub(crate) fn first(&self) -> Option<LoadKey> {
        self.set.first().copied()
    }
}

impl Core {
    /// Hands queued tasks to workers, least loaded first, taking from the
    /// jobs in turn; when no task is left to place and cores are idle, asks
    /// busy workers to give back prefetched tasks so the idle cores get them.
    pub fn schedule(&mut self, comm: &mut impl Comm) {
        self.dispatch(comm);
        if !self.has_ready() {
            self.steal(comm);
        }
    }

    fn dispatch(&mut self, comm: &mut impl Comm) {
        while let Some(key) = self.peek_ready() {
            let Some(entry) = self.tasks.get(key) else {
                self.take_ready(); // gone; cannot happen, but never loop on it
                continue;
            };
            // A task taken back for an idle core goes to an idle worker;
            // least-loaded order could send it straight back (weights).
            let slot = if entry.stolen { self.idle.first().or(self.load.first()) } else { self.load.first() };
            let Some(slot) = slot else { break };
            self.take_ready();
            let worker_id = slot.worker();
            let Some(worker) = self.workers.get_mut(&worker_id) else { break };
            let Some(entry) = self.tasks.get_mut(key) else { continue };
            let timeout_ms = self.jobs.get(&entry.job).and_then(|job| job.timeout_ms);
            self.tick += 1;
            let seq = self.tick;
            worker.assigned.push(seq, key);
            worker.last_assigned = seq;
            entry.state = TaskState::Assigned { worker: worker_id, seq, revoking: false };
            entry.stolen = false;
            comm.assign(worker_id, key, &entry.payload, timeout_ms);
            self.reindex(worker_id);
        }
    }

    fn steal(&mut self, comm: &mut impl Comm) {
        while self.revoking < self.idle_cores {
            let Some(&victim) = self.victims.last() else { return };
            let prefetched = self.workers.get(&victim).map_or(0, |w| w.indexed.prefetched);
            if prefetched == 0 {
                self.victims.pop();
                if let Some(worker) = self.workers.get_mut(&victim) {
                    worker.victim_listed = false;
                }
                continue;
            }
            let want = (self.idle_cores - self.revoking).min(u64::from(prefetched)) as usize;
            let Some(worker) = self.workers.get_mut(&victim) else { return };
            // The newest assignments are the ones furthest from starting.
            let mut asked = Vec::new();
            for key in worker.assigned.keys().rev() {
                if asked.len() == want {
                    break;
                }
                if let Some(entry) = self.tasks.get_mut(key) {
                    if let TaskState::Assigned { worker, seq, revoking: false } = entry.state {
                        entry.state = TaskState::Assigned { worker, seq, revoking: true };
                        asked.push((key, seq));
                    }
                }
            }
            if asked.is_empty() {
                return;
            }
            worker.revoking += asked.len() as u32;
            self.revoking += asked.len() as u64;
            let keys = asked.iter().map(|&(key, _)| key).collect();
            worker.pending_revokes.push_back(asked);
            comm.revoke(victim, keys);
            self.reindex(victim);
        }
    }

    /// Recomputes a worker's places in the indexes after its load changed,
    /// and stamps the tasks that now run on it with the time.
    pub(super) fn reindex(&mut self, id: WorkerId) {
        let Some(worker) = self.workers.get_mut(&id) else { return };
        worker.assigned.mark_running(worker.free_cores() as usize, self.now_ms);
        let new = worker.index_entry(id);
        let old = std::mem::replace(&mut worker.indexed, new);
        if new.prefetched > 0 && !worker.victim_listed {
            worker.victim_listed = true;
            self.victims.push(id);
        }
        self.apply_index(old, new);
    }

    /// Removes `old`'s entries from the indexes and adds `new`'s.
    pub(super) fn apply_index(&mut self, old: Indexed, new: Indexed) {
        self.load.replace(old.load, new.load);
        self.idle.replace(old.idle_key, new.idle_key);
        self.idle_cores = self.idle_cores - u64::from(old.idle) + u64::from(new.idle);
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

//! Where tasks go: the weighted least-loaded index, dispatch from the queue
//! to eligible workers, and work stealing (prefetched tasks asked back for
//! idle cores that can run them).

use std::collections::BTreeSet;

use super::queue::Place;
use super::routing::{ClassId, ProfileId};
use super::task::TaskState;
use super::worker::Indexed;
use super::{AssignedTask, Comm, Core, WorkerId};

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
    /// Hands queued tasks to workers that can run them, least loaded first,
    /// taking from the lanes in turn; then, where cores are idle and no
    /// queued task fits them, asks busy workers to give back prefetched
    /// tasks those cores can run.
    pub fn schedule(&mut self, comm: &mut impl Comm) {
        self.dispatch(comm);
        self.steal(comm);
    }

    fn dispatch(&mut self, comm: &mut impl Comm) {
        while let Some(&(job_id, index)) = self.ring.0.front() {
            let Some(job) = self.jobs.get_mut(&job_id) else {
                self.ring.0.pop_front(); // its job ended
                continue;
            };
            let paused = job.paused;
            let lane = &mut job.lanes[index as usize];
            let Some(&key) = lane.queue.front().filter(|_| !paused) else {
                lane.place = Place::Idle;
                self.ring.0.pop_front();
                continue;
            };
            let class = lane.class;
            // A task taken back for an idle core goes to an idle worker;
            // least-loaded order could send it straight back (weights).
            let stolen = self.tasks.get(key).is_some_and(|entry| entry.stolen);
            let Some(slot) = self.routing.pick(class, stolen) else {
                self.ring.0.pop_front();
                self.park((job_id, index), comm);
                continue;
            };
            lane.queue.pop_front();
            lane.blocked_since = None;
            job.served = true;
            self.ring.0.pop_front();
            if lane.queue.is_empty() {
                lane.place = Place::Idle;
            } else {
                self.ring.0.push_back((job_id, index));
            }
            let timeout_ms = job.timeout_ms;
            let Some(entry) = self.tasks.get_mut(key) else { continue };
            self.queued -= 1;
            self.queued_bytes -= entry.payload.len() as u64;
            let worker_id = slot.worker();
            let Some(worker) = self.workers.get_mut(&worker_id) else { continue };
            self.tick += 1;
            let seq = self.tick;
            worker.assigned.push(seq, key);
            worker.last_assigned = seq;
            entry.state = TaskState::Assigned { worker: worker_id, seq, revoking: None };
            entry.stolen = false;
            let task =
                AssignedTask { key, job: job_id, task_id: entry.id, payload: &entry.payload, timeout_ms };
            comm.assign(worker_id, task);
            self.reindex(worker_id);
            self.list_victim(worker_id, class);
        }
    }

    /// Lists a worker that holds unstarted tasks as a steal candidate for
    /// `class` (the class of the task it was just given).
    fn list_victim(&mut self, worker_id: WorkerId, class: ClassId) {
        let Some(worker) = self.workers.get_mut(&worker_id) else { return };
        if worker.indexed.prefetched > 0 && !worker.victim_of.contains(&class) {
            worker.victim_of.push(class);
            self.routing.class(class).victims.push(worker_id);
        }
    }

    fn steal(&mut self, comm: &mut impl Comm) {
        for profile_index in 0..self.routing.profiles.len() {
            let profile = &self.routing.profiles[profile_index];
            if profile.idle_cores <= profile.revoking {
                continue;
            }
            let (thief, classes) = (profile.id(), profile.classes.clone());
            for class in classes {
                self.steal_for(thief, class, comm);
            }
        }
    }

    /// Asks busy workers for unstarted tasks of `class`, as many as the
    /// idle cores of `thief` (a profile that can run them) want.
    fn steal_for(&mut self, thief: ProfileId, class: ClassId, comm: &mut impl Comm) {
        loop {
            let profile = self.routing.profile(thief);
            let want = profile.idle_cores.saturating_sub(profile.revoking) as usize;
            if want == 0 {
                return;
            }
            let Some(&victim) = self.routing.class(class).victims.last() else { return };
            let Some(worker) = self.workers.get_mut(&victim) else {
                self.routing.class(class).victims.pop();
                continue;
            };
            // The newest assignments are the ones furthest from starting.
            let prefetched = worker.indexed.prefetched as usize;
            let mut asked = Vec::new();
            for key in worker.assigned.keys().rev().take(prefetched) {
                if asked.len() == want {
                    break;
                }
                if let Some(entry) = self.tasks.get_mut(key) {
                    if let TaskState::Assigned { worker, seq, revoking: None } = entry.state {
                        if entry.class == class {
                            entry.state = TaskState::Assigned { worker, seq, revoking: Some(thief) };
                            asked.push((key, seq));
                        }
                    }
                }
            }
            if asked.is_empty() {
                // Nothing of this class to give: off this class's stack.
                self.routing.class(class).victims.pop();
                worker.victim_of.retain(|&c| c != class);
                continue;
            }
            worker.revoking += asked.len() as u32;
            self.routing.profile(thief).revoking += asked.len() as u64;
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
        let profile = worker.profile;
        self.apply_index(profile, old, new);
    }

    /// Removes `old`'s entries from the profile's indexes and adds `new`'s;
    /// a worker with a free slot wakes the lanes parked for its classes.
    pub(super) fn apply_index(&mut self, profile_id: ProfileId, old: Indexed, new: Indexed) {
        let profile = self.routing.profile(profile_id);
        profile.load.replace(old.load, new.load);
        profile.idle.replace(old.idle_key, new.idle_key);
        profile.idle_cores = profile.idle_cores - u64::from(old.idle) + u64::from(new.idle);
        if new.load.is_some() {
            for index in 0..profile.classes.len() {
                let class = self.routing.profile(profile_id).classes[index];
                if !self.routing.class(class).parked.is_empty() {
                    self.unpark(class);
                }
            }
        }
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

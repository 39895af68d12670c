//! The queue: per job, one lane per class of task (kind and required
//! labels), served in turn. Lanes with dispatchable tasks wait in a ring;
//! dispatch takes one task from the lane at the front and moves that lane
//! to the back, so concurrent jobs share the workers task by task and a
//! small job never waits behind a large one. A lane whose tasks no free
//! worker can take is parked with its class until one can, so it never
//! blocks the lanes behind it. A task put back (its worker was lost, it was
//! handed back) goes to the front of its own lane, never ahead of other
//! jobs.

use std::collections::VecDeque;

use super::routing::{ClassId, LaneRef};
use super::{Comm, Core, JobId, TaskKey};

/// Lanes with queued tasks, in serving order. A lane is listed at most once
/// (its `place`); lanes of jobs that ended are skipped when met.
#[derive(Debug, Default)]
pub(super) struct Ring(pub(super) VecDeque<LaneRef>);

/// Where a lane is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Place {
    /// Not listed: empty, or its job is paused.
    #[default]
    Idle,
    /// In the ring.
    Ring,
    /// With its class, waiting for a free slot on an eligible worker.
    Parked,
}

/// A job's tasks of one class waiting for a worker, next first.
#[derive(Debug)]
pub(super) struct Lane {
    pub(super) class: ClassId,
    pub(super) queue: VecDeque<TaskKey>,
    pub(super) place: Place,
    /// Since when (the scheduler's clock) no connected worker could run
    /// its tasks; the client was told.
    pub(super) blocked_since: Option<u64>,
}

impl Core {
    /// Queues a task at the back (`front` false) or the front of its lane.
    /// False if its job is gone (the caller drops the task).
    pub(super) fn enqueue(&mut self, key: TaskKey, front: bool) -> bool {
        let Some(entry) = self.tasks.get(key) else { return false };
        let (job_id, class, bytes) = (entry.job, entry.class, entry.payload.len() as u64);
        let Some(job) = self.jobs.get_mut(&job_id) else { return false };
        let index = job.lane_of(class);
        let lane = &mut job.lanes[index];
        if front {
            lane.queue.push_front(key);
        } else {
            lane.queue.push_back(key);
        }
        self.queued += 1;
        self.queued_bytes += bytes;
        if lane.place == Place::Idle && !job.paused {
            lane.place = Place::Ring;
            // A job never served yet goes first: it has waited longest.
            if job.served {
                self.ring.0.push_back((job_id, index as u32));
            } else {
                self.ring.0.push_front((job_id, index as u32));
            }
        }
        true
    }

    /// Puts tasks back at the front of their lanes, in the given order;
    /// tasks whose job is gone are dropped instead.
    pub(super) fn requeue_front(&mut self, keys: Vec<TaskKey>) {
        for key in keys.into_iter().rev() {
            if !self.enqueue(key, true) {
                self.tasks.remove(key);
            }
        }
    }

    /// Takes these tasks (a lane's whole queue, taken out of it) off the
    /// queue's counts; the caller drops or fails them.
    pub(super) fn unqueue(&mut self, queue: &VecDeque<TaskKey>) {
        self.queued -= queue.len() as u64;
        let bytes: u64 =
            queue.iter().filter_map(|&key| self.tasks.get(key)).map(|e| e.payload.len() as u64).sum();
        self.queued_bytes -= bytes;
    }

    /// Takes all of a job's queued tasks out of its lanes and off the
    /// queue's counts; the caller drops or fails them.
    pub(super) fn take_queued(&mut self, job_id: JobId) -> Vec<TaskKey> {
        let Some(job) = self.jobs.get_mut(&job_id) else { return Vec::new() };
        let queues: Vec<VecDeque<TaskKey>> =
            job.lanes.iter_mut().map(|lane| std::mem::take(&mut lane.queue)).collect();
        queues.iter().for_each(|queue| self.unqueue(queue));
        queues.into_iter().flatten().collect()
    }

    /// Parks the lane at the front of the ring with its class; if no
    /// connected worker can run the class at all, its client is told.
    pub(super) fn park(&mut self, (job_id, index): LaneRef, comm: &mut impl Comm) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        let lane = &mut job.lanes[index as usize];
        lane.place = Place::Parked;
        let class = lane.class;
        self.routing.class(class).parked.push((job_id, index));
        if !self.routing.routable(class) {
            self.block_lane((job_id, index), comm);
        }
    }

    /// Marks a parked lane as blocked (no worker can run it) and tells its
    /// client, once per wait.
    pub(super) fn block_lane(&mut self, (job_id, index): LaneRef, comm: &mut impl Comm) {
        let Some(lane) = self.jobs.get_mut(&job_id).and_then(|job| job.lanes.get_mut(index as usize)) else {
            return;
        };
        if lane.blocked_since.is_none() && lane.place == Place::Parked && !lane.queue.is_empty() {
            lane.blocked_since = Some(self.now_ms);
            let class = lane.class;
            comm.notice(job_id, self.routing.waiting_message(class, self.connected()));
        }
    }

    /// Puts the lanes parked with `class` back in the ring: a worker that
    /// can run it has a free slot.
    pub(super) fn unpark(&mut self, class: ClassId) {
        for (job_id, index) in std::mem::take(&mut self.routing.class(class).parked) {
            let Some(job) = self.jobs.get_mut(&job_id) else { continue };
            let paused = job.paused;
            let Some(lane) = job.lanes.get_mut(index as usize) else { continue };
            if lane.place != Place::Parked {
                continue;
            }
            if lane.queue.is_empty() || paused {
                lane.place = Place::Idle;
            } else {
                lane.place = Place::Ring;
                self.ring.0.push_back((job_id, index));
            }
        }
    }

    /// Stops dispatching a job's tasks (its client is not reading its
    /// results); its queued tasks stay queued.
    pub fn pause_job(&mut self, job: JobId) {
        if let Some(job) = self.jobs.get_mut(&job) {
            job.paused = true;
        }
    }

    /// Dispatches a paused job's tasks again.
    pub fn resume_job(&mut self, job_id: JobId) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.paused = false;
        for (index, lane) in job.lanes.iter_mut().enumerate() {
            if lane.place == Place::Idle && !lane.queue.is_empty() {
                lane.place = Place::Ring;
                self.ring.0.push_back((job_id, index as u32));
            }
        }
    }
}

//! The queue: one per job, served in turn. Jobs with dispatchable tasks
//! wait in a ring; dispatch takes one task from the job at the front and
//! moves that job to the back, so concurrent jobs share the workers task by
//! task and a small job never waits behind a large one. A task put back
//! (its worker was lost, it was handed back) goes to the front of its own
//! job's queue, never ahead of other jobs.

use std::collections::VecDeque;

use super::{Core, JobId, TaskKey};

/// Jobs with queued tasks, in serving order. A job is listed at most once
/// (its `in_ring` flag); ids of jobs that ended are skipped when met.
#[derive(Debug, Default)]
pub(super) struct Ring(VecDeque<JobId>);

impl Core {
    /// Queues a task at the back (`front` false) or the front of its job's
    /// queue. False if its job is gone (the caller drops the task).
    pub(super) fn enqueue(&mut self, key: TaskKey, front: bool) -> bool {
        let Some(entry) = self.tasks.get(key) else { return false };
        let (job_id, bytes) = (entry.job, entry.payload.len() as u64);
        let Some(job) = self.jobs.get_mut(&job_id) else { return false };
        if front {
            job.queue.push_front(key);
        } else {
            job.queue.push_back(key);
        }
        self.queued += 1;
        self.queued_bytes += bytes;
        if !job.in_ring && !job.paused {
            job.in_ring = true;
            // A job never served yet goes first: it has waited longest.
            if job.served {
                self.ring.0.push_back(job_id);
            } else {
                self.ring.0.push_front(job_id);
            }
        }
        true
    }

    /// The task dispatch should place next, without taking it.
    pub(super) fn peek_ready(&mut self) -> Option<TaskKey> {
        while let Some(&job_id) = self.ring.0.front() {
            match self.jobs.get_mut(&job_id) {
                Some(job) if !job.paused && !job.queue.is_empty() => return job.queue.front().copied(),
                Some(job) => job.in_ring = false,
                None => {}
            }
            self.ring.0.pop_front();
        }
        None
    }

    /// Takes the task [`Core::peek_ready`] returned and moves its job to the
    /// back of the ring.
    pub(super) fn take_ready(&mut self) -> Option<TaskKey> {
        let job_id = self.ring.0.pop_front()?;
        let job = self.jobs.get_mut(&job_id)?;
        let key = job.queue.pop_front()?;
        job.served = true;
        if job.queue.is_empty() {
            job.in_ring = false;
        } else {
            self.ring.0.push_back(job_id);
        }
        self.queued -= 1;
        self.queued_bytes -= self.tasks.get(key).map_or(0, |e| e.payload.len() as u64);
        Some(key)
    }

    /// Whether some job has a task dispatch could place.
    pub(super) fn has_ready(&mut self) -> bool {
        self.peek_ready().is_some()
    }

    /// Puts tasks back at the front of their jobs' queues, in the given
    /// order; tasks whose job is gone are dropped instead.
    pub(super) fn requeue_front(&mut self, keys: Vec<TaskKey>) {
        for key in keys.into_iter().rev() {
            if !self.enqueue(key, true) {
                self.tasks.remove(key);
            }
        }
    }

    /// Takes these tasks (a job's whole queue, taken out of the job) off
    /// the queue's counts; the caller drops or fails them.
    pub(super) fn unqueue(&mut self, queue: &VecDeque<TaskKey>) {
        self.queued -= queue.len() as u64;
        let bytes: u64 =
            queue.iter().filter_map(|&key| self.tasks.get(key)).map(|e| e.payload.len() as u64).sum();
        self.queued_bytes -= bytes;
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
        if !job.in_ring && !job.queue.is_empty() {
            job.in_ring = true;
            self.ring.0.push_back(job_id);
        }
    }
}

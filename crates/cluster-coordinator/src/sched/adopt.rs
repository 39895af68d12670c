//! Re-adoption after a restart: tasks restored from the state directory
//! that a worker kept running through the coordinator's absence are taken
//! back as running there (no attempt spent, no second run), not run again.

use super::task::TaskState;
use super::{Comm, Core, Held, JobId, TaskKey, WorkerId};

impl Core {
    /// Remembers where each queued task of `job` is, by its client id, so a
    /// worker that reports holding one can be given it back. For jobs
    /// restored at start only; [`Core::forget_restored`] drops the index.
    pub fn index_restored(&mut self, job: JobId) {
        let Some(entry) = self.jobs.get(&job) else { return };
        for &key in entry.lanes.iter().flat_map(|lane| lane.queue.iter()) {
            if let Some(task) = self.tasks.get(key) {
                self.restored.insert((job, task.id), key);
            }
        }
    }

    /// The adoption window is over: the index goes.
    pub fn forget_restored(&mut self) {
        self.restored = Default::default();
    }

    /// A worker's session opened holding these tasks. Each one still
    /// queued is assigned to it as running (and completed at once if it
    /// finished meanwhile); returns the key of each adopted task, `None`
    /// for the others, which the worker should stop.
    pub fn adopt(
        &mut self,
        worker_id: WorkerId,
        held: Vec<Held>,
        comm: &mut impl Comm,
    ) -> Vec<Option<TaskKey>> {
        let mut keys = Vec::with_capacity(held.len());
        for task in held {
            let key = self.adopt_one(worker_id, task.job, task.task_id);
            if let (Some(key), Some(finished)) = (key, task.finished) {
                self.complete(worker_id, key, finished, comm);
            }
            keys.push(key);
        }
        keys
    }

    fn adopt_one(&mut self, worker_id: WorkerId, job_id: JobId, task_id: u64) -> Option<TaskKey> {
        let key = self.restored.remove(&(job_id, task_id))?;
        let entry = self.tasks.get(key)?;
        if entry.state != TaskState::Queued {
            return None;
        }
        let (class, bytes) = (entry.class, entry.payload.len() as u64);
        // Out of its lane (a scan, but only of restored jobs, for the few
        // tasks workers held).
        let job = self.jobs.get_mut(&job_id)?;
        let lane = job.lanes.iter_mut().find(|lane| lane.class == class)?;
        let at = lane.queue.iter().position(|&k| k == key)?;
        lane.queue.remove(at);
        self.queued -= 1;
        self.queued_bytes -= bytes;
        let worker = self.workers.get_mut(&worker_id)?;
        self.tick += 1;
        let seq = self.tick;
        worker.assigned.push(seq, key);
        worker.last_assigned = seq;
        if let Some(entry) = self.tasks.get_mut(key) {
            entry.state = TaskState::Assigned { worker: worker_id, seq, revoking: None };
        }
        self.reindex(worker_id);
        Some(key)
    }
}

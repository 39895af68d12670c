//! Admission: how much may wait in the coordinator's queue, in tasks and in
//! bytes. A submission takes permits before its tasks reach the actor, so a
//! client that submits faster than the cluster runs waits, and HTTP/2 flow
//! control pushes back on it. The actor gives permits back as tasks leave
//! the queue.

use std::sync::Arc;

use tokio::sync::{AcquireError, Semaphore};

/// The queue's bounds (`--max-queued`, `--max-queued-bytes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) tasks: usize,
    pub(crate) bytes: u64,
}

/// Permits one submission chunk took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Permits {
    pub(crate) tasks: u64,
    pub(crate) bytes: u64,
}

/// The shared side of admission; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    tasks: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    limits: Limits,
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Self {
        let limits = Limits {
            tasks: limits.tasks.max(1),
            bytes: limits.bytes.clamp(1, Semaphore::MAX_PERMITS as u64),
        };
        Self {
            tasks: Arc::new(Semaphore::new(limits.tasks)),
            bytes: Arc::new(Semaphore::new(limits.bytes as usize)),
            limits,
        }
    }

    /// Most tasks and bytes one submission chunk should hold, so several
    /// clients share the queue instead of one filling it at once.
    pub(crate) fn chunk(&self) -> Limits {
        Limits { tasks: (self.limits.tasks / 4).max(1), bytes: (self.limits.bytes / 4).max(1) }
    }

    /// Waits until the queue can take `tasks` tasks of `bytes` bytes in all
    /// (a single task larger than the whole bound waits for an empty
    /// queue). Fails when the coordinator is shutting down.
    pub(crate) async fn admit(&self, tasks: usize, bytes: u64) -> Result<Permits, AcquireError> {
        let tasks = tasks.min(self.limits.tasks) as u64;
        self.tasks.acquire_many(tasks as u32).await?.forget();
        let bytes = bytes.min(self.limits.bytes);
        let mut left = bytes;
        while left > 0 {
            let part = left.min(u64::from(u32::MAX));
            self.bytes.acquire_many(part as u32).await?.forget();
            left -= part;
        }
        Ok(Permits { tasks, bytes })
    }

    /// Gives permits back.
    pub(crate) fn release(&self, permits: Permits) {
        self.tasks.add_permits(permits.tasks as usize);
        self.bytes.add_permits(permits.bytes as usize);
    }

    /// Permits free now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> Permits {
        Permits { tasks: self.tasks.available_permits() as u64, bytes: self.bytes.available_permits() as u64 }
    }
}

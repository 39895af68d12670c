//! A connected worker as the core sees it.

use std::collections::{BTreeMap, VecDeque};

use super::dispatch::LoadKey;
use super::{TaskKey, WorkerId, WorkerSpec};

/// What a worker contributes to the core's indexes right now, kept so the
/// exact entries can be removed when its load changes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Indexed {
    pub(super) load: Option<LoadKey>,
    pub(super) prefetched: u32,
    pub(super) idle: u32,
}

#[derive(Debug)]
pub(super) struct Worker {
    pub(super) spec: WorkerSpec,
    capacity: f64,
    /// Most tasks it may hold: its cores plus the prefetch.
    limit: u32,
    /// Tasks assigned and not finished, in assignment order (by sequence
    /// number). The worker starts them in this order, so the first `cores`
    /// are the ones running.
    pub(super) assigned: BTreeMap<u64, TaskKey>,
    /// Of those, how many are being asked back.
    pub(super) revoking: u32,
    /// Revoke requests sent and not answered, oldest first.
    pub(super) pending_revokes: VecDeque<Vec<TaskKey>>,
    pub(super) completed: u64,
    pub(super) last_assigned: u64,
    /// Shutting down: it gets no new tasks and hands back unstarted ones.
    pub(super) draining: bool,
    pub(super) indexed: Indexed,
}

impl Worker {
    pub(super) fn new(spec: WorkerSpec, prefetch_per_core: u32) -> Self {
        let cores = spec.cores.max(1);
        let weight = if spec.weight.is_finite() && spec.weight > 0.0 { spec.weight } else { 1.0 };
        Self {
            capacity: f64::from(cores) * weight,
            limit: cores.saturating_mul(1 + prefetch_per_core),
            spec: WorkerSpec { cores, weight, ..spec },
            assigned: BTreeMap::new(),
            revoking: 0,
            pending_revokes: VecDeque::new(),
            completed: 0,
            last_assigned: 0,
            draining: false,
            indexed: Indexed::default(),
        }
    }

    pub(super) fn in_flight(&self) -> u32 {
        self.assigned.len() as u32
    }

    /// The index entries this worker should have now.
    pub(super) fn index_entry(&self, id: WorkerId) -> Indexed {
        if self.draining {
            return Indexed::default();
        }
        let in_flight = self.in_flight();
        let load =
            (in_flight < self.limit).then(|| LoadKey::new(in_flight, self.capacity, self.last_assigned, id));
        let held = in_flight - self.revoking;
        Indexed {
            load,
            prefetched: held.saturating_sub(self.spec.cores),
            idle: self.spec.cores.saturating_sub(in_flight),
        }
    }
}

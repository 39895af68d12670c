//! Worker sessions as the actor sees them: a session that opens (or
//! replaces an older one), ends, or drains, an address that could not be
//! reached, and the finished tasks a worker reports.

use std::time::Instant;

use tokio::sync::oneshot;

use super::{Actor, LinkState, WorkerTx};
use crate::error::{LinkError, SessionEnd};
use crate::sched::{Finished, Held, Outcome, TaskKey, WorkerDesc, WorkerId};

/// How status rows are keyed: a worker by its id; an address the
/// coordinator dials and has not reached yet, by the address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum RowKey {
    Worker(String),
    Address(String),
}

/// A worker the coordinator knows (or an address it dials), with its
/// current session.
pub(super) struct Link {
    pub(super) worker: Option<WorkerId>,
    pub(super) address: String,
    pub(super) desc: Option<WorkerDesc>,
    pub(super) state: LinkState,
    pub(super) last_error: String,
    /// When its session ended, for forgetting it.
    pub(super) lost_at: Option<Instant>,
}

impl Actor {
    /// A session opened. One session per worker id: a worker that opens a
    /// new one (it re-registered, or one address was registered twice)
    /// replaces its old session, whose unstarted tasks go back to the queue.
    pub(super) fn worker_up(
        &mut self,
        desc: WorkerDesc,
        held: Vec<Held>,
        tx: WorkerTx,
        reply: oneshot::Sender<WorkerId>,
    ) {
        let id = WorkerId(self.next_worker);
        self.next_worker += 1;
        if reply.send(id).is_err() {
            return; // the link gave up waiting
        }
        let key = RowKey::Worker(desc.id.clone());
        let (worker, address) = (desc.name.as_str(), desc.address.as_str());
        let (cores, weight) = (desc.cores, desc.weight);
        match self.links.get(&key).map(|link| (link.worker, link.lost_at)) {
            Some((Some(old), _)) => {
                tracing::info!(worker, address, "worker opened a new session; its old one is closed");
                self.end_session(old);
            }
            Some((None, Some(lost_at))) => {
                let away_ms = lost_at.elapsed().as_millis() as u64;
                tracing::info!(worker, address, cores, weight, away_ms, "worker rejoined");
            }
            _ => tracing::info!(worker, id = %desc.id, address, cores, weight, "worker joined"),
        }
        self.comm.workers.insert(id, tx);
        self.sessions.insert(id, key.clone());
        self.links.remove(&RowKey::Address(desc.address.clone()));
        let link = Link {
            worker: Some(id),
            address: desc.address.clone(),
            desc: Some(desc.clone()),
            state: LinkState::Active,
            last_error: String::new(),
            lost_at: None,
        };
        self.links.insert(key, link);
        let worker_id = desc.id.clone();
        self.core.add_worker(id, desc);
        self.adopt(id, &worker_id, held);
    }

    /// Takes a session out of the scheduler; dropping its sender closes
    /// the stream to the worker. Returns its row.
    fn end_session(&mut self, id: WorkerId) -> Option<RowKey> {
        let key = self.sessions.remove(&id)?;
        self.comm.workers.remove(&id);
        self.core.remove_worker(id, &mut self.comm);
        Some(key)
    }

    pub(super) fn worker_down(&mut self, id: WorkerId, reason: SessionEnd) {
        let Some(key) = self.end_session(id) else { return };
        let Some(link) = self.links.get_mut(&key) else { return };
        let name = link.desc.as_ref().map_or(link.address.as_str(), |d| d.name.as_str());
        if link.state == LinkState::Draining {
            if let Some(id) = link.desc.as_ref().map(|d| d.id.clone()) {
                if let Some(durable) = &self.durable {
                    durable.store.send(crate::store::Op::WorkerGone { id });
                }
            }
            tracing::info!(worker = %name, address = %link.address, %reason, "worker left after draining");
        } else {
            tracing::warn!(worker = %name, address = %link.address, %reason, "worker lost: {reason}");
        }
        link.worker = None;
        link.state = LinkState::Lost;
        link.last_error = reason.to_string();
        link.lost_at = Some(Instant::now());
    }

    pub(super) fn link_failed(&mut self, address: String, error: LinkError) {
        let reached = self.links.values().any(|l| l.worker.is_some() && l.address == address);
        if reached {
            return; // a worker there is in session; this was another dial
        }
        let link = self.links.entry(RowKey::Address(address.clone())).or_insert_with(|| Link {
            worker: None,
            address,
            desc: None,
            state: LinkState::Connecting,
            last_error: String::new(),
            lost_at: None,
        });
        link.last_error = error.to_string();
    }

    /// Tells the scheduler how many workers are connected or being dialled
    /// (what a waiting client is told); counted when links change, not per
    /// round.
    pub(super) fn count_known_workers(&mut self) {
        let known = self.links.values().filter(|link| link.state != LinkState::Lost).count();
        self.core.set_known_workers(known);
    }

    pub(super) fn completions(&mut self, worker: WorkerId, batch: Vec<(TaskKey, Finished)>) {
        for (key, done) in batch {
            if let Outcome::Failed { code: crate::sched::FailureCode::TimedOut, .. } = done.outcome {
                self.comm.observe.attempt_timed_out();
            }
            self.core.complete(worker, key, done, &mut self.comm);
        }
    }

    pub(super) fn draining(&mut self, worker: WorkerId, returned: Vec<TaskKey>) {
        self.core.drain_worker(worker, &returned);
        let Some(link) = self.sessions.get(&worker).and_then(|key| self.links.get_mut(key)) else { return };
        if link.state != LinkState::Draining {
            let name = link.desc.as_ref().map_or(link.address.as_str(), |d| d.name.as_str());
            let returned = returned.len();
            tracing::info!(worker = %name, address = %link.address, returned, "worker is draining: it takes no new tasks");
        }
        link.state = LinkState::Draining;
    }
}

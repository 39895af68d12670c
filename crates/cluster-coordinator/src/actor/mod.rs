//! The one task that owns the scheduling [`Core`]. gRPC handlers and worker
//! links reach it through an [`ActorHandle`]; it applies every command that
//! is waiting, schedules once, and hands the effects to the worker and job
//! streams in batches. No lock is shared, so nothing is ever held across an
//! await, and nothing here knows the proto.

mod comm;
mod handle;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::{CoordinatorError, LinkError, SessionEnd};
use crate::sched::{
    Core, CoreConfig, Finished, JobId, JobSpec, JobStats, NewTask, Outcome, TaskKey, WorkerDesc, WorkerId,
};
use comm::ActorComm;
pub(crate) use comm::{job_channel, Assign, JobEvent, JobRx, JobTx, ToWorker, WorkerTx};
pub(crate) use handle::ActorHandle;
use handle::{CancelReason, Command};

/// Most commands applied before the actor schedules and flushes.
const MAX_ROUND: usize = 4096;

/// Result bytes a job's client may leave unread before the job's dispatch
/// pauses: the coordinator holds at most about this much per job for a
/// client that stops reading (plus its tasks already running).
pub(crate) const MAX_UNREAD_BYTES: u64 = 4 << 20;

/// Where a worker address stands, for status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Being dialled; not in a session yet.
    Connecting,
    /// In a session, taking tasks.
    Active,
    /// In a session, taking no new tasks.
    Draining,
    /// Its session ended.
    Lost,
}

/// One worker address as status shows it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerRow {
    pub(crate) address: String,
    /// What the worker said of itself; `None` if it never answered.
    pub(crate) desc: Option<WorkerDesc>,
    pub(crate) state: LinkState,
    pub(crate) in_flight: u64,
    pub(crate) completed: u64,
    pub(crate) last_error: String,
}

/// The cluster as the coordinator sees it.
#[derive(Debug, Clone)]
pub(crate) struct StatusReport {
    pub(crate) workers: Vec<WorkerRow>,
    pub(crate) queued: u64,
    pub(crate) active_jobs: u64,
    pub(crate) late_results: u64,
    pub(crate) jobs: Vec<JobStats>,
}

/// A worker address the coordinator knows, with its current session.
struct Link {
    worker: Option<WorkerId>,
    desc: Option<WorkerDesc>,
    state: LinkState,
    last_error: String,
}

/// The actor's state.
struct Actor {
    core: Core,
    comm: ActorComm,
    /// By address.
    links: BTreeMap<String, Link>,
    /// Address of each worker in session.
    addresses: HashMap<WorkerId, String>,
    next_worker: u64,
    next_job: u64,
    closing: bool,
    admission: Arc<Semaphore>,
    /// Admission permits held by tasks now in the queue.
    held: u64,
}

/// Starts the actor task; it runs until every handle is dropped.
pub(crate) fn spawn(config: CoreConfig, max_queued: usize) -> ActorHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let admission = Arc::new(Semaphore::new(max_queued));
    let actor = Actor {
        core: Core::new(config),
        comm: ActorComm::default(),
        links: BTreeMap::new(),
        addresses: HashMap::default(),
        next_worker: 1,
        next_job: 1,
        closing: false,
        admission: admission.clone(),
        held: 0,
    };
    cluster_node::spawn(actor.run(rx));
    ActorHandle { tx, admission, max_queued }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        while let Some(command) = rx.recv().await {
            self.apply(command);
            for _ in 0..MAX_ROUND {
                match rx.try_recv() {
                    Ok(command) => self.apply(command),
                    Err(_) => break,
                }
            }
            self.core.schedule(&mut self.comm);
            for job in self.comm.flush(MAX_UNREAD_BYTES) {
                self.core.pause_job(job);
            }
            self.release_admission();
        }
    }

    /// Gives back admission permits for tasks that left the queue. Tasks put
    /// back in the queue (a lost worker's) hold none, so the queue may go
    /// over the bound by those for a while, never by new submissions.
    fn release_admission(&mut self) {
        let queued = self.core.queued();
        if queued < self.held {
            self.admission.add_permits((self.held - queued) as usize);
            self.held = queued;
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::WorkerUp { desc, tx, reply } => self.worker_up(desc, tx, reply),
            Command::WorkerDown { id, reason } => self.worker_down(id, reason),
            Command::LinkFailed { address, error } => self.link_failed(address, error),
            Command::Completions { worker, batch } => self.completions(worker, batch),
            Command::Revoked { worker, keys } => self.core.revoked(worker, &keys),
            Command::Draining { worker, returned } => self.draining(worker, returned),
            Command::OpenJob { tx, spec, reply } => self.open_job(tx, spec, reply),
            Command::Submit { job, tasks, rejected } => self.submit(job, tasks, rejected),
            Command::CloseInput { job } => self.core.close_input(job, &mut self.comm),
            Command::ClientRead { job } => self.client_read(job),
            Command::CancelJob { job, reason } => self.cancel_job(job, reason),
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Shutdown { reply } => self.shutdown(reply),
        }
    }

    fn worker_up(&mut self, desc: WorkerDesc, tx: WorkerTx, reply: oneshot::Sender<WorkerId>) {
        let id = WorkerId(self.next_worker);
        self.next_worker += 1;
        if reply.send(id).is_err() {
            return; // the link gave up waiting
        }
        tracing::info!(worker = %desc.name, cores = desc.cores, weight = desc.weight, "worker joined");
        self.comm.workers.insert(id, tx);
        self.addresses.insert(id, desc.address.clone());
        let link = Link {
            worker: Some(id),
            desc: Some(desc.clone()),
            state: LinkState::Active,
            last_error: String::new(),
        };
        self.links.insert(desc.address.clone(), link);
        self.core.add_worker(id, desc);
    }

    fn worker_down(&mut self, id: WorkerId, reason: SessionEnd) {
        let Some(address) = self.addresses.remove(&id) else { return };
        tracing::warn!(worker = %address, "worker lost: {reason}");
        self.comm.workers.remove(&id);
        self.core.remove_worker(id, &mut self.comm);
        if let Some(link) = self.links.get_mut(&address).filter(|l| l.worker == Some(id)) {
            link.worker = None;
            link.state = LinkState::Lost;
            link.last_error = reason.to_string();
        }
    }

    fn link_failed(&mut self, address: String, error: LinkError) {
        let link = self.links.entry(address).or_insert_with(|| Link {
            worker: None,
            desc: None,
            state: LinkState::Connecting,
            last_error: String::new(),
        });
        if link.worker.is_none() {
            link.last_error = error.to_string();
        }
    }

    fn completions(&mut self, worker: WorkerId, batch: Vec<(TaskKey, Finished)>) {
        for (key, done) in batch {
            self.core.complete(worker, key, done, &mut self.comm);
        }
    }

    fn draining(&mut self, worker: WorkerId, returned: Vec<TaskKey>) {
        self.core.drain_worker(worker, &returned);
        let Some(link) = self.addresses.get(&worker).and_then(|a| self.links.get_mut(a)) else { return };
        if link.state != LinkState::Draining {
            tracing::info!(worker = worker.0, "worker is draining");
        }
        link.state = LinkState::Draining;
    }

    fn open_job(
        &mut self,
        tx: JobTx,
        spec: JobSpec,
        reply: oneshot::Sender<Result<JobId, CoordinatorError>>,
    ) {
        if self.closing {
            let _ = reply.send(Err(CoordinatorError::ShuttingDown));
            return;
        }
        let job = JobId(self.next_job);
        self.next_job += 1;
        if tx.send(JobEvent::Accepted(job)).is_ok() && reply.send(Ok(job)).is_ok() {
            self.comm.jobs.insert(job, tx);
            self.core.open_job(job, spec);
        }
    }

    fn submit(&mut self, job: JobId, tasks: Vec<NewTask>, rejected: Vec<(u64, Outcome)>) {
        self.held += (tasks.len() + rejected.len()) as u64;
        self.core.submit(job, tasks);
        for (id, outcome) in rejected {
            self.core.reject(job, id, outcome, &mut self.comm);
        }
    }

    /// The job's client took results: dispatch goes on unless it is still
    /// over the bound (then its stream tells again when it is not).
    fn client_read(&mut self, job: JobId) {
        if self.comm.jobs.get(&job).is_some_and(|tx| tx.unread() < MAX_UNREAD_BYTES) {
            self.core.resume_job(job);
        }
    }

    fn cancel_job(&mut self, job: JobId, reason: CancelReason) {
        let cancelled = self.core.cancel_job(job, &mut self.comm);
        match reason {
            CancelReason::Disconnected => {
                if self.comm.jobs.remove(&job).is_some() {
                    tracing::info!(job = job.0, cancelled, "job cancelled: its client went away");
                }
            }
            CancelReason::Requested(reply) => {
                tracing::info!(job = job.0, cancelled, "job cancelled on request");
                self.comm.end_job(job, CoordinatorError::CancelledByRequest(job));
                let _ = reply.send(cancelled);
            }
            CancelReason::Failed(error) => self.comm.end_job(job, error),
        }
    }

    fn shutdown(&mut self, reply: oneshot::Sender<()>) {
        self.closing = true;
        let jobs: Vec<JobId> = self.comm.jobs.keys().copied().collect();
        for job in jobs {
            let left = self.core.cancel_job(job, &mut self.comm);
            self.comm.end_job(job, CoordinatorError::ShutDownWithTasksLeft { job, left });
        }
        self.comm.flush(u64::MAX);
        let _ = reply.send(());
    }

    fn status(&self) -> StatusReport {
        let stats: HashMap<WorkerId, _> = self.core.worker_stats().into_iter().map(|s| (s.id, s)).collect();
        let workers = self
            .links
            .iter()
            .map(|(address, link)| {
                let stats = link.worker.and_then(|id| stats.get(&id));
                WorkerRow {
                    address: address.clone(),
                    desc: link.desc.clone(),
                    state: link.state,
                    in_flight: stats.map_or(0, |s| s.in_flight),
                    completed: stats.map_or(0, |s| s.completed),
                    last_error: link.last_error.clone(),
                }
            })
            .collect();
        StatusReport {
            workers,
            queued: self.core.queued(),
            active_jobs: self.core.active_jobs() as u64,
            late_results: self.core.late_results(),
            jobs: self.core.job_stats(),
        }
    }
}

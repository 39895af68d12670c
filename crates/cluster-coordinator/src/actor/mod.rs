//! The one task that owns the scheduling [`Core`]. gRPC handlers and worker
//! links send it [`Command`]s; it applies every command that is waiting,
//! schedules once, and flushes the effects as batched messages. No lock is
//! shared, so nothing is ever held across an await.

mod comm;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cluster_proto::{
    submit_response, ErrorCode, JobAccepted, JobOptions, JobStatus, StatusResponse, Task, WorkerInfo,
    WorkerState, WorkerStatus,
};
use prost::Message;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::Status;

use crate::core::{Core, CoreConfig, JobId, TaskKey, WorkerId, WorkerSpec};
use comm::ActorComm;
pub(crate) use comm::{JobTx, WorkerTx};

/// Most commands applied before the actor schedules and flushes.
const MAX_ROUND: usize = 4096;

/// Why a job is being cancelled.
pub(crate) enum CancelReason {
    /// Its client went away; nobody is listening.
    Disconnected,
    /// Someone called `Cancel`; the reply gets the number of tasks cancelled.
    Requested(oneshot::Sender<u64>),
    /// Its submission stream failed; the client gets this status.
    Failed(Status),
}

/// What the actor can be asked to do.
pub(crate) enum Command {
    WorkerUp { id: WorkerId, address: String, spec: WorkerSpec, info: WorkerInfo, tx: WorkerTx },
    WorkerDown { id: WorkerId, address: String, reason: String },
    LinkFailed { address: String, reason: String },
    Completions { worker: WorkerId, batch: Vec<cluster_proto::Completion> },
    Revoked { worker: WorkerId, keys: Vec<u64> },
    Draining { worker: WorkerId, returned: Vec<u64> },
    OpenJob { tx: JobTx, options: JobOptions, reply: oneshot::Sender<Result<JobId, Status>> },
    Submit { job: JobId, tasks: Vec<Task> },
    CloseInput { job: JobId },
    CancelJob { job: JobId, reason: CancelReason },
    Status { reply: oneshot::Sender<StatusResponse> },
    Shutdown { reply: oneshot::Sender<()> },
}

/// A cheap, cloneable way to reach the actor.
#[derive(Clone)]
pub(crate) struct ActorHandle {
    tx: mpsc::UnboundedSender<Command>,
    /// One permit per task the coordinator's queue may still take.
    pub(crate) admission: Arc<Semaphore>,
    /// The queue bound (`--max-queued`).
    pub(crate) max_queued: usize,
}

fn gone() -> Status {
    Status::unavailable("the coordinator is shutting down")
}

impl ActorHandle {
    /// Sends a command; if the actor is gone the coordinator is shutting
    /// down and there is nobody left to tell.
    pub(crate) fn send(&self, command: Command) {
        let _ = self.tx.send(command);
    }

    pub(crate) async fn open_job(&self, tx: JobTx, options: JobOptions) -> Result<JobId, Status> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::OpenJob { tx, options, reply });
        rx.await.map_err(|_| gone())?
    }

    pub(crate) async fn status(&self) -> Result<StatusResponse, Status> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply });
        rx.await.map_err(|_| gone())
    }

    pub(crate) async fn cancel(&self, job: JobId) -> Result<u64, Status> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::CancelJob { job, reason: CancelReason::Requested(reply) });
        rx.await.map_err(|_| gone())
    }

    /// Stops taking jobs, ends every open job's stream with UNAVAILABLE and
    /// stops their tasks on the workers.
    pub(crate) async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Shutdown { reply });
        let _ = rx.await;
    }
}

/// What status shows of a worker address the coordinator knows.
struct Link {
    worker: Option<WorkerId>,
    info: WorkerInfo,
    state: WorkerState,
    last_error: String,
}

/// The actor's state.
struct Actor {
    core: Core,
    comm: ActorComm,
    links: BTreeMap<String, Link>,
    next_job: u64,
    closing: bool,
    admission: Arc<Semaphore>,
    /// Admission permits held by tasks now in the queue.
    held: u64,
}

/// Starts the actor task; it runs until every handle is dropped.
pub(crate) fn spawn(config: CoreConfig, max_queued: usize, max_message_bytes: usize) -> ActorHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let admission = Arc::new(Semaphore::new(max_queued));
    let actor = Actor {
        core: Core::new(config),
        comm: ActorComm::new(max_message_bytes),
        links: BTreeMap::new(),
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
            self.comm.flush();
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
        let comm = &mut self.comm;
        match command {
            Command::WorkerUp { id, address, spec, info, tx } => {
                tracing::info!(worker = %spec.name, cores = spec.cores, weight = spec.weight, "worker joined");
                comm.workers.insert(id, tx);
                self.core.add_worker(id, spec);
                let link =
                    Link { worker: Some(id), info, state: WorkerState::Active, last_error: String::new() };
                self.links.insert(address, link);
            }
            Command::WorkerDown { id, address, reason } => {
                tracing::warn!(worker = %address, "worker lost: {reason}");
                comm.workers.remove(&id);
                self.core.remove_worker(id, comm);
                if let Some(link) = self.links.get_mut(&address).filter(|l| l.worker == Some(id)) {
                    link.worker = None;
                    link.state = WorkerState::Lost;
                    link.last_error = reason;
                }
            }
            Command::LinkFailed { address, reason } => {
                let link = self.links.entry(address).or_insert_with(|| Link {
                    worker: None,
                    info: WorkerInfo::default(),
                    state: WorkerState::Connecting,
                    last_error: String::new(),
                });
                if link.worker.is_none() {
                    link.last_error = reason;
                }
            }
            Command::Completions { worker, batch } => {
                for done in batch {
                    let result = done.result.unwrap_or_default();
                    self.core.complete(worker, TaskKey(done.key), result, comm);
                }
            }
            Command::Revoked { worker, keys } => {
                let keys: Vec<TaskKey> = keys.into_iter().map(TaskKey).collect();
                self.core.revoked(worker, &keys);
            }
            Command::Draining { worker, returned } => {
                let returned: Vec<TaskKey> = returned.into_iter().map(TaskKey).collect();
                self.core.drain_worker(worker, &returned);
                if let Some(link) = self.links.values_mut().find(|l| l.worker == Some(worker)) {
                    if link.state != WorkerState::Draining {
                        tracing::info!(worker = worker.0, "worker is draining");
                    }
                    link.state = WorkerState::Draining;
                }
            }
            Command::OpenJob { tx, options, reply } => {
                if self.closing {
                    let _ = reply.send(Err(gone()));
                    return;
                }
                let job = JobId(self.next_job);
                self.next_job += 1;
                let accepted = submit_response::Event::Accepted(JobAccepted { job_id: job.0 });
                let sent = tx.send(Ok(cluster_proto::SubmitResponse { event: Some(accepted) }));
                if sent.is_ok() && reply.send(Ok(job)).is_ok() {
                    comm.jobs.insert(job, tx);
                    self.core.open_job(job, options.name, options.timeout_ms);
                }
            }
            Command::Submit { job, tasks } => {
                self.held += tasks.len() as u64;
                // A task that cannot fit in an assignment message would fail
                // every worker session it was sent on: refuse it here.
                let limit = comm.max_message_bytes.saturating_sub(cluster_node::MESSAGE_HEADROOM);
                let (fits, too_large): (Vec<Task>, Vec<Task>) =
                    tasks.into_iter().partition(|task| task.encoded_len() + 64 <= limit);
                self.core.submit(job, fits);
                for task in too_large {
                    let message = format!(
                        "task of {} bytes is over the {limit}-byte limit of a message to a worker (--max-message-bytes)",
                        task.encoded_len()
                    );
                    self.core.reject(job, task.id, ErrorCode::InvalidInput, message, comm);
                }
            }
            Command::CloseInput { job } => self.core.close_input(job, comm),
            Command::CancelJob { job, reason } => {
                let cancelled = self.core.cancel_job(job, comm);
                match reason {
                    CancelReason::Disconnected => {
                        if comm.jobs.remove(&job).is_some() {
                            tracing::info!(job = job.0, cancelled, "job cancelled: its client went away");
                        }
                    }
                    CancelReason::Requested(reply) => {
                        tracing::info!(job = job.0, cancelled, "job cancelled on request");
                        let message = format!("job {} was cancelled by a Cancel call", job.0);
                        comm.end_job(job, Status::cancelled(message));
                        let _ = reply.send(cancelled);
                    }
                    CancelReason::Failed(status) => comm.end_job(job, status),
                }
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Shutdown { reply } => {
                self.closing = true;
                let jobs: Vec<JobId> = comm.jobs.keys().copied().collect();
                for job in jobs {
                    let left = self.core.cancel_job(job, comm);
                    let message = format!(
                        "the coordinator is shutting down; {left} tasks of job {} had no result",
                        job.0
                    );
                    comm.end_job(job, Status::unavailable(message));
                }
                comm.flush();
                let _ = reply.send(());
            }
        }
    }

    fn status(&self) -> StatusResponse {
        let stats: HashMap<WorkerId, _> = self.core.worker_stats().into_iter().map(|s| (s.id, s)).collect();
        let workers = self
            .links
            .iter()
            .map(|(address, link)| {
                let stats = link.worker.and_then(|id| stats.get(&id));
                WorkerStatus {
                    address: if link.info.name.is_empty() { address.clone() } else { link.info.name.clone() },
                    cores: link.info.cores,
                    weight: link.info.weight,
                    state: link.state as i32,
                    in_flight: stats.map_or(0, |s| s.in_flight),
                    completed: stats.map_or(0, |s| s.completed),
                    labels: link.info.labels.clone(),
                    version: link.info.version.clone(),
                    last_error: link.last_error.clone(),
                }
            })
            .collect();
        let jobs = self
            .core
            .job_stats()
            .into_iter()
            .map(|j| JobStatus { job_id: j.id.0, name: j.name, submitted: j.submitted, finished: j.finished })
            .collect();
        StatusResponse {
            workers,
            queued: self.core.queued(),
            active_jobs: self.core.active_jobs() as u64,
            version: crate::VERSION.into(),
            late_results: self.core.late_results(),
            jobs,
        }
    }
}

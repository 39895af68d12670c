//! The one task that owns the scheduling [`Core`]. gRPC handlers and worker
//! links send it [`Command`]s; it applies every command that is waiting,
//! schedules once, and flushes the effects as batched messages. No lock is
//! shared, so nothing is ever held across an await.

use std::collections::{BTreeMap, HashMap};

use cluster_proto::{
    coordinator_message, submit_response, AssignBatch, Assignment, CoordinatorMessage, JobAccepted,
    JobSummary, ResultBatch, RevokeRequest, StatusResponse, SubmitResponse, Task, TaskResult, WorkerState,
    WorkerStatus,
};
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use crate::core::{Comm, Core, CoreConfig, JobId, TaskKey, WorkerId, WorkerSpec};

/// Most commands applied before the actor schedules and flushes.
const MAX_ROUND: usize = 4096;

/// Messages to one worker's session.
pub(crate) type WorkerTx = mpsc::UnboundedSender<CoordinatorMessage>;
/// Messages to one job's client.
pub(crate) type JobTx = mpsc::UnboundedSender<Result<SubmitResponse, Status>>;

/// What the actor can be asked to do.
pub(crate) enum Command {
    WorkerUp {
        id: WorkerId,
        address: String,
        spec: WorkerSpec,
        info: cluster_proto::WorkerInfo,
        tx: WorkerTx,
    },
    WorkerDown {
        id: WorkerId,
        address: String,
        reason: String,
    },
    LinkFailed {
        address: String,
        reason: String,
    },
    Completions {
        worker: WorkerId,
        batch: Vec<cluster_proto::Completion>,
    },
    Revoked {
        worker: WorkerId,
        keys: Vec<u64>,
    },
    OpenJob {
        tx: JobTx,
        reply: oneshot::Sender<JobId>,
    },
    Submit {
        job: JobId,
        tasks: Vec<Task>,
    },
    CloseInput {
        job: JobId,
    },
    CancelJob {
        job: JobId,
    },
    Status {
        reply: oneshot::Sender<StatusResponse>,
    },
}

/// A cheap, cloneable way to reach the actor.
#[derive(Clone)]
pub(crate) struct ActorHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl ActorHandle {
    /// Sends a command; if the actor is gone the coordinator is shutting
    /// down and there is nobody left to tell.
    pub(crate) fn send(&self, command: Command) {
        let _ = self.tx.send(command);
    }

    pub(crate) async fn open_job(&self, tx: JobTx) -> Result<JobId, Status> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::OpenJob { tx, reply });
        rx.await.map_err(|_| Status::unavailable("the coordinator is shutting down"))
    }

    pub(crate) async fn status(&self) -> Result<StatusResponse, Status> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply });
        rx.await.map_err(|_| Status::unavailable("the coordinator is shutting down"))
    }
}

/// What status shows of a worker address the coordinator knows.
struct Link {
    worker: Option<WorkerId>,
    info: cluster_proto::WorkerInfo,
    state: WorkerState,
    last_error: String,
}

/// Buffers the core's effects during a round, then sends them batched.
#[derive(Default)]
struct ActorComm {
    workers: HashMap<WorkerId, WorkerTx>,
    jobs: HashMap<JobId, JobTx>,
    assignments: HashMap<WorkerId, Vec<Assignment>>,
    results: HashMap<JobId, Vec<TaskResult>>,
    finished: Vec<(JobId, JobSummary)>,
}

impl Comm for ActorComm {
    fn assign(&mut self, worker: WorkerId, key: TaskKey, task: &Task) {
        self.assignments.entry(worker).or_default().push(Assignment { key: key.0, task: Some(task.clone()) });
    }

    fn revoke(&mut self, worker: WorkerId, keys: Vec<TaskKey>) {
        let request = RevokeRequest { keys: keys.into_iter().map(|k| k.0).collect() };
        self.send_worker(worker, coordinator_message::Event::Revoke(request));
    }

    fn deliver(&mut self, job: JobId, result: TaskResult) {
        self.results.entry(job).or_default().push(result);
    }

    fn job_finished(&mut self, job: JobId, summary: JobSummary) {
        self.finished.push((job, summary));
    }
}

impl ActorComm {
    fn send_worker(&mut self, worker: WorkerId, event: coordinator_message::Event) {
        // Assignments queued earlier in this round go first.
        if let Some(tasks) = self.assignments.remove(&worker) {
            self.send_raw(worker, coordinator_message::Event::Assign(AssignBatch { tasks }));
        }
        self.send_raw(worker, event);
    }

    fn send_raw(&mut self, worker: WorkerId, event: coordinator_message::Event) {
        if let Some(tx) = self.workers.get(&worker) {
            // A closed channel means the link is ending; it reports the loss.
            let _ = tx.send(CoordinatorMessage { event: Some(event) });
        }
    }

    fn send_job(&mut self, job: JobId, event: submit_response::Event) {
        if let Some(tx) = self.jobs.get(&job) {
            let _ = tx.send(Ok(SubmitResponse { event: Some(event) }));
        }
    }

    fn flush(&mut self) {
        for (worker, tasks) in std::mem::take(&mut self.assignments) {
            self.send_raw(worker, coordinator_message::Event::Assign(AssignBatch { tasks }));
        }
        for (job, results) in std::mem::take(&mut self.results) {
            self.send_job(job, submit_response::Event::Results(ResultBatch { results }));
        }
        for (job, summary) in std::mem::take(&mut self.finished) {
            self.send_job(job, submit_response::Event::Summary(summary));
            self.jobs.remove(&job);
        }
    }
}

/// The actor's state.
struct Actor {
    core: Core,
    comm: ActorComm,
    links: BTreeMap<String, Link>,
    next_job: u64,
}

/// Starts the actor task; it runs until every handle is dropped.
pub(crate) fn spawn(config: CoreConfig) -> ActorHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let actor =
        Actor { core: Core::new(config), comm: ActorComm::default(), links: BTreeMap::new(), next_job: 1 };
    tokio::spawn(actor.run(rx));
    ActorHandle { tx }
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
        }
    }

    fn apply(&mut self, command: Command) {
        let comm = &mut self.comm;
        match command {
            Command::WorkerUp { id, address, spec, info, tx } => {
                tracing::info!(worker = %spec.name, cores = spec.cores, weight = spec.weight, "worker joined");
                comm.workers.insert(id, tx);
                self.core.add_worker(id, spec);
                self.links.insert(
                    address,
                    Link { worker: Some(id), info, state: WorkerState::Active, last_error: String::new() },
                );
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
                    info: Default::default(),
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
            Command::OpenJob { tx, reply } => {
                let job = JobId(self.next_job);
                self.next_job += 1;
                let accepted = submit_response::Event::Accepted(JobAccepted { job_id: job.0 });
                if tx.send(Ok(SubmitResponse { event: Some(accepted) })).is_ok() && reply.send(job).is_ok() {
                    comm.jobs.insert(job, tx);
                    self.core.open_job(job);
                }
            }
            Command::Submit { job, tasks } => self.core.submit(job, tasks),
            Command::CloseInput { job } => self.core.close_input(job, comm),
            Command::CancelJob { job } => {
                if comm.jobs.remove(&job).is_some() {
                    tracing::info!(job = job.0, "job cancelled: its client went away");
                    self.core.cancel_job(job);
                }
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
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
                    address: address.clone(),
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
        StatusResponse {
            workers,
            queued: self.core.queued(),
            active_jobs: self.core.active_jobs() as u64,
            version: crate::VERSION.into(),
        }
    }
}

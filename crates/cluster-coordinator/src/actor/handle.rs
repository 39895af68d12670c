//! How the rest of the coordinator reaches the actor: one typed method per
//! command, each a message on the actor's queue.

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use super::{Admission, Counters, JobTx, Opened, Permits, Resumed, StatusReport, WorkerTx};
use crate::error::{CoordinatorError, LinkError, SessionEnd};
use crate::sched::{Finished, Held, JobId, JobSpec, NewTask, Outcome, TaskKey, WorkerDesc, WorkerId};

/// Why a job is being cancelled.
pub(super) enum CancelReason {
    /// This client of it went away (another may have resumed it since).
    Disconnected(JobTx),
    /// Someone called `Cancel`; the reply gets the number of tasks
    /// cancelled, or `UnknownJob`.
    Requested(oneshot::Sender<Result<u64, CoordinatorError>>),
    /// Its submission stream failed; the client gets this error.
    Failed(CoordinatorError),
}

/// What the actor can be asked to do.
pub(super) enum Command {
    WorkerUp {
        desc: WorkerDesc,
        held: Vec<Held>,
        tx: WorkerTx,
        reply: oneshot::Sender<WorkerId>,
    },
    WorkerDown {
        id: WorkerId,
        reason: SessionEnd,
    },
    LinkFailed {
        address: String,
        error: LinkError,
    },
    Completions {
        worker: WorkerId,
        batch: Vec<(TaskKey, Finished)>,
    },
    Revoked {
        worker: WorkerId,
        keys: Vec<TaskKey>,
    },
    Draining {
        worker: WorkerId,
        returned: Vec<TaskKey>,
    },
    OpenJob {
        tx: JobTx,
        spec: JobSpec,
        client: Option<SocketAddr>,
        reply: oneshot::Sender<Result<Opened, CoordinatorError>>,
    },
    ResumeJob {
        job: JobId,
        tx: JobTx,
        reply: oneshot::Sender<Result<Resumed, CoordinatorError>>,
    },
    Release {
        job: JobId,
    },
    Submit {
        job: JobId,
        tasks: Vec<NewTask>,
        rejected: Vec<(u64, Outcome)>,
        permits: Permits,
    },
    CloseInput {
        job: JobId,
    },
    ClientRead {
        job: JobId,
    },
    CancelJob {
        job: JobId,
        reason: CancelReason,
    },
    Status {
        reply: oneshot::Sender<StatusReport>,
    },
    Metrics {
        reply: oneshot::Sender<(Counters, StatusReport)>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable way to reach the actor.
#[derive(Clone)]
pub(crate) struct ActorHandle {
    pub(super) tx: mpsc::UnboundedSender<Command>,
    /// What the coordinator's queue may still take.
    pub(crate) admission: Admission,
}

impl ActorHandle {
    /// Sends a command; if the actor is gone the coordinator is shutting
    /// down and there is nobody left to tell.
    fn send(&self, command: Command) {
        let _ = self.tx.send(command);
    }

    /// A worker's session opened; returns the id its messages carry.
    pub(crate) async fn worker_up(
        &self,
        desc: WorkerDesc,
        held: Vec<Held>,
        tx: WorkerTx,
    ) -> Result<WorkerId, CoordinatorError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::WorkerUp { desc, held, tx, reply });
        rx.await.map_err(|_| CoordinatorError::ShuttingDown)
    }

    /// A worker's session ended.
    pub(crate) fn worker_down(&self, id: WorkerId, reason: SessionEnd) {
        self.send(Command::WorkerDown { id, reason });
    }

    /// A worker at `address` could not be reached (status shows why).
    pub(crate) fn link_failed(&self, address: String, error: LinkError) {
        self.send(Command::LinkFailed { address, error });
    }

    /// A worker reported finished tasks.
    pub(crate) fn completions(&self, worker: WorkerId, batch: Vec<(TaskKey, Finished)>) {
        self.send(Command::Completions { worker, batch });
    }

    /// A worker answered a revoke request with the keys it gave back.
    pub(crate) fn revoked(&self, worker: WorkerId, keys: Vec<TaskKey>) {
        self.send(Command::Revoked { worker, keys });
    }

    /// A worker is draining and handed back these unstarted tasks.
    pub(crate) fn draining(&self, worker: WorkerId, returned: Vec<TaskKey>) {
        self.send(Command::Draining { worker, returned });
    }

    /// Opens a job whose events go to `tx`, for a client at `client`.
    pub(crate) async fn open_job(
        &self,
        tx: JobTx,
        spec: JobSpec,
        client: Option<SocketAddr>,
    ) -> Result<Opened, CoordinatorError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::OpenJob { tx, spec, client, reply });
        rx.await.map_err(|_| CoordinatorError::ShuttingDown)?
    }

    /// Reattaches a client to a job: its events go to `tx` once the
    /// client has been sent what the state directory holds (then call
    /// [`ActorHandle::release`]).
    pub(crate) async fn resume_job(&self, job: JobId, tx: JobTx) -> Result<Resumed, CoordinatorError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::ResumeJob { job, tx, reply });
        rx.await.map_err(|_| CoordinatorError::ShuttingDown)?
    }

    /// A resumed job's client has its stored results: its live events flow.
    pub(crate) fn release(&self, job: JobId) {
        self.send(Command::Release { job });
    }

    /// Adds tasks to a job, and results for tasks refused at the edge,
    /// with the admission permits taken for them.
    pub(crate) fn submit(
        &self,
        job: JobId,
        tasks: Vec<NewTask>,
        rejected: Vec<(u64, Outcome)>,
        permits: Permits,
    ) {
        self.send(Command::Submit { job, tasks, rejected, permits });
    }

    /// The job's client sent all its tasks.
    pub(crate) fn close_input(&self, job: JobId) {
        self.send(Command::CloseInput { job });
    }

    /// The job's client took results and has less than the bound unread.
    pub(crate) fn client_read(&self, job: JobId) {
        self.send(Command::ClientRead { job });
    }

    /// The job's client went away: its tasks are cancelled (with durable
    /// state: the job runs on, detached, until a client resumes it or the
    /// detach timeout passes).
    pub(crate) fn client_gone(&self, job: JobId, tx: JobTx) {
        self.send(Command::CancelJob { job, reason: CancelReason::Disconnected(tx) });
    }

    /// The job's submission failed: its tasks are cancelled and its client
    /// gets `error`.
    pub(crate) fn submission_failed(&self, job: JobId, error: CoordinatorError) {
        self.send(Command::CancelJob { job, reason: CancelReason::Failed(error) });
    }

    /// Cancels a job on request; returns how many tasks had no result.
    pub(crate) async fn cancel(&self, job: JobId) -> Result<u64, CoordinatorError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::CancelJob { job, reason: CancelReason::Requested(reply) });
        rx.await.map_err(|_| CoordinatorError::ShuttingDown)?
    }

    /// The cluster as the coordinator sees it.
    pub(crate) async fn status(&self) -> Result<StatusReport, CoordinatorError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply });
        rx.await.map_err(|_| CoordinatorError::ShuttingDown)
    }

    /// The totals since start and the cluster now, for a metrics scrape.
    pub(crate) async fn metrics(&self) -> Result<(Counters, StatusReport), CoordinatorError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Metrics { reply });
        rx.await.map_err(|_| CoordinatorError::ShuttingDown)
    }

    /// Stops taking jobs, ends every open job's stream with UNAVAILABLE and
    /// stops their tasks on the workers.
    pub(crate) async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Shutdown { reply });
        let _ = rx.await;
    }
}

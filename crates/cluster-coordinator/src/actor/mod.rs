//! The one task that owns the scheduling [`Core`]. gRPC handlers and worker
//! links reach it through an [`ActorHandle`]; it applies every command that
//! is waiting, schedules once, and hands the effects to the worker and job
//! streams in batches. No lock is shared, so nothing is ever held across an
//! await, and nothing here knows the proto.

mod admission;
mod comm;
mod durable;
mod handle;
mod observe;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;
use tokio::sync::{mpsc, oneshot};

use crate::error::{CoordinatorError, LinkError, SessionEnd};
use crate::sched::{
    Core, CoreConfig, Finished, FinishedJob, Held, JobId, JobSpec, JobStats, NewTask, Outcome, TaskKey,
    WorkerDesc, WorkerId,
};
pub(crate) use admission::{Admission, Limits, Permits};
use comm::ActorComm;
pub(crate) use comm::{job_channel, Assign, JobEvent, JobRx, JobTx, ToWorker, WorkerTx};
pub(crate) use durable::{Durability, Opened, Resumed};
pub(crate) use handle::ActorHandle;
use handle::{CancelReason, Command};
pub(crate) use observe::{Counters, Histogram, BUCKETS_MICROS, FAILURE_CODES};

/// Most commands applied before the actor schedules and flushes.
const MAX_ROUND: usize = 4096;

/// Result bytes a job's client may leave unread before the job's dispatch
/// pauses: the coordinator holds at most about this much per job for a
/// client that stops reading (plus its tasks already running).
pub(crate) const MAX_UNREAD_BYTES: u64 = 4 << 20;

/// How often the actor looks at the clock (to forget lost workers).
const CLOCK_TICK: Duration = Duration::from_millis(100);

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
    /// Of those, failed.
    pub(crate) failed: u64,
    /// Of the tasks in flight, those running.
    pub(crate) running: u64,
    /// Cores held by tasks taken back after overrunning.
    pub(crate) stuck: u32,
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
    /// The last jobs that ended, oldest first.
    pub(crate) recent_jobs: Vec<FinishedJob>,
}

/// How status rows are keyed: a worker by its id; an address the
/// coordinator dials and has not reached yet, by the address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum RowKey {
    Worker(String),
    Address(String),
}

/// A worker the coordinator knows (or an address it dials), with its
/// current session.
struct Link {
    worker: Option<WorkerId>,
    address: String,
    desc: Option<WorkerDesc>,
    state: LinkState,
    last_error: String,
    /// When its session ended, for forgetting it.
    lost_at: Option<Instant>,
}

/// The actor's state.
struct Actor {
    core: Core,
    comm: ActorComm,
    /// Every worker (and unreached address) status shows.
    links: BTreeMap<RowKey, Link>,
    /// The row of each worker in session.
    sessions: HashMap<WorkerId, RowKey>,
    /// Lost workers leave status this long after their session ended.
    forget_lost: Duration,
    next_worker: u64,
    next_job: u64,
    closing: bool,
    admission: Admission,
    /// Admission permits held by tasks now in the queue.
    held: Permits,
    /// The state directory and how long detached and finished jobs stay.
    durable: Option<Durability>,
    /// Jobs with no client (it went away, or the coordinator restarted),
    /// since when.
    detached: HashMap<JobId, Instant>,
    last_purge: Instant,
    /// After a restart: restored jobs waiting for the workers of before.
    readoption: durable::Readoption,
}

/// Starts the actor task; it runs until every handle is dropped.
pub(crate) fn spawn(
    config: CoreConfig,
    limits: Limits,
    forget_lost: Duration,
    durable: Option<(Durability, crate::store::Recovered)>,
) -> ActorHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let admission = Admission::new(limits);
    let (durable, recovered) = durable.unzip();
    let mut actor = Actor {
        core: Core::new(config),
        comm: ActorComm::new(durable.as_ref().map(|d: &Durability| d.store.clone())),
        links: BTreeMap::new(),
        sessions: HashMap::default(),
        forget_lost,
        next_worker: 1,
        next_job: 1,
        closing: false,
        admission: admission.clone(),
        held: Permits::default(),
        durable,
        detached: HashMap::default(),
        last_purge: Instant::now(),
        readoption: durable::Readoption::default(),
    };
    if let Some(recovered) = recovered {
        actor.restore(recovered);
    }
    cluster_node::spawn(actor.run(rx));
    ActorHandle { tx, admission }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut clock = tokio::time::interval(CLOCK_TICK);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let origin = Instant::now();
        loop {
            let command = tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => Some(command),
                    None => return,
                },
                _ = clock.tick() => None,
            };
            let now = Instant::now();
            self.core.set_clock(now.duration_since(origin).as_millis() as u64);
            self.comm.observe.set_now(now);
            match command {
                Some(command) => self.apply(command),
                None => self.on_clock(now),
            }
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
        let queued = Permits { tasks: self.core.queued(), bytes: self.core.queued_bytes() };
        let back = Permits {
            tasks: self.held.tasks.saturating_sub(queued.tasks),
            bytes: self.held.bytes.saturating_sub(queued.bytes),
        };
        if back != Permits::default() {
            self.admission.release(back);
            self.held.tasks -= back.tasks;
            self.held.bytes -= back.bytes;
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::WorkerUp { desc, held, tx, reply } => {
                self.worker_up(desc, held, tx, reply);
                self.count_known_workers();
            }
            Command::WorkerDown { id, reason } => {
                self.worker_down(id, reason);
                self.count_known_workers();
            }
            Command::LinkFailed { address, error } => {
                self.link_failed(address, error);
                self.count_known_workers();
            }
            Command::Completions { worker, batch } => self.completions(worker, batch),
            Command::Revoked { worker, keys } => self.core.revoked(worker, &keys),
            Command::Draining { worker, returned } => self.draining(worker, returned),
            Command::OpenJob { tx, spec, client, reply } => self.open_job(tx, spec, client, reply),
            Command::ResumeJob { job, tx, reply } => self.resume_job(job, tx, reply),
            Command::Release { job } => self.release(job),
            Command::Submit { job, tasks, rejected, permits } => self.submit(job, tasks, rejected, permits),
            Command::CloseInput { job } => {
                self.store(crate::store::Op::CloseInput { job });
                self.core.close_input(job, &mut self.comm);
            }
            Command::ClientRead { job } => self.client_read(job),
            Command::CancelJob { job, reason } => self.cancel_job(job, reason),
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Metrics { reply } => {
                let _ = reply.send((self.comm.observe.counters.clone(), self.status()));
            }
            Command::Shutdown { reply } => self.shutdown(reply),
        }
    }

    /// A session opened. One session per worker id: a worker that opens a
    /// new one (it re-registered, or one address was registered twice)
    /// replaces its old session, whose unstarted tasks go back to the queue.
    fn worker_up(
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

    fn worker_down(&mut self, id: WorkerId, reason: SessionEnd) {
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

    fn link_failed(&mut self, address: String, error: LinkError) {
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
    fn count_known_workers(&mut self) {
        let known = self.links.values().filter(|link| link.state != LinkState::Lost).count();
        self.core.set_known_workers(known);
    }

    /// Time passed: tasks far over their timeout are taken back from
    /// workers that never reported them; lost workers long gone leave status.
    fn on_clock(&mut self, now: Instant) {
        self.core.check_deadlines(&mut self.comm);
        let forget = self.forget_lost;
        self.links.retain(|_, link| link.lost_at.is_none_or(|at| now.duration_since(at) < forget));
        self.durable_clock(now);
    }

    fn completions(&mut self, worker: WorkerId, batch: Vec<(TaskKey, Finished)>) {
        for (key, done) in batch {
            if let Outcome::Failed { code: crate::sched::FailureCode::TimedOut, .. } = done.outcome {
                self.comm.observe.attempt_timed_out();
            }
            self.core.complete(worker, key, done, &mut self.comm);
        }
    }

    fn draining(&mut self, worker: WorkerId, returned: Vec<TaskKey>) {
        self.core.drain_worker(worker, &returned);
        let Some(link) = self.sessions.get(&worker).and_then(|key| self.links.get_mut(key)) else { return };
        if link.state != LinkState::Draining {
            let name = link.desc.as_ref().map_or(link.address.as_str(), |d| d.name.as_str());
            let returned = returned.len();
            tracing::info!(worker = %name, address = %link.address, returned, "worker is draining: it takes no new tasks");
        }
        link.state = LinkState::Draining;
    }

    fn open_job(
        &mut self,
        tx: JobTx,
        spec: JobSpec,
        client: Option<std::net::SocketAddr>,
        reply: oneshot::Sender<Result<Opened, CoordinatorError>>,
    ) {
        if self.closing {
            let _ = reply.send(Err(CoordinatorError::ShuttingDown));
            return;
        }
        let job = JobId(self.next_job);
        self.next_job += 1;
        let durable = match &self.durable {
            // Accepted once it is written; its tasks wait for that too.
            Some(durable) => {
                let (ready, durable_rx) = oneshot::channel();
                let accepted = tx.clone();
                let on_durable = Box::new(move || {
                    if accepted.send(JobEvent::Accepted(job)).is_ok() {
                        let _ = ready.send(());
                    }
                });
                let next_job = self.next_job;
                durable.store.send(crate::store::Op::OpenJob {
                    id: job,
                    spec: spec.clone(),
                    next_job,
                    on_durable,
                });
                Some(durable_rx)
            }
            None => {
                if tx.send(JobEvent::Accepted(job)).is_err() {
                    return;
                }
                None
            }
        };
        if reply.send(Ok(Opened { job, durable })).is_ok() {
            self.comm.jobs.insert(job, tx);
            self.comm.observe.job_opened(job, &spec, client);
            self.core.open_job(job, spec);
        }
    }

    fn submit(&mut self, job: JobId, tasks: Vec<NewTask>, rejected: Vec<(u64, Outcome)>, permits: Permits) {
        self.held.tasks += permits.tasks;
        self.held.bytes += permits.bytes;
        self.comm.observe.submitted(job, tasks.iter().map(|task| task.id));
        self.comm.observe.submitted(job, rejected.iter().map(|(id, _)| *id));
        if self.durable.is_some() {
            let received = (tasks.len() + rejected.len()) as u64;
            let stored = tasks.iter().map(|task| (task.id, task.payload.clone())).collect();
            self.store(crate::store::Op::Tasks { job, tasks: stored, received });
        }
        self.core.submit(job, tasks, &mut self.comm);
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
        // A job is known while it runs (its stream open, or detached):
        // `Cancel` of any other id answers NOT_FOUND.
        let reason = match reason {
            CancelReason::Requested(reply) if self.core.job_submitted(job).is_none() => {
                let _ = reply.send(Err(CoordinatorError::UnknownJob(job)));
                return;
            }
            // A client that left after another resumed the job: nothing.
            CancelReason::Disconnected(tx)
                if self.comm.jobs.get(&job).is_some_and(|now| !now.same_channel(&tx)) =>
            {
                return;
            }
            // With durable state: detached, or already detached.
            CancelReason::Disconnected(_) if self.detach(job) || self.detached.contains_key(&job) => return,
            reason => reason,
        };
        self.detached.remove(&job);
        self.store(crate::store::Op::Forget { job });
        let cancelled = self.core.cancel_job(job, &mut self.comm);
        self.comm.observe.cancelled(cancelled);
        match reason {
            CancelReason::Disconnected(_) => {
                if self.comm.jobs.remove(&job).is_some() {
                    self.comm
                        .observe
                        .job_ended(job, &format_args!("its client went away ({cancelled} cancelled)"));
                }
            }
            CancelReason::Requested(reply) => {
                self.comm.end_job(job, CoordinatorError::CancelledByRequest(job));
                let _ = reply.send(Ok(cancelled));
            }
            CancelReason::Failed(error) => self.comm.end_job(job, error),
        }
    }

    fn shutdown(&mut self, reply: oneshot::Sender<()>) {
        self.closing = true;
        let jobs: Vec<JobId> = self.comm.jobs.keys().copied().collect();
        for job in jobs {
            let left = self.core.cancel_job(job, &mut self.comm);
            self.comm.observe.cancelled(left);
            self.comm.end_job(job, CoordinatorError::ShutDownWithTasksLeft { job, left });
        }
        self.comm.flush(u64::MAX);
        let _ = reply.send(());
    }

    fn status(&self) -> StatusReport {
        let stats: HashMap<WorkerId, _> = self.core.worker_stats().into_iter().map(|s| (s.id, s)).collect();
        let workers = self
            .links
            .values()
            .map(|link| {
                let stats = link.worker.and_then(|id| stats.get(&id));
                WorkerRow {
                    address: link.address.clone(),
                    desc: link.desc.clone(),
                    state: link.state,
                    in_flight: stats.map_or(0, |s| s.in_flight),
                    completed: stats.map_or(0, |s| s.completed),
                    failed: stats.map_or(0, |s| s.failed),
                    running: stats.map_or(0, |s| s.running),
                    stuck: stats.map_or(0, |s| s.stuck),
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
            recent_jobs: self.core.recent_jobs(),
        }
    }
}

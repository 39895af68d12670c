//! The one task that owns the scheduling [`Core`]. gRPC handlers and worker
//! links reach it through an [`ActorHandle`]; it applies every command that
//! is waiting, schedules once, and hands the effects to the worker and job
//! streams in batches. No lock is shared, so nothing is ever held across an
//! await, and nothing here knows the proto.

mod admission;
mod comm;
mod durable;
mod handle;
mod jobs;
mod observe;
mod status;
#[cfg(test)]
mod tests;
mod workers;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;
use tokio::sync::mpsc;

use crate::sched::{Core, CoreConfig, JobId, WorkerId};
pub(crate) use admission::{Admission, Limits, Permits};
use comm::ActorComm;
pub(crate) use comm::{job_channel, Assign, JobEvent, JobRx, JobTx, ToWorker, WorkerTx};
pub(crate) use durable::{Durability, Opened, Resumed};
pub(crate) use handle::ActorHandle;
use handle::Command;
pub(crate) use observe::{Counters, Histogram, BUCKETS_MICROS, FAILURE_CODES};
pub(crate) use status::{LinkState, StatusReport, WorkerRow};
use workers::{Link, RowKey};

/// Most commands applied before the actor schedules and flushes.
const MAX_ROUND: usize = 4096;

/// Result bytes a job's client may leave unread before the job's dispatch
/// pauses: the coordinator holds at most about this much per job for a
/// client that stops reading (plus its tasks already running).
pub(crate) const MAX_UNREAD_BYTES: u64 = 4 << 20;

/// How often the actor looks at the clock (to forget lost workers).
const CLOCK_TICK: Duration = Duration::from_millis(100);

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

    /// Time passed: tasks far over their timeout are taken back from
    /// workers that never reported them; lost workers long gone leave status.
    fn on_clock(&mut self, now: Instant) {
        self.core.check_deadlines(&mut self.comm);
        let forget = self.forget_lost;
        self.links.retain(|_, link| link.lost_at.is_none_or(|at| now.duration_since(at) < forget));
        self.durable_clock(now);
    }
}

//! The durable state directory (`--state-dir`): jobs, their tasks without a
//! result, and their results, in a redb database, so a coordinator that
//! dies comes back with every unfinished job.
//!
//! One writer thread owns the writes. The actor hands it operations
//! without waiting; the thread applies everything that is waiting in one
//! transaction and commits it (group commit: one fsync for thousands of
//! tasks, never one per task). Operations that must be durable before the
//! coordinator answers (a job's opening) carry a callback run after their
//! commit. Reads for a client that resumes go through the same queue, so
//! they see everything written before them.

mod records;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use records::JobRecord;

use crate::sched::{JobId, JobSpec, JobSummary, NewTask, TaskReport};

/// A job's record, by job id.
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
/// Each job has two tables of its own, so a finished or cancelled job goes
/// at once (a table is dropped whole; deleting a million rows one by one
/// made redb's file grow by gigabytes): `tasks/ID`, each task without a
/// result by its id (its encoded `Task`), and `results/ID`, each result by
/// task id (its encoded `TaskResult`).
fn tasks_table(job: u64) -> String {
    format!("tasks/{job}")
}

fn results_table(job: u64) -> String {
    format!("results/{job}")
}

/// A per-job table's definition.
fn per_job(name: &str) -> TableDefinition<'_, u64, &'static [u8]> {
    TableDefinition::new(name)
}
/// Counters: the next job id.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Workers that had a session and did not leave, by worker id: after a
/// restart, restored jobs wait a while for them to come back and report
/// the tasks they kept running.
const WORKERS: TableDefinition<&str, u64> = TableDefinition::new("workers");

const FILE: &str = "state.redb";
const HOLDER: &str = "holder";

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another coordinator has it open.
    #[error("state directory {dir} is in use by another coordinator ({holder}); one coordinator per state directory")]
    InUse {
        /// The directory.
        dir: String,
        /// What the holder wrote about itself.
        holder: String,
    },
    /// The directory or its database cannot be opened or read.
    #[error(
        "state directory {dir} cannot be used: {reason}; if it is damaged, move it aside to start with an \
         empty state (its jobs are then lost)"
    )]
    Unusable {
        /// The directory.
        dir: String,
        /// Why.
        reason: String,
    },
}

/// A job found in the state directory at start, unfinished.
#[derive(Debug)]
pub(crate) struct RecoveredJob {
    pub(crate) id: JobId,
    pub(crate) spec: JobSpec,
    pub(crate) input_closed: bool,
    /// Tasks received before the restart, in the order they came.
    pub(crate) submitted: u64,
    /// The figures of those with a result.
    pub(crate) summary: JobSummary,
    /// Its tasks without a result.
    pub(crate) tasks: Vec<NewTask>,
}

/// What a resuming client is sent from the state directory.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Every stored result of the job, encoded as the client gets it.
    pub(crate) results: Vec<Bytes>,
    /// The job's figures so far (its summary, once it finished).
    pub(crate) summary: JobSummary,
    /// Tasks received.
    pub(crate) submitted: u64,
    /// Whether every task has its result.
    pub(crate) finished: bool,
}

/// What the state directory held at start.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) next_job: u64,
    pub(crate) jobs: Vec<RecoveredJob>,
    /// Ids of the workers in session when the coordinator stopped.
    pub(crate) workers: Vec<String>,
}

/// Runs after the operation it came with is committed.
pub(crate) type OnDurable = Box<dyn FnOnce() + Send>;

/// What the writer thread does.
pub(crate) enum Op {
    /// A job opened (`next_job` is the id after it).
    OpenJob { id: JobId, spec: JobSpec, next_job: u64, on_durable: OnDurable },
    /// Tasks arrived for a job; `received` counts them with those refused
    /// at once (which get a result without being stored).
    Tasks { job: JobId, tasks: Vec<(u64, Bytes)>, received: u64 },
    /// The job's client sent its last task.
    CloseInput { job: JobId },
    /// Results: each replaces its task.
    Results { job: JobId, reports: Vec<TaskReport> },
    /// Every task of the job has its result.
    Finished { job: JobId },
    /// The job was cancelled: everything of it goes.
    Forget { job: JobId },
    /// A worker opened a session.
    WorkerSeen { id: String },
    /// A worker left on purpose (it drained).
    WorkerGone { id: String },
    /// Finished jobs older than this go, and the file is compacted if
    /// much was freed.
    Purge { finished_before_unix_ms: u64 },
    /// A resuming client wants the job's stored results and figures.
    Snapshot { job: JobId, reply: tokio::sync::oneshot::Sender<Option<Snapshot>> },
}

/// The handle the actor writes through. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    tx: mpsc::SyncSender<Op>,
    dir: PathBuf,
}

/// Operations waiting for the writer at most. Beyond that the actor waits
/// for the disk: the coordinator then runs at the speed it can keep its
/// promise, rather than promising what sits in memory.
const QUEUE: usize = 256;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the state directory, takes it for this process,
    /// reads what it holds and starts the writer thread.
    pub(crate) fn open(dir: &Path, holder: &str) -> Result<(Store, Recovered), StoreError> {
        let unusable = |reason: String| StoreError::Unusable { dir: dir.display().to_string(), reason };
        std::fs::create_dir_all(dir).map_err(|e| unusable(e.to_string()))?;
        let db = match Database::create(dir.join(FILE)) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                let holder = std::fs::read_to_string(dir.join(HOLDER)).unwrap_or_default();
                let holder =
                    if holder.trim().is_empty() { "unknown".into() } else { holder.trim().to_owned() };
                return Err(StoreError::InUse { dir: dir.display().to_string(), holder });
            }
            Err(e) => return Err(unusable(e.to_string())),
        };
        std::fs::write(dir.join(HOLDER), holder).map_err(|e| unusable(e.to_string()))?;
        let recovered = recover(&db).map_err(|e| unusable(e.to_string()))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("cluster-store".into())
            .spawn({
                let file = dir.join(FILE);
                move || Writer { db, file }.run(rx)
            })
            .map_err(|e| unusable(format!("cannot start the writer thread: {e}")))?;
        Ok((Store { tx, dir: dir.to_owned() }, recovered))
    }

    /// Queues an operation; it is applied in order with the others.
    pub(crate) fn send(&self, op: Op) {
        // The writer only stops when every handle is gone.
        let _ = self.tx.send(op);
    }
}

/// Unix milliseconds now.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn recover(db: &Database) -> Result<Recovered, redb::Error> {
    let write = db.begin_write()?;
    // Make sure every table exists, so a fresh directory reads as empty.
    write.open_table(JOBS)?;
    write.open_table(META)?;
    write.open_table(WORKERS)?;
    write.commit()?;
    let read = db.begin_read()?;
    let next_job = read.open_table(META)?.get("next_job")?.map_or(1, |v| v.value());
    let jobs_table = read.open_table(JOBS)?;
    let mut jobs = Vec::new();
    for entry in jobs_table.range::<u64>(..)? {
        let (id, record) = entry?;
        let id = id.value();
        let Ok(record) = JobRecord::decode(record.value()) else {
            tracing::warn!(job = id, "state directory: an unreadable job record is skipped");
            continue;
        };
        if record.finished_unix_ms != 0 {
            continue; // kept for its results until its retention ends
        }
        let mut tasks = Vec::new();
        let name = tasks_table(id);
        match read.open_table(per_job(&name)) {
            Ok(table) => {
                for entry in table.range::<u64>(..)? {
                    let (key, payload) = entry?;
                    let payload = Bytes::copy_from_slice(payload.value());
                    // The kind decides where it may run; a payload that no
                    // longer decodes runs as an unknown kind and fails alone.
                    let kind = cluster_proto::Task::decode(payload.clone())
                        .map(|task| task.kind)
                        .unwrap_or_default();
                    tasks.push(NewTask { id: key.value(), kind, payload });
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        jobs.push(RecoveredJob {
            id: JobId(id),
            spec: record.spec(),
            input_closed: record.input_closed,
            submitted: record.submitted,
            summary: record.summary(),
            tasks,
        });
    }
    let workers = read
        .open_table(WORKERS)?
        .range::<&str>(..)?
        .filter_map(Result::ok)
        .map(|(id, _)| id.value().to_owned())
        .collect();
    Ok(Recovered { next_job, jobs, workers })
}

/// After a purge or a forgotten job, the file is compacted if it is larger
/// than this (redb grows its file in large steps and reuses freed pages,
/// but gives space back only when compacted).
const COMPACT_ABOVE_BYTES: u64 = 32 << 20;
/// Most operations applied in one transaction.
const MAX_BATCH: usize = 8192;

struct Writer {
    db: Database,
    file: PathBuf,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
        let mut freed = 0u64;
        while let Ok(first) = rx.recv() {
            let mut ops = vec![first];
            while ops.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            match self.apply(ops) {
                Ok(purged) => freed += purged,
                // The process keeps serving from memory; what was not
                // written is lost if it dies too.
                Err(e) => tracing::error!("state directory: a write failed: {e}"),
            }
            let size = std::fs::metadata(&self.file).map_or(0, |m| m.len());
            if freed > 0 && size > COMPACT_ABOVE_BYTES {
                freed = 0;
                // Compacting needs no transaction in flight, so it waits
                // for a quiet moment: nothing queued.
                match self.db.compact() {
                    Ok(_) => {
                        let after = std::fs::metadata(&self.file).map_or(0, |m| m.len());
                        tracing::info!(before = size, after, "state directory compacted");
                    }
                    Err(e) => tracing::warn!("state directory: compaction failed: {e}"),
                }
            }
        }
    }

    /// Applies `ops` in one transaction, then runs their callbacks and
    /// answers their reads. Returns about how many bytes purges freed.
    fn apply(&mut self, ops: Vec<Op>) -> Result<u64, redb::Error> {
        let write = self.db.begin_write()?;
        let mut after: Vec<OnDurable> = Vec::new();
        let mut snapshots = Vec::new();
        let mut freed = 0u64;
        {
            let mut jobs = write.open_table(JOBS)?;
            let mut meta = write.open_table(META)?;
            let mut workers = write.open_table(WORKERS)?;
            let record_of =
                |jobs: &redb::Table<u64, &[u8]>, job: u64| -> Result<Option<JobRecord>, redb::Error> {
                    Ok(jobs.get(job)?.and_then(|v| JobRecord::decode(v.value()).ok()))
                };
            for op in ops {
                match op {
                    Op::OpenJob { id, spec, next_job, on_durable } => {
                        let record = JobRecord::new(spec, unix_ms());
                        jobs.insert(id.0, record.encode_to_vec().as_slice())?;
                        meta.insert("next_job", next_job)?;
                        after.push(on_durable);
                    }
                    Op::Tasks { job, tasks: new, received } => {
                        let Some(mut record) = record_of(&jobs, job.0)? else { continue };
                        let name = tasks_table(job.0);
                        let mut tasks = write.open_table(per_job(&name))?;
                        for (id, payload) in &new {
                            tasks.insert(*id, payload.as_ref())?;
                        }
                        record.submitted += received;
                        jobs.insert(job.0, record.encode_to_vec().as_slice())?;
                    }
                    Op::CloseInput { job } => {
                        let Some(mut record) = record_of(&jobs, job.0)? else { continue };
                        record.input_closed = true;
                        jobs.insert(job.0, record.encode_to_vec().as_slice())?;
                    }
                    Op::Results { job, reports } => {
                        let Some(mut record) = record_of(&jobs, job.0)? else { continue };
                        let (tasks_name, results_name) = (tasks_table(job.0), results_table(job.0));
                        let mut tasks = write.open_table(per_job(&tasks_name))?;
                        let mut results = write.open_table(per_job(&results_name))?;
                        for report in reports {
                            tasks.remove(report.id)?;
                            record.count(report.outcome.is_output(), &report.worker, report.run_micros);
                            let id = report.id;
                            let encoded = crate::wire::task_result(report).encode_to_vec();
                            results.insert(id, encoded.as_slice())?;
                        }
                        jobs.insert(job.0, record.encode_to_vec().as_slice())?;
                    }
                    Op::Finished { job } => {
                        let Some(mut record) = record_of(&jobs, job.0)? else { continue };
                        record.finished_unix_ms = unix_ms();
                        jobs.insert(job.0, record.encode_to_vec().as_slice())?;
                    }
                    Op::Forget { job } => freed += forget(&write, &mut jobs, job.0)?,
                    Op::WorkerSeen { id } => {
                        workers.insert(id.as_str(), unix_ms())?;
                    }
                    Op::WorkerGone { id } => {
                        workers.remove(id.as_str())?;
                    }
                    Op::Purge { finished_before_unix_ms } => {
                        let old: Vec<u64> = jobs
                            .range::<u64>(..)?
                            .filter_map(Result::ok)
                            .filter_map(|(id, v)| {
                                let record = JobRecord::decode(v.value()).ok()?;
                                let done = record.finished_unix_ms;
                                (done != 0 && done < finished_before_unix_ms).then(|| id.value())
                            })
                            .collect();
                        for job in old {
                            freed += forget(&write, &mut jobs, job)?;
                        }
                    }
                    Op::Snapshot { job, reply } => {
                        let snapshot = match record_of(&jobs, job.0)? {
                            Some(record) => Some(Snapshot {
                                results: {
                                    let name = results_table(job.0);
                                    let results = write.open_table(per_job(&name))?;
                                    let stored = results
                                        .range::<u64>(..)?
                                        .filter_map(Result::ok)
                                        .map(|(_, v)| Bytes::copy_from_slice(v.value()))
                                        .collect();
                                    stored
                                },
                                summary: record.summary(),
                                submitted: record.submitted,
                                finished: record.finished_unix_ms != 0,
                            }),
                            None => None,
                        };
                        snapshots.push((reply, snapshot));
                    }
                }
            }
        }
        write.commit()?;
        after.into_iter().for_each(|callback| callback());
        for (reply, snapshot) in snapshots {
            let _ = reply.send(snapshot);
        }
        Ok(freed)
    }
}

/// Deletes a job and its tables; returns 1 if there was one (something
/// was freed).
fn forget(
    write: &redb::WriteTransaction,
    jobs: &mut redb::Table<u64, &[u8]>,
    job: u64,
) -> Result<u64, redb::Error> {
    let existed = jobs.remove(job)?.is_some();
    write.delete_table(per_job(&tasks_table(job)))?;
    write.delete_table(per_job(&results_table(job)))?;
    Ok(u64::from(existed))
}

/// How long finished jobs' results are kept by default.
pub const DEFAULT_RESULT_RETENTION: Duration = Duration::from_secs(600);

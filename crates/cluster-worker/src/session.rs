//! The `WorkerService`: a coordinator opens a session, streams assignments
//! down, and receives the worker's info, results and heartbeats up.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cluster_proto::batch::{self, Batcher};
use cluster_proto::worker_service_server::WorkerService;
use cluster_proto::{
    coordinator_message, worker_message, Completion, CompletionBatch, CoordinatorMessage, DrainNotice,
    GetInfoRequest, Heartbeat, HeldTask, RevokeResponse, SessionStart, WorkerInfo, WorkerMessage,
};
use futures::{Stream, StreamExt};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status, Streaming};

use crate::executor::{self, Executor, Job};

/// Where the worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Taking tasks.
    Serving,
    /// Taking no new tasks, finishing the running ones.
    Draining,
    /// Ending every session now.
    Closing,
}

pub(crate) struct SessionService {
    pub(crate) info: WorkerInfo,
    /// How this worker is known (its advertised address, else its name or
    /// listen address): what its tasks see as CLUSTER_WORKER.
    pub(crate) display: Arc<str>,
    /// How long running tasks are kept after a session with a durable
    /// coordinator ends, for the next session to adopt.
    pub(crate) readopt_grace: Duration,
    pub(crate) executor: Arc<Executor>,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) max_message_bytes: usize,
    pub(crate) next_session: AtomicU64,
    /// Number of open sessions, watched by the self-registration loop.
    pub(crate) sessions: watch::Sender<usize>,
    pub(crate) phase: watch::Receiver<Phase>,
}

type MessageStream = Pin<Box<dyn Stream<Item = Result<WorkerMessage, Status>> + Send>>;
type OutTx = mpsc::Sender<Result<WorkerMessage, Status>>;

fn message(event: worker_message::Event) -> Result<WorkerMessage, Status> {
    Ok(WorkerMessage { event: Some(event) })
}

#[tonic::async_trait]
impl WorkerService for SessionService {
    async fn get_info(&self, _: Request<GetInfoRequest>) -> Result<Response<WorkerInfo>, Status> {
        Ok(Response::new(self.info.clone()))
    }

    type SessionStream = MessageStream;

    async fn session(
        &self,
        request: Request<Streaming<CoordinatorMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        if *self.phase.borrow() != Phase::Serving {
            return Err(Status::unavailable("this worker is shutting down"));
        }
        let peer = request.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
        let (beat_tx, beat_rx) = watch::channel(self.heartbeat_interval);
        let session = Session {
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            executor: self.executor.clone(),
            display: self.display.clone(),
            readopt_grace: self.readopt_grace,
            durable: false,
            phase: self.phase.clone(),
            peer,
            max_message_bytes: self.max_message_bytes,
            heartbeat_interval: self.heartbeat_interval,
            beat: beat_tx,
        };
        let (out_tx, out_rx) = mpsc::channel(64);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let held = self.executor.held().into_iter().map(|(job_id, task_id, completion)| HeldTask {
            job_id,
            task_id,
            completion,
        });
        let hello = WorkerInfo { held: held.collect(), ..self.info.clone() };
        out_tx
            .send(message(worker_message::Event::Hello(hello)))
            .await
            .map_err(|_| Status::unavailable("session closed"))?;
        self.sessions.send_modify(|n| *n += 1);
        tracing::info!(peer = %session.peer, session = session.id, "coordinator opened a session");
        let sessions = self.sessions.clone();
        let incoming = request.into_inner();
        let reader_out = out_tx.clone();
        cluster_node::spawn(async move {
            session.read(incoming, done_tx, reader_out).await;
            sessions.send_modify(|n| *n = n.saturating_sub(1));
        });
        drop(out_tx);
        let outbound = Outbound::new(out_rx, done_rx, beat_rx, self.max_message_bytes);
        Ok(Response::new(Box::pin(outbound)))
    }
}

/// One coordinator session's reading side.
struct Session {
    id: u64,
    executor: Arc<Executor>,
    display: Arc<str>,
    readopt_grace: Duration,
    /// The coordinator keeps durable state (it said so at the start).
    durable: bool,
    phase: watch::Receiver<Phase>,
    peer: String,
    max_message_bytes: usize,
    /// The heartbeat interval this worker was configured with.
    heartbeat_interval: Duration,
    /// The interval the outgoing stream keeps.
    beat: watch::Sender<Duration>,
}

impl Session {
    /// Reads the coordinator's messages until the session ends or the
    /// worker closes; hands unstarted tasks back when the worker drains.
    async fn read(
        mut self,
        mut incoming: Streaming<CoordinatorMessage>,
        done_tx: mpsc::UnboundedSender<Completion>,
        out_tx: OutTx,
    ) {
        let mut draining = false;
        let end = loop {
            let phase = *self.phase.borrow_and_update();
            if phase == Phase::Closing {
                break "the worker is shutting down".to_string();
            }
            if phase == Phase::Draining && !draining {
                draining = true;
                let returned = self.executor.take_session(self.id).into_iter().map(|job| job.key);
                if !self.send_drained(&out_tx, returned).await {
                    break "result stream closed".to_string();
                }
            }
            let msg = tokio::select! {
                msg = incoming.message() => msg,
                changed = self.phase.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => break "the worker was dropped".to_string(),
                },
            };
            let msg = match msg {
                Ok(Some(msg)) => msg,
                Ok(None) => break "closed by the coordinator".to_string(),
                Err(status) => break format!("stream error: {}", status.message()),
            };
            let reply = match msg.event {
                Some(coordinator_message::Event::Assign(batch)) if draining => {
                    if !self.send_drained(&out_tx, batch.tasks.into_iter().map(|a| a.key)).await {
                        break "result stream closed".to_string();
                    }
                    None
                }
                Some(coordinator_message::Event::Assign(batch)) => {
                    // An assignment without a task runs as an empty task,
                    // which fails alone ("unknown task kind ``"). Inline
                    // kinds run here and now; the rest queue for a slot.
                    let executor = &self.executor;
                    let jobs = batch.tasks.into_iter().map(|a| Job {
                        key: a.key,
                        session: self.id,
                        task: a.task.unwrap_or_default(),
                        context: crate::wire::TaskContext {
                            job_id: a.job_id,
                            task_id: a.task_id,
                            worker: self.display.clone(),
                        },
                        timeout: a.timeout_ms.map(Duration::from_millis),
                        reply: done_tx.clone(),
                    });
                    let queued: Vec<Job> = jobs.filter_map(|job| executor.run_inline(job)).collect();
                    executor.enqueue(queued);
                    None
                }
                Some(coordinator_message::Event::Revoke(request)) => {
                    // One answer per request, never split: it holds a subset
                    // of the request's keys, so it fits wherever the request did.
                    let keys = self.executor.revoke(self.id, &request.keys);
                    Some(worker_message::Event::Revoked(RevokeResponse { keys }))
                }
                Some(coordinator_message::Event::Cancel(request)) => {
                    for job in self.executor.cancel(self.id, &request.keys) {
                        let _ = done_tx.send(executor::cancelled(&job));
                    }
                    None
                }
                Some(coordinator_message::Event::Start(start)) => {
                    self.start(&start);
                    self.durable = start.durable;
                    None
                }
                Some(coordinator_message::Event::Adopt(answer)) => {
                    for task in answer.tasks {
                        let ids = (task.job_id, task.task_id);
                        if !(task.adopted && self.executor.adopt(ids, task.key, &done_tx)) {
                            self.executor.release_held(Some(ids));
                        }
                    }
                    None
                }
                Some(coordinator_message::Event::Heartbeat(_)) | None => None,
            };
            if let Some(reply) = reply {
                if !send(&out_tx, reply).await {
                    break "result stream closed".to_string();
                }
            }
        };
        // With a coordinator that keeps durable state, running tasks carry
        // on for a while: the next session may adopt them. Not when this
        // worker is leaving.
        let leaving = draining || *self.phase.borrow() != Phase::Serving;
        let hold = (self.durable && !leaving && !self.readopt_grace.is_zero()).then_some(self.readopt_grace);
        let stopped = self.executor.end_session(self.id, hold);
        tracing::info!(peer = %self.peer, session = self.id, stopped, held = hold.is_some(), "session ended: {end}");
        if let Some(grace) = hold {
            let executor = self.executor.clone();
            cluster_node::spawn(async move {
                tokio::time::sleep(grace).await;
                let stopped = executor.release_held(None);
                if stopped > 0 {
                    tracing::info!(stopped, "held tasks nobody adopted within {grace:?} were stopped");
                }
            });
        }
    }

    /// The coordinator's terms: heartbeat at least as often as it asks, so
    /// the two sides never disagree on liveness.
    fn start(&self, start: &SessionStart) {
        if start.protocol_version != PROTOCOL_VERSION {
            tracing::warn!(
                theirs = start.protocol_version,
                ours = PROTOCOL_VERSION,
                "the coordinator speaks another protocol version"
            );
        }
        let asked = Duration::from_millis(start.heartbeat_interval_ms.max(1));
        let _ = self.beat.send(self.heartbeat_interval.min(asked));
    }

    /// Tells the coordinator these tasks come back unstarted because the
    /// worker drains, in as many messages as the size limit needs.
    async fn send_drained(&self, out_tx: &OutTx, keys: impl IntoIterator<Item = u64>) -> bool {
        let keys: Vec<u64> = keys.into_iter().collect();
        let batches = batch::split(keys, self.max_message_bytes, |&key| key_len(key));
        // An empty notice still says "draining" to the coordinator.
        for returned in if batches.is_empty() { vec![Vec::new()] } else { batches } {
            if !send(out_tx, worker_message::Event::Draining(DrainNotice { returned })).await {
                return false;
            }
        }
        true
    }
}

/// Encoded length of a key in a packed repeated field.
fn key_len(key: u64) -> usize {
    prost::encoding::encoded_len_varint(key)
}

async fn send(out_tx: &OutTx, event: worker_message::Event) -> bool {
    out_tx.send(message(event)).await.is_ok()
}

/// A heartbeat every `period`, the first one `period` from now.
fn heartbeats(period: Duration) -> tokio::time::Interval {
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat
}

/// The protocol version this worker speaks.
const PROTOCOL_VERSION: u32 = 1;

/// The session's outgoing stream, polled by the HTTP/2 connection itself:
/// control messages (hello, revoked, draining) first, then completions
/// batched into messages under the size limit, and a heartbeat every
/// interval. No task sits between the slots and the socket. It ends when
/// the reader has stopped and every task of the session has reported.
struct Outbound {
    control: Option<mpsc::Receiver<Result<WorkerMessage, Status>>>,
    done: Option<mpsc::UnboundedReceiver<Completion>>,
    batch: Batcher<Completion>,
    beat: tokio::time::Interval,
    /// The heartbeat interval in force, changed by the session's terms.
    periods: WatchStream<Duration>,
    period: Duration,
}

impl Outbound {
    fn new(
        control: mpsc::Receiver<Result<WorkerMessage, Status>>,
        done: mpsc::UnboundedReceiver<Completion>,
        periods: watch::Receiver<Duration>,
        max_message_bytes: usize,
    ) -> Self {
        let period = *periods.borrow();
        Self {
            control: Some(control),
            done: Some(done),
            batch: Batcher::new(max_message_bytes),
            beat: heartbeats(period),
            periods: WatchStream::from_changes(periods),
            period,
        }
    }

    /// Completions ready now, as one message under the size limit, or
    /// `None` if there are none.
    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Option<WorkerMessage>> {
        let Some(done) = self.done.as_mut() else { return Poll::Ready(None) };
        if self.batch.is_empty() {
            match done.poll_recv(cx) {
                Poll::Ready(Some(first)) => {
                    let len = first.encoded_len();
                    self.batch.push(first, len);
                }
                Poll::Ready(None) => {
                    self.done = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        // Gather what is ready; a completion that does not fit stays in the
        // batcher and starts the next message.
        let completions = loop {
            let Ok(next) = done.try_recv() else { break self.batch.take() };
            let len = next.encoded_len();
            if let Some(full) = self.batch.push(next, len) {
                break full;
            }
        };
        let event = worker_message::Event::Completions(CompletionBatch { completions });
        Poll::Ready(Some(WorkerMessage { event: Some(event) }))
    }
}

impl Stream for Outbound {
    type Item = Result<WorkerMessage, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(control) = this.control.as_mut() {
            match control.poll_recv(cx) {
                Poll::Ready(Some(message)) => return Poll::Ready(Some(message)),
                Poll::Ready(None) => this.control = None,
                Poll::Pending => {}
            }
        }
        if let Poll::Ready(Some(message)) = this.poll_batch(cx) {
            return Poll::Ready(Some(Ok(message)));
        }
        if this.control.is_none() && this.done.is_none() {
            return Poll::Ready(None);
        }
        while let Poll::Ready(Some(period)) = this.periods.poll_next_unpin(cx) {
            if period != this.period {
                this.period = period;
                this.beat = heartbeats(period);
            }
        }
        if this.beat.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(message(worker_message::Event::Heartbeat(Heartbeat {}))));
        }
        Poll::Pending
    }
}

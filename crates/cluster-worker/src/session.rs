//! The `WorkerService`: a coordinator opens a session, streams assignments
//! down, and receives the worker's info, results and heartbeats up.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cluster_proto::worker_service_server::WorkerService;
use cluster_proto::{
    coordinator_message, worker_message, Completion, CompletionBatch, CoordinatorMessage, GetInfoRequest,
    Heartbeat, RevokeResponse, WorkerInfo, WorkerMessage,
};
use futures::Stream;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::executor::{Executor, Job};

/// Most completions sent in one message.
const MAX_BATCH: usize = 4096;

pub(crate) struct SessionService {
    pub(crate) info: WorkerInfo,
    pub(crate) executor: Arc<Executor>,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) next_session: AtomicU64,
    /// Number of open sessions, watched by the self-registration loop.
    pub(crate) sessions: watch::Sender<usize>,
}

type MessageStream = Pin<Box<dyn Stream<Item = Result<WorkerMessage, Status>> + Send>>;

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
        let peer = request.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
        let incoming = request.into_inner();
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let (out_tx, out_rx) = mpsc::channel(64);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        out_tx
            .send(message(worker_message::Event::Hello(self.info.clone())))
            .await
            .map_err(|_| Status::unavailable("session closed"))?;
        self.sessions.send_modify(|n| *n += 1);
        tracing::info!(%peer, session, "coordinator opened a session");
        let executor = self.executor.clone();
        let sessions = self.sessions.clone();
        tokio::spawn(read_assignments(incoming, executor, session, done_tx, out_tx.clone(), sessions, peer));
        tokio::spawn(send_completions(done_rx, out_tx, self.heartbeat_interval));
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

/// Reads the coordinator's messages until the session ends.
async fn read_assignments(
    mut incoming: Streaming<CoordinatorMessage>,
    executor: Arc<Executor>,
    session: u64,
    done_tx: mpsc::UnboundedSender<Completion>,
    out_tx: mpsc::Sender<Result<WorkerMessage, Status>>,
    sessions: watch::Sender<usize>,
    peer: String,
) {
    let end = loop {
        let msg = match incoming.message().await {
            Ok(Some(msg)) => msg,
            Ok(None) => break "closed by the coordinator".to_string(),
            Err(status) => break format!("stream error: {}", status.message()),
        };
        match msg.event {
            Some(coordinator_message::Event::Assign(batch)) => {
                // An assignment without a task runs as an empty task, which
                // fails alone with "unknown task kind ``" rather than vanish.
                let jobs = batch.tasks.into_iter().map(|a| Job {
                    key: a.key,
                    session,
                    task: a.task.unwrap_or_default(),
                    reply: done_tx.clone(),
                });
                executor.enqueue(jobs);
            }
            Some(coordinator_message::Event::Revoke(request)) => {
                let keys = executor.revoke(session, &request.keys);
                let reply = message(worker_message::Event::Revoked(RevokeResponse { keys }));
                if out_tx.send(reply).await.is_err() {
                    break "result stream closed".to_string();
                }
            }
            Some(coordinator_message::Event::Heartbeat(_)) | None => {}
        }
    };
    let dropped = executor.drop_session(session);
    sessions.send_modify(|n| *n = n.saturating_sub(1));
    tracing::info!(%peer, session, dropped, "session ended: {end}");
}

/// Batches completions into messages, and sends a heartbeat whenever the
/// session has been quiet for a heartbeat interval.
async fn send_completions(
    mut done_rx: mpsc::UnboundedReceiver<Completion>,
    out_tx: mpsc::Sender<Result<WorkerMessage, Status>>,
    heartbeat_interval: Duration,
) {
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            done = done_rx.recv() => done,
            () = tokio::time::sleep(heartbeat_interval) => {
                let beat = message(worker_message::Event::Heartbeat(Heartbeat {}));
                if out_tx.send(beat).await.is_err() {
                    return;
                }
                continue;
            }
            () = out_tx.closed() => return,
        };
        let Some(first) = first else { return };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match done_rx.try_recv() {
                Ok(done) => batch.push(done),
                Err(_) => break,
            }
        }
        let completions = CompletionBatch { completions: std::mem::take(&mut batch) };
        if out_tx.send(message(worker_message::Event::Completions(completions))).await.is_err() {
            return;
        }
    }
}

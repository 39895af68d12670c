//! A worker link: the coordinator dials a worker, opens its session, and
//! turns the session's messages into actor calls. Statically listed workers
//! are redialled with backoff; self-registered ones re-register.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::Streaming;

use crate::actor::{ActorHandle, ToWorker};
use crate::error::{LinkError, SessionEnd};
use crate::sched::{TaskKey, WorkerId};
use crate::wire::{self, from_worker, FromWorkerMessage, ToWorkerMessage};
use cluster_auth::Security;

const SESSION_PATH: &str = "/cluster.v1.WorkerService/Session";

/// Deadlines of a link.
#[derive(Debug, Clone)]
pub(crate) struct LinkOptions {
    /// Dial and session-open deadline.
    pub(crate) connect_timeout: Duration,
    /// A worker silent this long is declared lost.
    pub(crate) heartbeat_timeout: Duration,
    /// Longest wait between redials of a static worker.
    pub(crate) max_backoff: Duration,
    /// Largest message accepted from or sent to a worker.
    pub(crate) max_message_bytes: usize,
    /// Secret and TLS for dialing workers.
    pub(crate) security: Security,
    /// The coordinator keeps durable state: workers keep their running
    /// tasks across a session's end, for it to adopt.
    pub(crate) durable: bool,
}

/// An open session with a worker, ready to be read.
pub(crate) struct WorkerLink {
    id: WorkerId,
    stream: Streaming<FromWorkerMessage>,
    pub(crate) cores: u32,
}

/// Dials `address`, opens the session, reads the worker's hello and tells
/// the actor the worker is up. With `expected`, the worker there must have
/// that id (the one that registered), or no session is kept.
pub(crate) async fn connect(
    address: &str,
    expected: Option<&str>,
    actor: &ActorHandle,
    options: &LinkOptions,
) -> Result<WorkerLink, LinkError> {
    let timeout = options.connect_timeout;
    let (tx, stream, hello) = tokio::time::timeout(timeout, open(address, options))
        .await
        .map_err(|_| LinkError::Timeout(timeout))??;
    let mut hello = hello;
    let held = wire::held_tasks(&mut hello);
    let desc = wire::worker_desc(address, hello);
    if let Some(expected) = expected.filter(|id| **id != desc.id) {
        let (expected, found) = (expected.to_string(), desc.id);
        return Err(LinkError::WrongWorker { address: address.to_string(), expected, found });
    }
    let cores = desc.cores;
    let id = actor.worker_up(desc, held, tx).await.map_err(|_| LinkError::ShuttingDown)?;
    Ok(WorkerLink { id, stream, cores })
}

type Opened = (mpsc::UnboundedSender<ToWorker>, Streaming<FromWorkerMessage>, cluster_proto::WorkerInfo);

async fn open(address: &str, options: &LinkOptions) -> Result<Opened, LinkError> {
    let security = &options.security;
    // Keep-alive at the heartbeat timeout: a dead connection is found as
    // soon as a silent worker would be.
    let keep_alive = |endpoint: tonic::transport::Endpoint| {
        endpoint
            .http2_keep_alive_interval(options.heartbeat_timeout)
            .keep_alive_timeout(options.heartbeat_timeout)
    };
    let channel = cluster_node::connect_tuned(security, address, options.connect_timeout, keep_alive).await?;
    let max = options.max_message_bytes;
    let mut grpc =
        tonic::client::Grpc::new(channel).max_decoding_message_size(max).max_encoding_message_size(max);
    grpc.ready().await.map_err(|e| LinkError::Failed(e.to_string()))?;
    let (tx, rx) = mpsc::unbounded_channel::<ToWorker>();
    // The actor's batches become session messages here, on the connection's
    // task, each under the worker's size limit.
    let start = wire::session_start(options.heartbeat_timeout, options.durable);
    let start = futures::stream::once(futures::future::ready(start));
    let outbound = start.chain(
        UnboundedReceiverStream::new(rx)
            .flat_map(move |message| futures::stream::iter(wire::to_worker_messages(message, max))),
    );
    let codec = tonic_prost::ProstCodec::<ToWorkerMessage, FromWorkerMessage>::default();
    let path = PathAndQuery::from_static(SESSION_PATH);
    let mut stream = grpc
        .streaming(tonic::Request::new(outbound), path, codec)
        .await
        .map_err(|s| LinkError::Refused { code: format!("{:?}", s.code()), message: s.message().into() })?
        .into_inner();
    match stream.message().await {
        Ok(Some(FromWorkerMessage { event: Some(from_worker::Event::Hello(info)) })) => {
            Ok((tx, stream, info))
        }
        Ok(_) => Err(LinkError::NoHello),
        Err(s) => Err(LinkError::Failed(s.message().into())),
    }
}

impl WorkerLink {
    /// Forwards the worker's messages to the actor until the session ends,
    /// then reports the worker lost.
    pub(crate) async fn run(mut self, actor: &ActorHandle, heartbeat_timeout: Duration) -> SessionEnd {
        let reason = loop {
            let next = tokio::time::timeout(heartbeat_timeout, self.stream.message()).await;
            let message = match next {
                Err(_) => break SessionEnd::Silent(heartbeat_timeout),
                Ok(Err(status)) => break SessionEnd::Broken(status.message().into()),
                Ok(Ok(None)) => break SessionEnd::Closed,
                Ok(Ok(Some(message))) => message,
            };
            match message.event {
                Some(from_worker::Event::Completions(batch)) => {
                    actor.completions(self.id, batch.completions.into_iter().map(wire::finished).collect())
                }
                Some(from_worker::Event::Revoked(r)) => actor.revoked(self.id, keys(r.keys)),
                Some(from_worker::Event::Draining(notice)) => actor.draining(self.id, keys(notice.returned)),
                Some(from_worker::Event::Heartbeat(_)) | Some(from_worker::Event::Hello(_)) | None => {}
            }
        };
        actor.worker_down(self.id, reason.clone());
        reason
    }
}

fn keys(keys: Vec<u64>) -> Vec<TaskKey> {
    keys.into_iter().map(TaskKey).collect()
}

/// Keeps a statically listed worker connected for as long as the
/// coordinator runs, redialling with backoff.
pub(crate) async fn keep_static(address: String, actor: ActorHandle, options: LinkOptions) {
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0u32;
    loop {
        match connect(&address, None, &actor, &options).await {
            Ok(link) => {
                failures = 0;
                backoff = Duration::from_millis(100);
                link.run(&actor, options.heartbeat_timeout).await;
            }
            Err(LinkError::ShuttingDown) => return,
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(worker = %address, "worker unreachable, will keep retrying: {error}");
                }
                failures += 1;
                actor.link_failed(address.clone(), error);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
}

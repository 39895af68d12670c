//! A worker link: the coordinator dials a worker, opens its session, and
//! turns the session's messages into actor commands. Statically listed
//! workers are redialled with backoff; self-registered ones re-register.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cluster_proto::worker_service_client::WorkerServiceClient;
use cluster_proto::{worker_message, CoordinatorMessage, WorkerInfo, WorkerMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

use crate::actor::{ActorHandle, Command};
use crate::core::{WorkerId, WorkerSpec};
use cluster_auth::Security;

/// Most cores one worker is believed to have.
const MAX_CORES: u32 = 4096;

/// Deadlines of a link.
#[derive(Debug, Clone)]
pub(crate) struct LinkOptions {
    /// Dial and session-open deadline.
    pub(crate) connect_timeout: Duration,
    /// A worker silent this long is declared lost.
    pub(crate) heartbeat_timeout: Duration,
    /// Longest wait between redials of a static worker.
    pub(crate) max_backoff: Duration,
    /// Largest message accepted from a worker.
    pub(crate) max_message_bytes: usize,
    /// Secret and TLS for dialing workers.
    pub(crate) security: Security,
}

/// An open session, ready to be read.
pub(crate) struct Session {
    id: WorkerId,
    address: String,
    stream: Streaming<WorkerMessage>,
    pub(crate) cores: u32,
}

/// Dials `address`, opens the session, reads the worker's hello and tells
/// the actor the worker is up.
pub(crate) async fn connect(
    address: &str,
    actor: &ActorHandle,
    options: &LinkOptions,
    ids: &Arc<AtomicU64>,
) -> Result<Session, String> {
    let security = &options.security;
    // Keep-alive at the heartbeat timeout: a dead connection is found as
    // soon as a silent worker would be.
    let endpoint = cluster_node::endpoint(security, address, options.connect_timeout)
        .map_err(|e| e.to_string())?
        .http2_keep_alive_interval(options.heartbeat_timeout)
        .keep_alive_timeout(options.heartbeat_timeout);
    let opened = tokio::time::timeout(options.connect_timeout, async {
        let channel = cluster_node::connect_endpoint(security, endpoint).await.map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::unbounded_channel::<CoordinatorMessage>();
        let mut stream = WorkerServiceClient::new(channel)
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(options.max_message_bytes)
            .session(UnboundedReceiverStream::new(rx))
            .await
            .map_err(|s| format!("session refused: {:?}: {}", s.code(), s.message()))?
            .into_inner();
        let hello = match stream.message().await {
            Ok(Some(WorkerMessage { event: Some(worker_message::Event::Hello(info)) })) => info,
            Ok(_) => return Err("the worker did not introduce itself".to_string()),
            Err(s) => return Err(format!("session failed: {}", s.message())),
        };
        Ok((tx, stream, hello))
    })
    .await
    .map_err(|_| format!("no answer within {:?}", options.connect_timeout))??;
    let (tx, stream, info) = opened;
    let spec = spec_of(address, &info);
    let id = WorkerId(ids.fetch_add(1, Ordering::Relaxed));
    let cores = spec.cores;
    actor.send(Command::WorkerUp { id, address: address.to_string(), spec, info, tx });
    Ok(Session { id, address: address.to_string(), stream, cores })
}

fn spec_of(address: &str, info: &WorkerInfo) -> WorkerSpec {
    let name = if info.name.is_empty() { address.to_string() } else { info.name.clone() };
    let weight = if info.weight.is_finite() && info.weight > 0.0 { info.weight } else { 1.0 };
    // A worker's word on its size is capped: a bogus core count must not
    // make the coordinator think the whole cluster is idle.
    WorkerSpec { name, cores: info.cores.clamp(1, MAX_CORES), weight }
}

impl Session {
    /// Forwards the worker's messages to the actor until the session ends,
    /// then reports the worker lost. Returns why it ended.
    pub(crate) async fn run(mut self, actor: &ActorHandle, heartbeat_timeout: Duration) -> String {
        let reason = loop {
            let next = tokio::time::timeout(heartbeat_timeout, self.stream.message()).await;
            match next {
                Err(_) => break format!("no message or heartbeat for {heartbeat_timeout:?}"),
                Ok(Err(status)) => break format!("stream error: {}", status.message()),
                Ok(Ok(None)) => break "the worker closed the session".to_string(),
                Ok(Ok(Some(msg))) => match msg.event {
                    Some(worker_message::Event::Completions(batch)) => {
                        actor.send(Command::Completions { worker: self.id, batch: batch.completions })
                    }
                    Some(worker_message::Event::Revoked(r)) => {
                        actor.send(Command::Revoked { worker: self.id, keys: r.keys })
                    }
                    Some(worker_message::Event::Draining(notice)) => {
                        actor.send(Command::Draining { worker: self.id, returned: notice.returned })
                    }
                    Some(worker_message::Event::Heartbeat(_))
                    | Some(worker_message::Event::Hello(_))
                    | None => {}
                },
            }
        };
        actor.send(Command::WorkerDown {
            id: self.id,
            address: self.address.clone(),
            reason: reason.clone(),
        });
        reason
    }
}

/// Keeps a statically listed worker connected for as long as the
/// coordinator runs, redialling with backoff.
pub(crate) async fn keep_static(
    address: String,
    actor: ActorHandle,
    options: LinkOptions,
    ids: Arc<AtomicU64>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0u32;
    loop {
        match connect(&address, &actor, &options, &ids).await {
            Ok(session) => {
                failures = 0;
                backoff = Duration::from_millis(100);
                session.run(&actor, options.heartbeat_timeout).await;
            }
            Err(reason) => {
                if failures == 0 {
                    tracing::warn!(worker = %address, "worker unreachable, will keep retrying: {reason}");
                }
                failures += 1;
                actor.send(Command::LinkFailed { address: address.clone(), reason });
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
    }
}

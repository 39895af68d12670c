//! Running a mesh listener: bound on a real socket with TCP_NODELAY on every
//! accepted connection (tonic ignores the builder's nodelay for a pre-bound
//! listener), stoppable, and awaitable.

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::{Router, TcpIncoming};
use tower_layer::{Identity, Stack};

use crate::ServerAuthLayer;

/// A [`crate::SecureServer`] with its services added.
pub type SecureRouter = Router<Stack<ServerAuthLayer, Identity>>;

/// A spawned server and the switch that stops it.
pub struct ServerTask {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ServerTask {
    /// Serves `router` on `listener` until [`ServerTask::stop`].
    pub fn spawn(router: SecureRouter, listener: TcpListener) -> Self {
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        Self { stop: Some(stop), task }
    }

    /// Stops accepting, lets open calls finish, and waits for the end.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server ends by itself, which is an error.
    pub async fn wait(&mut self) -> Result<(), String> {
        match (&mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(crate::tls::chain(&e)),
            Err(e) => Err(e.to_string()),
        }
    }
}

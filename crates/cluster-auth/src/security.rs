//! One process's security settings, as the servers and clients of the mesh
//! use them: the shared secret, the TLS it serves with, and the TLS it
//! dials with.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::{Endpoint, Server, ServerTlsConfig};
use tower_layer::{Identity, Stack};

use crate::{
    check_exposure, AuthChannel, ClientAuth, ClientTls, Secret, ServerAuthLayer, ServerTls, TlsError,
};

/// The server builder every listener of the mesh starts from: TLS when
/// configured, and the secret checked on every call.
pub type SecureServer = Server<Stack<ServerAuthLayer, Identity>>;

/// Errors preparing a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An open server on a reachable address; the message says how to fix it.
    #[error("{0}")]
    Exposed(String),
    /// The TLS files are not usable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// tonic refused the TLS configuration.
    #[error("cannot set up TLS: {0}")]
    Server(String),
}

/// The secret and TLS settings of one process. `Default` is none of them:
/// plaintext and open, fit only for loopback.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// The cluster's shared secret, checked on every call served and added
    /// to every call made.
    pub secret: Option<Secret>,
    /// TLS for the servers this process runs.
    pub server_tls: Option<ServerTls>,
    /// TLS for the connections this process opens.
    pub client_tls: Option<ClientTls>,
}

/// Errors dialing a peer.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The address is not usable.
    #[error("bad address `{address}`: {reason}")]
    BadAddress {
        /// The address given.
        address: String,
        /// Why.
        reason: String,
    },
    /// The TLS settings are not usable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection failed.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The address dialed.
        address: String,
        /// Why, with the error's sources.
        reason: String,
    },
}

impl Security {
    /// Whether servers of this process require client certificates.
    pub fn requires_client_cert(&self) -> bool {
        self.server_tls.as_ref().is_some_and(ServerTls::requires_client_cert)
    }

    /// The server TLS configuration to serve with, if any.
    pub fn server_tls_config(&self) -> Result<Option<ServerTlsConfig>, TlsError> {
        self.server_tls.as_ref().map(ServerTls::load).transpose()
    }

    /// A server builder for `listen`, after the safe-defaults check (see
    /// [`check_exposure`]; its warning, with `insecure`, is logged): TLS
    /// when configured, HTTP/2 keep-alive, and the secret layer. Add the
    /// services to it.
    pub fn server(&self, listen: SocketAddr, insecure: bool) -> Result<SecureServer, ServeError> {
        let exposed = check_exposure(listen, self.secret.is_some(), self.requires_client_cert(), insecure)
            .map_err(ServeError::Exposed)?;
        if let Some(warning) = exposed {
            tracing::warn!("{warning}");
        }
        let mut builder = Server::builder().http2_keepalive_interval(Some(Duration::from_secs(10)));
        if let Some(tls) = self.server_tls_config()? {
            builder = builder.tls_config(tls).map_err(|e| ServeError::Server(crate::tls::chain(&e)))?;
        }
        Ok(builder.layer(ServerAuthLayer::new(self.secret.clone())))
    }

    /// The URL for a `host:port` peer: `https://` when dialing with TLS.
    pub fn url_for(&self, address: &str) -> String {
        let scheme = if self.client_tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{address}")
    }

    /// The endpoint for `url` (a URL, or `host:port`, which gets `https`
    /// when this process dials with TLS): TCP_NODELAY, a connect deadline,
    /// HTTP/2 keep-alive so a peer that stops answering is noticed within
    /// about 30 s, and TLS for `https` URLs. An explicit `http://` dials in
    /// plaintext even when TLS is configured (the embedded local worker).
    pub fn endpoint(&self, url: &str, connect_timeout: Duration) -> Result<Endpoint, DialError> {
        let url = if url.contains("://") { url.to_string() } else { self.url_for(url) };
        let bad = |reason: String| DialError::BadAddress { address: url.clone(), reason };
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        match (&self.client_tls, url.starts_with("https://")) {
            (Some(tls), true) => Ok(tls.apply(endpoint)?),
            (None, true) => Err(bad("an https:// address needs the CA to trust: give --tls-ca".into())),
            (_, false) => Ok(endpoint),
        }
    }

    /// Dials `url` (see [`Security::endpoint`]) with the secret on every call.
    pub async fn connect(&self, url: &str, connect_timeout: Duration) -> Result<AuthChannel, DialError> {
        self.connect_endpoint(self.endpoint(url, connect_timeout)?).await
    }

    /// Dials a prepared endpoint (its TLS already set) and adds the secret.
    pub async fn connect_endpoint(&self, endpoint: Endpoint) -> Result<AuthChannel, DialError> {
        let address = endpoint.uri().to_string();
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| DialError::Connect { address, reason: crate::tls::chain(&e) })?;
        Ok(ClientAuth::new(channel, self.secret.clone()))
    }
}

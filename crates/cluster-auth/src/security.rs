//! One process's security settings, as data: the shared secret, the TLS it
//! serves with, and the TLS it dials with. How a server is built and a peer
//! dialed from them is `cluster-node`'s business.

use tonic::transport::ServerTlsConfig;

use crate::{ClientTls, Secret, ServerAuthLayer, ServerTls, TlsError, Verifier};

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
    /// The `host:port` addresses callers dial to reach this process's
    /// servers: a call signed for any other address is refused, so a header
    /// captured on its way to another server of the mesh is of no use here.
    /// Empty: any address (the signature still covers the one dialled).
    pub server_names: Vec<String>,
}

impl Security {
    /// Whether servers of this process require client certificates.
    pub fn requires_client_cert(&self) -> bool {
        self.server_tls.as_ref().is_some_and(ServerTls::requires_client_cert)
    }

    /// The layer that checks the secret (and the server names) on every
    /// call a server of this process gets.
    pub fn server_auth(&self) -> ServerAuthLayer {
        match &self.secret {
            Some(secret) => ServerAuthLayer::with_verifier(
                Verifier::new(secret.clone()).with_server_names(&self.server_names),
            ),
            None => ServerAuthLayer::new(None),
        }
    }

    /// The server TLS configuration to serve with, if any.
    pub fn server_tls_config(&self) -> Result<Option<ServerTlsConfig>, TlsError> {
        self.server_tls.as_ref().map(ServerTls::load).transpose()
    }
}

//! The security flags the three binaries share, each also read from a
//! `CLUSTER_*` environment variable, and the [`Security`] they describe.

use std::path::PathBuf;

use cluster_auth::{AuthError, ClientTls, Secret, Security, ServerTls};

/// The shared secret. Deliberately no flag that takes the secret itself: a
/// value on the command line shows in `ps`.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = crate::heading::SECURITY)]
pub struct SecretArgs {
    /// File holding the cluster's shared secret (or set the secret itself
    /// in CLUSTER_SECRET).
    #[arg(long, env = "CLUSTER_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// The secret from the file, else from `CLUSTER_SECRET`.
    pub fn load(&self) -> Result<Option<Secret>, AuthError> {
        Secret::load(self.secret_file.as_deref())
    }
}

/// TLS for a server, and the switch to run open.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = crate::heading::SECURITY)]
pub struct ServerTlsArgs {
    /// PEM certificate this server presents (enables TLS).
    #[arg(long, env = "CLUSTER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CLUSTER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA whose client certificates this server requires (mutual TLS).
    #[arg(long, env = "CLUSTER_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve on a non-loopback address with neither a secret nor mutual TLS.
    #[arg(long, env = "CLUSTER_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: bool,
}

impl ServerTlsArgs {
    /// The server TLS settings, if a certificate was given.
    pub fn tls(&self) -> Option<ServerTls> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(ServerTls {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            _ => None,
        }
    }
}

/// TLS for the connections a process opens.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = crate::heading::SECURITY)]
pub struct ClientTlsArgs {
    /// PEM CA that signed the certificates of the servers this process
    /// dials (enables TLS on its connections).
    #[arg(long, env = "CLUSTER_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM certificate this process presents when it dials (mutual TLS).
    #[arg(long, env = "CLUSTER_TLS_CLIENT_CERT", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of --tls-client-cert.
    #[arg(long, env = "CLUSTER_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
    /// Name to expect in the servers' certificates, when it is not the host
    /// dialed.
    #[arg(long, env = "CLUSTER_TLS_DOMAIN")]
    pub tls_domain: Option<String>,
}

impl ClientTlsArgs {
    /// The client TLS settings, if a CA was given.
    pub fn tls(&self) -> Option<ClientTls> {
        self.tls_ca.as_ref().map(|ca| ClientTls {
            ca: Some(ca.clone()),
            cert: self.tls_client_cert.clone(),
            key: self.tls_client_key.clone(),
            domain: self.tls_domain.clone(),
        })
    }
}

/// All of a server node's security flags: its secret, the TLS it serves
/// with, and the TLS of the connections it opens.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = crate::heading::SECURITY)]
pub struct NodeSecurityArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub secret: SecretArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server_tls: ServerTlsArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub client_tls: ClientTlsArgs,
    /// An address callers dial to reach this server, as host:port
    /// (repeatable, or comma-separated): calls signed for any other address
    /// are refused, so a header captured on its way to another server of
    /// the mesh is of no use here. A worker with --advertise defaults to
    /// that address; otherwise any address is accepted.
    #[arg(long, env = "CLUSTER_SERVER_NAME", value_delimiter = ',')]
    pub server_name: Vec<String>,
}

impl NodeSecurityArgs {
    /// The settings the flags describe (reads the secret file).
    pub fn load(&self) -> Result<Security, AuthError> {
        Ok(Security {
            secret: self.secret.load()?,
            server_tls: self.server_tls.tls(),
            client_tls: self.client_tls.tls(),
            server_names: self.server_name.clone(),
        })
    }
}

/// A client's security flags: the secret and the TLS it dials with.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = crate::heading::SECURITY)]
pub struct ClientSecurityArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub secret: SecretArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub tls: ClientTlsArgs,
}

impl ClientSecurityArgs {
    /// The settings the flags describe (reads the secret file).
    pub fn load(&self) -> Result<Security, AuthError> {
        Ok(Security { secret: self.secret.load()?, client_tls: self.tls.tls(), ..Security::default() })
    }
}

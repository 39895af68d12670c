//! The dial policy: how every process of the mesh opens a connection.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cluster_auth::{ClientAuth, Security, TlsError};
use tonic::transport::Endpoint;

use crate::inproc::{self, Transport};

/// A connection to a server of the mesh, over the network or in process,
/// that signs every call with the secret when there is one.
pub type Channel = ClientAuth<Transport>;

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
    /// No server of this process is registered under this in-process name.
    #[error("no server of this process is named `{0}` (inproc://)")]
    NoInProcessServer(String),
    /// The connection failed.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The address dialed.
        address: String,
        /// Why, with the error's sources.
        reason: String,
    },
}

/// The URL for a `host:port` peer: `https://` when `security` dials with
/// TLS.
pub fn url_for(security: &Security, address: &str) -> String {
    let scheme = if security.client_tls.is_some() { "https" } else { "http" };
    format!("{scheme}://{address}")
}

/// The endpoint for `url` (a URL, or `host:port`, which gets `https` when
/// `security` dials with TLS): TCP_NODELAY, a connect deadline, HTTP/2
/// keep-alive so a peer that stops answering is noticed within about 30 s,
/// and TLS for `https` URLs. An explicit `http://` dials in plaintext even
/// when TLS is configured (the embedded local worker).
pub fn endpoint(security: &Security, url: &str, connect_timeout: Duration) -> Result<Endpoint, DialError> {
    let url = if url.contains("://") { url.to_string() } else { url_for(security, url) };
    let bad = |reason: String| DialError::BadAddress { address: url.clone(), reason };
    let endpoint =
        tuned(Endpoint::from_shared(url.clone()).map_err(|e| bad(e.to_string()))?, connect_timeout)
            .tcp_nodelay(true);
    match (&security.client_tls, url.starts_with("https://")) {
        (Some(tls), true) => Ok(tls.apply(endpoint)?),
        (None, true) => Err(bad("an https:// address needs the CA to trust: give --tls-ca".into())),
        // Plaintext to another machine would send the signed headers and
        // the tasks in clear although TLS was asked for. Loopback stays
        // allowed: it never leaves the machine (the embedded local worker).
        (Some(_), false) if !is_loopback(endpoint.uri()) => Err(bad(
            "an http:// address dials in plaintext, but --tls-ca asks for TLS: use https:// (or drop --tls-ca)"
                .into(),
        )),
        (_, false) => Ok(endpoint),
    }
}

/// The settings every connection has: a connect deadline, HTTP/2
/// keep-alive, and the mesh's flow-control windows.
fn tuned(endpoint: Endpoint, connect_timeout: Duration) -> Endpoint {
    endpoint
        .connect_timeout(connect_timeout)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .initial_stream_window_size(crate::STREAM_WINDOW)
        .initial_connection_window_size(crate::CONNECTION_WINDOW)
}

fn is_loopback(uri: &tonic::transport::Uri) -> bool {
    match uri.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Dials `url` (see [`endpoint`]) with the secret on every call; an
/// `inproc://` URL reaches a server of this process (see [`InProcess`]),
/// and `unix:PATH` a Unix socket of this machine (in plaintext).
///
/// [`InProcess`]: crate::InProcess
pub async fn connect(
    security: &Security,
    url: &str,
    connect_timeout: Duration,
) -> Result<Channel, DialError> {
    connect_tuned(security, url, connect_timeout, |endpoint| endpoint).await
}

/// [`connect`], with `tune` applied to the network endpoint (keep-alive,
/// say); not used for an `inproc://` URL.
pub async fn connect_tuned(
    security: &Security,
    url: &str,
    connect_timeout: Duration,
    tune: impl FnOnce(Endpoint) -> Endpoint,
) -> Result<Channel, DialError> {
    if let Some(channel) = in_process(url) {
        return channel;
    }
    match unix_path(url) {
        Some(path) => connect_unix(security, url, path, tune(tuned(unix_endpoint(), connect_timeout))).await,
        None => connect_endpoint(security, tune(endpoint(security, url, connect_timeout)?)).await,
    }
}

/// The socket path of a `unix:PATH` (or `unix://PATH`) address.
pub fn unix_path(address: &str) -> Option<&Path> {
    let path = address.strip_prefix("unix://").or_else(|| address.strip_prefix("unix:"))?;
    Some(Path::new(path))
}

/// The endpoint every Unix socket connection starts from: the socket
/// replaces the host, so the URL only names the scheme (plaintext: the
/// socket never leaves the machine, and its file mode guards it).
fn unix_endpoint() -> Endpoint {
    Endpoint::from_shared(format!("http://{}", cluster_auth::LOCAL_AUTHORITY)).expect("a valid URL")
}

/// Dials the Unix socket at `path` with the secret on every call.
async fn connect_unix(
    security: &Security,
    address: &str,
    path: &Path,
    endpoint: Endpoint,
) -> Result<Channel, DialError> {
    if path.as_os_str().is_empty() {
        return Err(DialError::BadAddress {
            address: address.into(),
            reason: "no socket path after unix:".into(),
        });
    }
    let connector = UnixConnector(Arc::from(path));
    let channel = endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|e| DialError::Connect { address: address.into(), reason: crate::chain(&e) })?;
    let authority = cluster_auth::authority_of(endpoint.uri());
    Ok(ClientAuth::new(Transport::Network(channel), security.secret.clone(), authority))
}

/// Opens a connection to one Unix socket, whatever URI tonic asks for.
#[derive(Clone)]
struct UnixConnector(Arc<Path>);

impl tower_service::Service<tonic::transport::Uri> for UnixConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::transport::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(
            async move { Ok(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(path).await?)) },
        )
    }
}

/// The server of this process that `url` names, if it is an `inproc://`
/// URL. Nothing is signed: the call never leaves the process.
fn in_process(url: &str) -> Option<Result<Channel, DialError>> {
    let routes = inproc::lookup(url)?;
    Some(match routes {
        Ok(routes) => Ok(ClientAuth::new(Transport::InProcess(routes), None, url)),
        Err(name) => Err(DialError::NoInProcessServer(name)),
    })
}

/// Dials a prepared endpoint (its TLS already set) and adds the secret.
pub async fn connect_endpoint(security: &Security, endpoint: Endpoint) -> Result<Channel, DialError> {
    let address = endpoint.uri().to_string();
    let authority = cluster_auth::authority_of(endpoint.uri());
    let channel =
        endpoint.connect().await.map_err(|e| DialError::Connect { address, reason: crate::chain(&e) })?;
    Ok(ClientAuth::new(Transport::Network(channel), security.secret.clone(), authority))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_auth::ClientTls;

    fn with_tls() -> Security {
        Security { client_tls: Some(ClientTls::default()), ..Security::default() }
    }

    #[test]
    fn plaintext_to_another_machine_is_refused_when_tls_is_configured() {
        let second = Duration::from_secs(1);
        let err = endpoint(&with_tls(), "http://10.0.0.7:7700", second).unwrap_err().to_string();
        assert_eq!(
            err,
            "bad address `http://10.0.0.7:7700`: an http:// address dials in plaintext, but --tls-ca asks \
             for TLS: use https:// (or drop --tls-ca)"
        );
        for local in ["http://127.0.0.1:7700", "http://localhost:7700", "http://[::1]:7700"] {
            assert!(endpoint(&with_tls(), local, second).is_ok(), "{local}");
        }
        assert!(endpoint(&Security::default(), "http://10.0.0.7:7700", second).is_ok());
        // host:port takes the scheme of the settings.
        assert_eq!(url_for(&with_tls(), "10.0.0.7:7700"), "https://10.0.0.7:7700");
    }
}

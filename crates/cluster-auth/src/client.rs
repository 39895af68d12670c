//! The client side: a tower layer that signs every call through a channel.

use std::task::{Context, Poll};

use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::scheme::{sign, Call, HEADER};
use crate::Secret;

/// A [`tonic::transport::Channel`] that signs every call, or passes calls
/// unchanged when it has no secret. Generated clients take it as is:
///
/// ```no_run
/// # async fn connect(secret: Option<cluster_auth::Secret>) -> Result<(), tonic::transport::Error> {
/// let endpoint = tonic::transport::Endpoint::from_static("http://127.0.0.1:7700");
/// let authority = cluster_auth::authority_of(endpoint.uri());
/// let channel = endpoint.connect().await?;
/// let channel: cluster_auth::AuthChannel = cluster_auth::ClientAuth::new(channel, secret, authority);
/// // cluster_proto::client_service_client::ClientServiceClient::new(channel)
/// # Ok(())
/// # }
/// ```
pub type AuthChannel = ClientAuth<tonic::transport::Channel>;

/// The `host:port` a URI dials, as the HTTP/2 `:authority` carries it
/// (empty when the URI has none).
pub fn authority_of(uri: &http::Uri) -> String {
    uri.authority().map(|authority| authority.as_str().to_owned()).unwrap_or_default()
}

/// Makes [`ClientAuth`] services:
/// `ServiceBuilder::new().layer(ClientAuthLayer::new(secret, authority)).service(channel)`.
#[derive(Clone, Debug, Default)]
pub struct ClientAuthLayer {
    secret: Option<Secret>,
    authority: String,
}

impl ClientAuthLayer {
    /// Signs with `secret` for the server dialled as `authority`
    /// (`host:port`); a no-op when `secret` is `None`.
    pub fn new(secret: Option<Secret>, authority: impl Into<String>) -> Self {
        Self { secret, authority: authority.into() }
    }
}

impl<S> Layer<S> for ClientAuthLayer {
    type Service = ClientAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAuth::new(inner, self.secret.clone(), self.authority.clone())
    }
}

/// Adds a fresh credentials header (see [`crate::scheme`]) for its own
/// method path and server to every request it passes to `S`.
///
/// Put it outermost, above anything that may resend a request (a retry
/// layer below it would resend the same header, which servers turn away as
/// a replay).
#[derive(Clone, Debug)]
pub struct ClientAuth<S> {
    inner: S,
    secret: Option<Secret>,
    authority: String,
}

impl<S> ClientAuth<S> {
    /// Wraps `inner`, a connection to the server dialled as `authority`
    /// (the `host:port` of its URL, see [`authority_of`]); signs with
    /// `secret`, or passes requests unchanged when it is `None`. A request
    /// whose URI names its own authority is signed for that one.
    pub fn new(inner: S, secret: Option<Secret>, authority: impl Into<String>) -> Self {
        Self { inner, secret, authority: authority.into() }
    }

    /// Whether requests are signed.
    pub fn is_enabled(&self) -> bool {
        self.secret.is_some()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for ClientAuth<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(secret) = &self.secret {
            let authority = request.uri().authority().map_or(self.authority.as_str(), |a| a.as_str());
            let value = sign(secret, Call::new(authority, request.uri().path()));
            let value = HeaderValue::try_from(value).expect("the header is ASCII");
            request.headers_mut().insert(HEADER, value);
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::Verifier;
    use cluster_proto::client_service_client::ClientServiceClient;
    use tonic::transport::{Channel, Endpoint};

    #[tokio::test]
    async fn generated_client_takes_the_wrapped_channel() {
        let channel: Channel = Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let secret = Secret::new("s").unwrap();
        let layered: AuthChannel = tower::ServiceBuilder::new()
            .layer(ClientAuthLayer::new(Some(secret.clone()), "127.0.0.1:1"))
            .service(channel.clone());
        let _client = ClientServiceClient::new(layered);
        let open: AuthChannel = ClientAuth::new(channel, None, "127.0.0.1:1");
        assert!(!open.is_enabled());
        let _client = ClientServiceClient::new(open).max_decoding_message_size(1 << 20);
    }

    /// Records the requests it gets.
    #[derive(Clone, Default)]
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<Request<()>>>>);

    impl Service<Request<()>> for Recorder {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<(), Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            self.0.lock().unwrap().push(request);
            std::future::ready(Ok(()))
        }
    }

    fn call(service: &mut impl Service<Request<()>>, path: &str) {
        let request = Request::builder().uri(path).body(()).unwrap();
        drop(service.call(request));
    }

    #[test]
    fn every_request_gets_a_fresh_header_for_its_own_path() {
        let secret = Secret::new("s").unwrap();
        let recorder = Recorder::default();
        let mut service = ClientAuthLayer::new(Some(secret.clone()), "h:7700").layer(recorder.clone());
        // As tonic's generated clients make them: a path, no authority.
        call(&mut service, "/cluster.v1.ClientService/Status");
        call(&mut service, "/cluster.v1.ClientService/Status");
        call(&mut service, "/cluster.v1.ClientService/Submit");
        // A full URI is signed for its own authority.
        call(&mut service, "http://other:7701/cluster.v1.ClientService/Status");
        let verifier = Verifier::new(secret);
        let requests = recorder.0.lock().unwrap();
        let headers: Vec<_> = requests.iter().map(|r| r.headers().get(HEADER).unwrap()).collect();
        assert_ne!(headers[0], headers[1]);
        for (request, authority) in requests.iter().zip(["h:7700", "h:7700", "h:7700", "other:7701"]) {
            let header = request.headers().get(HEADER).map(HeaderValue::as_bytes);
            assert_eq!(verifier.verify(header, Call::new(authority, request.uri().path())), Ok(()));
        }
    }

    #[test]
    fn no_secret_no_header() {
        let recorder = Recorder::default();
        let mut service = ClientAuthLayer::new(None, "h:7700").layer(recorder.clone());
        call(&mut service, "/cluster.v1.ClientService/Status");
        assert!(recorder.0.lock().unwrap()[0].headers().get(HEADER).is_none());
    }
}

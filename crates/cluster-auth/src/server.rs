//! The server side: a tower layer that checks every call on a listener.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::scheme::{Call, Verifier, HEADER};
use crate::Secret;

/// The paths answered without credentials: the standard gRPC health check
/// (`grpc.health.v1.Health`, Check and Watch), so load balancers and
/// Kubernetes probes need no secret. It tells only whether a server is up;
/// every other path, reflection included, needs the secret.
pub const OPEN_PATHS: [&str; 2] = ["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"];

/// A count of the calls a server turned away for bad or missing
/// credentials, shared by every clone (for metrics).
#[derive(Clone, Debug, Default)]
pub struct Refusals(Arc<AtomicU64>);

impl Refusals {
    /// Calls refused so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Checks the credentials of every call before it reaches any service of the
/// server it wraps (but the health check, see [`OPEN_PATHS`]); with no
/// secret it lets everything through.
///
/// ```no_run
/// # async fn serve(secret: Option<cluster_auth::Secret>) -> Result<(), tonic::transport::Error> {
/// # let svc = tonic::service::Routes::default();
/// tonic::transport::Server::builder()
///     .layer(cluster_auth::ServerAuthLayer::new(secret))
///     .add_routes(svc)
///     .serve("0.0.0.0:7700".parse().unwrap())
///     .await
/// # }
/// ```
///
/// A call turned away gets a gRPC `UNAUTHENTICATED` status whose message
/// says why (see [`crate::scheme::Rejection`]); the credentials header is
/// removed from calls that pass, so services never see it.
#[derive(Clone, Debug, Default)]
pub struct ServerAuthLayer {
    verifier: Option<Arc<Verifier>>,
    refusals: Refusals,
}

impl ServerAuthLayer {
    /// Requires `secret` when it is `Some` (default window ±30 s); lets
    /// everything through when it is `None`.
    pub fn new(secret: Option<Secret>) -> Self {
        Self { verifier: secret.map(|secret| Arc::new(Verifier::new(secret))), refusals: Refusals::default() }
    }

    /// Checks calls with `verifier` (to set the window, the replay capacity
    /// or the server's names).
    pub fn with_verifier(verifier: Verifier) -> Self {
        Self { verifier: Some(Arc::new(verifier)), refusals: Refusals::default() }
    }

    /// Counts the calls it refuses in `refusals`.
    pub fn with_refusals(self, refusals: Refusals) -> Self {
        Self { refusals, ..self }
    }

    /// Whether calls are checked at all.
    pub fn is_enabled(&self) -> bool {
        self.verifier.is_some()
    }
}

impl<S> Layer<S> for ServerAuthLayer {
    type Service = ServerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerAuth { inner, verifier: self.verifier.clone(), refusals: self.refusals.clone() }
    }
}

/// The service [`ServerAuthLayer`] makes.
#[derive(Clone, Debug)]
pub struct ServerAuth<S> {
    inner: S,
    verifier: Option<Arc<Verifier>>,
    refusals: Refusals,
}

/// The future of [`ServerAuth`]: the inner service's, or an immediate
/// error response.
pub type ServerAuthFuture<F, B, E> = Either<F, Ready<Result<Response<B>, E>>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ServerAuthFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let open = OPEN_PATHS.contains(&request.uri().path());
        if let (Some(verifier), false) = (&self.verifier, open) {
            let header = request.headers().get(HEADER).map(|value| value.as_bytes());
            let method = request.uri().path();
            // HTTP/2 carries the `:authority` in the URI; HTTP/1 would send Host.
            let authority = match request.uri().authority() {
                Some(authority) => authority.as_str(),
                None => request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or(""),
            };
            // Over a Unix socket the caller signs for `localhost`.
            let local = request.extensions().get::<tonic::transport::server::UdsConnectInfo>().is_some();
            let call = Call::new(authority, method);
            let checked =
                if local { verifier.verify_local(header, call) } else { verifier.verify(header, call) };
            if let Err(rejection) = checked {
                tracing::warn!(method, authority, %rejection, "refused a call: bad or missing credentials");
                self.refusals.0.fetch_add(1, Ordering::Relaxed);
                let status = tonic::Status::from(rejection);
                return Either::Right(ready(Ok(status.into_http())));
            }
        }
        if self.verifier.is_some() {
            request.headers_mut().remove(HEADER);
        }
        Either::Left(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::sign;

    const NODE: &str = "node:7700";

    fn signed(secret: &Secret, path: &str) -> String {
        sign(secret, Call::new(NODE, path))
    }
    use tower::ServiceExt;

    const PATH: &str = "/cluster.v1.ClientService/Status";

    /// Answers 200 with the credentials header it saw, if any, as the body.
    fn echo() -> impl Service<
        Request<()>,
        Response = Response<String>,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        tower::service_fn(|request: Request<()>| async move {
            let seen = request.headers().get(HEADER).map(|v| v.to_str().unwrap().to_owned());
            Ok(Response::new(seen.unwrap_or_else(|| "no header".to_owned())))
        })
    }

    fn request(header: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri(format!("http://{NODE}{PATH}"));
        if let Some(header) = header {
            builder = builder.header(HEADER, header);
        }
        builder.body(()).unwrap()
    }

    /// The gRPC status in the response headers, as a client reads it.
    fn status_of(response: &Response<String>) -> Option<tonic::Status> {
        tonic::Status::from_header_map(response.headers())
    }

    #[tokio::test]
    async fn right_secret_passes_and_the_header_is_removed() {
        let secret = Secret::new("s").unwrap();
        let service = ServerAuthLayer::new(Some(secret.clone())).layer(echo());
        let header = signed(&secret, PATH);
        let response = service.oneshot(request(Some(&header))).await.unwrap();
        assert_eq!(response.body(), "no header");
        assert!(status_of(&response).is_none());
    }

    #[tokio::test]
    async fn failures_are_grpc_unauthenticated_responses() {
        let secret = Secret::new("s").unwrap();
        let layer = ServerAuthLayer::new(Some(secret.clone()));
        let other = Secret::new("t").unwrap();
        let good = signed(&secret, PATH);
        let cases = [
            (None, "missing credentials: this server requires the cluster secret (--secret-file or CLUSTER_SECRET)"),
            (Some("v2:nonsense".to_owned()), "malformed credentials"),
            (Some(signed(&other, PATH)), "wrong secret"),
            (Some(signed(&secret, "/cluster.v1.ClientService/Submit")), "wrong secret"),
            (Some(sign(&secret, Call::new("other-node:7700", PATH))), "wrong secret"),
            (Some(good.clone()), ""),
            (Some(good), "replayed credentials"),
        ];
        for (header, message) in cases {
            let response = layer.layer(echo()).oneshot(request(header.as_deref())).await.unwrap();
            let status = status_of(&response);
            if message.is_empty() {
                assert!(status.is_none(), "{header:?}");
            } else {
                assert_eq!(response.body(), "", "{header:?}");
                let status = status.unwrap();
                assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
                assert_eq!(status.message(), message, "{header:?}");
            }
        }
    }

    #[tokio::test]
    async fn only_the_health_check_passes_without_credentials_and_refusals_are_counted() {
        let secret = Secret::new("s").unwrap();
        let refusals = Refusals::default();
        let layer = ServerAuthLayer::new(Some(secret)).with_refusals(refusals.clone());
        let call = |path: &str, header: Option<&str>| {
            let mut builder = Request::builder().uri(format!("http://{NODE}{path}"));
            if let Some(header) = header {
                builder = builder.header(HEADER, header);
            }
            layer.layer(echo()).oneshot(builder.body(()).unwrap())
        };
        for path in OPEN_PATHS {
            let response = call(path, None).await.unwrap();
            assert!(status_of(&response).is_none(), "{path}");
            // Credentials sent anyway are not checked, and never reach the service.
            let response = call(path, Some("junk")).await.unwrap();
            assert_eq!(response.body(), "no header", "{path}");
        }
        assert_eq!(refusals.get(), 0);
        let closed = [
            "/grpc.health.v1.Health/Other",
            "/grpc.health.v1.Health/Check/x",
            "/grpc.health.v1.Healthy/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            PATH,
        ];
        for path in closed {
            let response = call(path, None).await.unwrap();
            assert_eq!(status_of(&response).unwrap().code(), tonic::Code::Unauthenticated, "{path}");
        }
        assert_eq!(refusals.get(), closed.len() as u64);
    }

    #[tokio::test]
    async fn without_a_secret_everything_passes() {
        let layer = ServerAuthLayer::new(None);
        assert!(!layer.is_enabled());
        let response = layer.layer(echo()).oneshot(request(None)).await.unwrap();
        assert_eq!(response.body(), "no header");
        let response = layer.layer(echo()).oneshot(request(Some("junk"))).await.unwrap();
        assert_eq!(response.body(), "junk");
    }
}

//! The secret layers against a real tonic server on loopback.

mod common;

use cluster_auth::{Secret, ServerAuthLayer};
use common::{endpoint, start, status, submit, VERSION};
use tonic::Code;

fn secret(text: &str) -> Option<Secret> {
    Some(Secret::new(text).unwrap())
}

#[tokio::test]
async fn right_secret_succeeds() {
    let addr = start(ServerAuthLayer::new(secret("s3cret")), None).await;
    for _ in 0..3 {
        let response = status(endpoint("http", "127.0.0.1", addr), secret("s3cret")).await.unwrap();
        assert_eq!(response.version, VERSION);
        assert_eq!(response.queued, 7);
    }
    // A streaming call passes too, and reaches the service.
    let err = submit(endpoint("http", "127.0.0.1", addr), secret("s3cret")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
}

#[tokio::test]
async fn wrong_secret_is_unauthenticated() {
    let addr = start(ServerAuthLayer::new(secret("s3cret")), None).await;
    let err = status(endpoint("http", "127.0.0.1", addr), secret("guess")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(err.message(), "wrong secret");
    let err = submit(endpoint("http", "127.0.0.1", addr), secret("guess")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn missing_secret_is_unauthenticated() {
    let addr = start(ServerAuthLayer::new(secret("s3cret")), None).await;
    let err = status(endpoint("http", "127.0.0.1", addr), None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(
        err.message(),
        "missing credentials: this server requires the cluster secret \
         (--secret-file or CLUSTER_SECRET)"
    );
    let err = submit(endpoint("http", "127.0.0.1", addr), None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn server_without_secret_is_open() {
    let addr = start(ServerAuthLayer::new(None), None).await;
    let response = status(endpoint("http", "127.0.0.1", addr), None).await.unwrap();
    assert_eq!(response.version, VERSION);
    let response = status(endpoint("http", "127.0.0.1", addr), secret("any")).await.unwrap();
    assert_eq!(response.version, VERSION);
}

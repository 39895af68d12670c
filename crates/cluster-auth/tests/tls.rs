//! TLS and mutual TLS against a real tonic server on loopback.

mod common;

use std::path::PathBuf;

use cluster_auth::test_util::{generate, TestPki};
use cluster_auth::{ClientTls, Secret, ServerAuthLayer};
use common::{endpoint, start, status, VERSION};
use tonic::transport::Endpoint;
use tonic::Code;

fn pki(name: &str) -> TestPki {
    let dir: PathBuf = std::env::temp_dir().join(format!("cluster-auth-it-{}-{name}", std::process::id()));
    generate(&dir).unwrap()
}

fn https(addr: std::net::SocketAddr, tls: &ClientTls) -> Endpoint {
    tls.apply(endpoint("https", "127.0.0.1", addr)).unwrap()
}

#[tokio::test]
async fn tls_server() {
    let pki = pki("tls");
    let tls = pki.server_tls(false).load().unwrap();
    let addr = start(ServerAuthLayer::new(None), Some(tls)).await;

    // Trusting the CA works, by IP address and by name.
    let response = status(https(addr, &pki.client_tls(false)), None).await.unwrap();
    assert_eq!(response.version, VERSION);
    let by_name = ClientTls { domain: Some("localhost".to_owned()), ..pki.client_tls(false) };
    let response = status(https(addr, &by_name), None).await.unwrap();
    assert_eq!(response.version, VERSION);

    // Plaintext does not.
    let err = status(endpoint("http", "127.0.0.1", addr), None).await.unwrap_err();
    assert_ne!(err.code(), Code::Ok, "{err:?}");

    // Nor does trusting another CA.
    let err = status(https(addr, &pki.client_tls_trusting_other_ca()), None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("UnknownIssuer"), "{err:?}");

    // Nor a name the certificate does not carry.
    let wrong_name = ClientTls { domain: Some("elsewhere.example".to_owned()), ..pki.client_tls(false) };
    let err = status(https(addr, &wrong_name), None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("not valid for name"), "{err:?}");
}

#[tokio::test]
async fn mutual_tls_server() {
    let pki = pki("mtls");
    let tls = pki.server_tls(true).load().unwrap();
    let addr = start(ServerAuthLayer::new(None), Some(tls)).await;

    let response = status(https(addr, &pki.client_tls(true)), None).await.unwrap();
    assert_eq!(response.version, VERSION);

    // Without a certificate the handshake completes on the client's side
    // (TLS 1.3), so the failure comes with the first call.
    let err = status(https(addr, &pki.client_tls(false)), None).await.unwrap_err();
    assert!(format!("{err:?}").contains("CertificateRequired"), "{err:?}");

    let err = status(https(addr, &pki.client_tls_with_other_cert()), None).await.unwrap_err();
    assert!(format!("{err:?}").contains("UnknownCA"), "{err:?}");
}

#[tokio::test]
async fn tls_and_secret_together() {
    let pki = pki("both");
    let tls = pki.server_tls(false).load().unwrap();
    let secret = Secret::new("s3cret").unwrap();
    let addr = start(ServerAuthLayer::new(Some(secret.clone())), Some(tls)).await;
    let client = pki.client_tls(false);

    let response = status(https(addr, &client), Some(secret)).await.unwrap();
    assert_eq!(response.version, VERSION);

    let err = status(https(addr, &client), Some(Secret::new("guess").unwrap())).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(err.message(), "wrong secret");

    let err = status(https(addr, &client), None).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().starts_with("missing credentials"), "{err:?}");
}

//! TLS for servers and clients (rustls with the ring provider), from PEM
//! files, with errors that name the file at fault.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// Which file this is, e.g. "TLS certificate".
        what: &'static str,
        /// The file that was given.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file does not hold what it should, in PEM.
    #[error("{what} {} is not usable: {problem}", path.display())]
    BadPem {
        /// Which file this is.
        what: &'static str,
        /// The file that was given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A client certificate without its key, or the other way round.
    #[error("a client certificate and its key go together: give both or neither")]
    IncompleteIdentity,
    /// The files parse, but TLS refuses them together (e.g. a key that does
    /// not belong to the certificate).
    #[error("TLS refused the configuration made from {files}: {problem}")]
    Refused {
        /// The files the configuration was made from.
        files: String,
        /// What TLS said.
        problem: String,
    },
    /// TLS was asked for an address that is not `https://`.
    #[error("TLS needs an https:// address, not {uri}")]
    NotHttps {
        /// The address that was given.
        uri: String,
    },
}

/// TLS for a server: its certificate chain and key, and for mutual TLS the
/// CA that client certificates must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificate(s); when set, clients must present a certificate
    /// signed by one of them.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// Reads and checks the files; the result goes to
    /// `tonic::transport::Server::builder().tls_config(..)`.
    pub fn load(&self) -> Result<ServerTlsConfig, TlsError> {
        let cert = read_certs("TLS certificate", &self.cert)?;
        let key = read_key("TLS private key", &self.key)?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        let mut files = format!("{} and {}", self.cert.display(), self.key.display());
        if let Some(ca) = &self.client_ca {
            let ca_pem = read_certs("TLS client CA", ca)?;
            config = config.client_ca_root(Certificate::from_pem(ca_pem));
            files = format!("{files} (client CA {})", ca.display());
        }
        Server::builder()
            .tls_config(config.clone())
            .map_err(|err| TlsError::Refused { files, problem: error_chain(&err) })?;
        Ok(config)
    }

    /// Whether clients must present a certificate (mutual TLS).
    pub fn requires_client_cert(&self) -> bool {
        self.client_ca.is_some()
    }
}

/// TLS for a client: the CA to trust, a certificate and key for mutual TLS,
/// and the name to expect in the server's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM CA certificate(s) to trust. Without it only the roots compiled
    /// into tonic are trusted, and this workspace compiles in none: a
    /// cluster with its own CA must give it.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain, for servers that require one.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// The name the server certificate must carry, when it is not the host
    /// of the address dialed.
    pub domain: Option<String>,
}

impl ClientTls {
    /// Reads and checks the files; the result goes to
    /// `Endpoint::tls_config(..)` of an `https://` endpoint (see
    /// [`ClientTls::apply`], which checks the scheme too).
    pub fn load(&self) -> Result<ClientTlsConfig, TlsError> {
        let mut config = ClientTlsConfig::new();
        let mut files = Vec::new();
        match &self.ca {
            Some(ca) => {
                config = config.ca_certificate(Certificate::from_pem(read_certs("TLS CA", ca)?));
                files.push(ca.display().to_string());
            }
            None => config = config.with_enabled_roots(),
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let identity = Identity::from_pem(
                    read_certs("TLS client certificate", cert)?,
                    read_key("TLS client key", key)?,
                );
                config = config.identity(identity);
                files.push(cert.display().to_string());
                files.push(key.display().to_string());
            }
            (None, None) => {}
            _ => return Err(TlsError::IncompleteIdentity),
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        Endpoint::from_static("https://localhost").tls_config(config.clone()).map_err(|err| {
            TlsError::Refused {
                files: if files.is_empty() { "no files".to_owned() } else { files.join(", ") },
                problem: error_chain(&err),
            }
        })?;
        Ok(config)
    }

    /// Sets this TLS configuration on `endpoint`, refusing an endpoint
    /// whose address is not `https://` (tonic would silently dial such an
    /// address in plaintext).
    pub fn apply(&self, endpoint: Endpoint) -> Result<Endpoint, TlsError> {
        if endpoint.uri().scheme_str() != Some("https") {
            return Err(TlsError::NotHttps { uri: endpoint.uri().to_string() });
        }
        let config = self.load()?;
        endpoint.tls_config(config).map_err(|err| TlsError::Refused {
            files: "the client TLS files".to_owned(),
            problem: error_chain(&err),
        })
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_owned(), source })
}

/// The file's bytes, once they are known to hold at least one PEM
/// certificate and nothing malformed.
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let pem = read(what, path)?;
    let bad = |problem: String| TlsError::BadPem { what, path: path.to_owned(), problem };
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|err| bad(err.to_string()))?;
        count += 1;
    }
    if count == 0 {
        return Err(bad("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".to_owned()));
    }
    Ok(pem)
}

/// The file's bytes, once they are known to hold a PEM private key.
fn read_key(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let pem = read(what, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|err| TlsError::BadPem {
        what,
        path: path.to_owned(),
        problem: match err {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (-----BEGIN PRIVATE KEY-----) in it".to_owned()
            }
            err => err.to_string(),
        },
    })?;
    Ok(pem)
}

/// An error and its sources, on one line (`outer: cause: root cause`).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        // Many errors print their source themselves: say each cause once.
        let cause = err.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
        source = err.source();
    }
    text
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cluster-auth-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn generated_files_load() {
        let pki = crate::test_util::generate(&dir("load")).unwrap();
        pki.server_tls(true).load().unwrap();
        pki.server_tls(false).load().unwrap();
        pki.client_tls(true).load().unwrap();
        pki.client_tls(false).load().unwrap();
    }

    #[test]
    fn missing_file_is_named() {
        let tls = ServerTls {
            cert: "/nonexistent/server.pem".into(),
            key: "/nonexistent/server.key".into(),
            client_ca: None,
        };
        let err = tls.load().unwrap_err().to_string();
        assert!(err.starts_with("cannot read TLS certificate /nonexistent/server.pem: "), "{err}");
    }

    #[test]
    fn non_pem_files_are_named() {
        let dir = dir("bad");
        let pki = crate::test_util::generate(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();

        let mut tls = pki.server_tls(false);
        tls.cert = junk.clone();
        let err = tls.load().unwrap_err().to_string();
        assert!(err.contains("TLS certificate") && err.contains("junk.pem"), "{err}");
        assert!(err.contains("no PEM certificate"), "{err}");

        let mut tls = pki.server_tls(false);
        tls.key = pki.server_cert.clone();
        let err = tls.load().unwrap_err().to_string();
        assert!(err.contains("TLS private key") && err.contains("server.pem"), "{err}");
        assert!(err.contains("no PEM private key"), "{err}");

        let mut tls = pki.client_tls(false);
        tls.ca = Some(junk);
        let err = tls.load().unwrap_err().to_string();
        assert!(err.starts_with("TLS CA ") && err.contains("junk.pem"), "{err}");
    }

    #[test]
    fn mismatched_key_is_refused() {
        let pki = crate::test_util::generate(&dir("mismatch")).unwrap();
        let mut tls = pki.server_tls(false);
        tls.key = pki.client_key.clone();
        let err = tls.load().unwrap_err();
        assert!(matches!(err, TlsError::Refused { .. }), "{err}");
    }

    #[test]
    fn client_identity_needs_both_halves() {
        let tls = ClientTls { cert: Some("/c.pem".into()), ..ClientTls::default() };
        assert!(matches!(tls.load(), Err(TlsError::IncompleteIdentity)));
    }

    #[test]
    fn apply_refuses_plain_http() {
        let err = ClientTls::default().apply(Endpoint::from_static("http://127.0.0.1:7700")).unwrap_err();
        assert_eq!(err.to_string(), "TLS needs an https:// address, not http://127.0.0.1:7700/");
    }
}

//! Throwaway certificates for tests (feature `test-util`).

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::tls::{ClientTls, ServerTls};

/// PEM files written by [`generate`]: a CA, a server certificate for
/// `localhost`, `127.0.0.1` and `::1` and a client certificate, both signed
/// by the CA; and an unrelated second CA with a client certificate of its
/// own, for negative tests.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate.
    pub ca_cert: PathBuf,
    /// The server certificate, signed by the CA.
    pub server_cert: PathBuf,
    /// The server certificate's key.
    pub server_key: PathBuf,
    /// A client certificate, signed by the CA.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
    /// A second CA that signed nothing the first one did.
    pub other_ca_cert: PathBuf,
    /// A client certificate signed by the second CA.
    pub other_client_cert: PathBuf,
    /// Its key.
    pub other_client_key: PathBuf,
}

impl TestPki {
    /// The server's TLS; with `mtls`, clients must have a certificate from
    /// the CA.
    pub fn server_tls(&self, mtls: bool) -> ServerTls {
        ServerTls {
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            client_ca: mtls.then(|| self.ca_cert.clone()),
        }
    }

    /// A client that trusts the CA, presenting the client certificate when
    /// `with_cert`.
    pub fn client_tls(&self, with_cert: bool) -> ClientTls {
        ClientTls {
            ca: Some(self.ca_cert.clone()),
            cert: with_cert.then(|| self.client_cert.clone()),
            key: with_cert.then(|| self.client_key.clone()),
            domain: None,
        }
    }

    /// A client that trusts only the second CA.
    pub fn client_tls_trusting_other_ca(&self) -> ClientTls {
        ClientTls { ca: Some(self.other_ca_cert.clone()), ..ClientTls::default() }
    }

    /// A client that trusts the CA but presents the second CA's client
    /// certificate.
    pub fn client_tls_with_other_cert(&self) -> ClientTls {
        ClientTls {
            ca: Some(self.ca_cert.clone()),
            cert: Some(self.other_client_cert.clone()),
            key: Some(self.other_client_key.clone()),
            domain: None,
        }
    }
}

/// Generates the certificates of a [`TestPki`] into `dir` (created if
/// needed; existing files are overwritten).
pub fn generate(dir: &Path) -> io::Result<TestPki> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, pem: String| -> io::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, pem)?;
        Ok(path)
    };

    let (ca_params, ca_key) = new_ca("cluster test CA").map_err(io::Error::other)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;
    let ca = Issuer::new(ca_params, ca_key);

    let server_names = ["localhost", "127.0.0.1", "::1"].map(str::to_owned);
    let (server_cert, server_key) =
        leaf(&server_names, ExtendedKeyUsagePurpose::ServerAuth, &ca).map_err(io::Error::other)?;
    let (client_cert, client_key) =
        leaf(&["cluster-client".to_owned()], ExtendedKeyUsagePurpose::ClientAuth, &ca)
            .map_err(io::Error::other)?;

    let (other_params, other_key) = new_ca("unrelated test CA").map_err(io::Error::other)?;
    let other_ca_cert = other_params.self_signed(&other_key).map_err(io::Error::other)?;
    let other = Issuer::new(other_params, other_key);
    let (other_client_cert, other_client_key) =
        leaf(&["cluster-client".to_owned()], ExtendedKeyUsagePurpose::ClientAuth, &other)
            .map_err(io::Error::other)?;

    Ok(TestPki {
        ca_cert: write("ca.pem", ca_cert.pem())?,
        server_cert: write("server.pem", server_cert)?,
        server_key: write("server.key", server_key)?,
        client_cert: write("client.pem", client_cert)?,
        client_key: write("client.key", client_key)?,
        other_ca_cert: write("other-ca.pem", other_ca_cert.pem())?,
        other_client_cert: write("other-client.pem", other_client_cert)?,
        other_client_key: write("other-client.key", other_client_key)?,
    })
}

fn new_ca(name: &str) -> Result<(CertificateParams, KeyPair), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok((params, KeyPair::generate()?))
}

/// A certificate for `names` signed by `issuer`: (certificate PEM, key PEM).
fn leaf(
    names: &[String],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String), rcgen::Error> {
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(DnType::CommonName, names[0].as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

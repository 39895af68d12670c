//! Safe defaults: no open server on a reachable address by accident.

use std::net::SocketAddr;

/// An open server on a reachable address: the message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to listen on {listen} without authentication: anyone who can reach this \
     port could run tasks. Set a shared secret with --secret-file PATH (or \
     CLUSTER_SECRET), or require client certificates with --tls-client-ca, or pass \
     --insecure to run open on a trusted network."
)]
pub struct ExposureError {
    /// The address refused.
    pub listen: SocketAddr,
}

/// Decides whether a server may listen on `listen`.
///
/// A loopback address, or a server that requires the shared secret or
/// client certificates, is fine: `Ok(None)`. Any other address is refused
/// with a message that says how to fix it, unless the operator passed
/// `--insecure`: then `Ok(Some(warning))`, for the caller to print (it has
/// no `warning:` prefix of its own).
pub fn check_exposure(
    listen: SocketAddr,
    has_secret: bool,
    has_mtls: bool,
    insecure: bool,
) -> Result<Option<String>, ExposureError> {
    if listen.ip().to_canonical().is_loopback() || has_secret || has_mtls {
        return Ok(None);
    }
    if insecure {
        return Ok(Some(format!(
            "listening on {listen} without authentication (--insecure): anyone who can \
             reach this port can run tasks"
        )));
    }
    Err(ExposureError { listen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn open_on_all_interfaces_is_refused_with_the_fix() {
        let err = check_exposure(addr("0.0.0.0:7700"), false, false, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to listen on 0.0.0.0:7700 without authentication: anyone who can reach \
             this port could run tasks. Set a shared secret with --secret-file PATH (or \
             CLUSTER_SECRET), or require client certificates with --tls-client-ca, or pass \
             --insecure to run open on a trusted network."
        );
        for listen in ["10.1.2.3:35000", "[::]:7700", "[2001:db8::1]:1"] {
            let err = check_exposure(addr(listen), false, false, false).unwrap_err();
            assert!(err.to_string().starts_with(&format!("refusing to listen on {listen} ")), "{err}");
        }
    }

    #[test]
    fn loopback_is_fine() {
        for listen in ["127.0.0.1:7700", "127.8.9.10:1", "[::1]:7700", "[::ffff:127.0.0.1]:7700"] {
            assert_eq!(check_exposure(addr(listen), false, false, false), Ok(None), "{listen}");
            assert_eq!(check_exposure(addr(listen), false, false, true), Ok(None), "{listen}");
        }
    }

    #[test]
    fn secret_or_mtls_is_fine() {
        let listen = addr("0.0.0.0:7700");
        assert_eq!(check_exposure(listen, true, false, false), Ok(None));
        assert_eq!(check_exposure(listen, false, true, false), Ok(None));
        assert_eq!(check_exposure(listen, true, true, true), Ok(None));
    }

    #[test]
    fn insecure_warns() {
        let warning = check_exposure(addr("0.0.0.0:7700"), false, false, true).unwrap().unwrap();
        assert_eq!(
            warning,
            "listening on 0.0.0.0:7700 without authentication (--insecure): anyone who can \
             reach this port can run tasks"
        );
    }
}

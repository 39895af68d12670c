//! The `v2` HMAC-SHA256 scheme, as pure functions of the secret, the server
//! called, the method path and the time (injected, so tests never sleep).
//!
//! A request carries one header, [`HEADER`]:
//!
//! ```text
//! x-cluster-auth: v2:<unix_millis>:<nonce>:<mac>
//! ```
//!
//! where `<unix_millis>` is the sender's clock in decimal milliseconds since
//! the Unix epoch, `<nonce>` is 16 random bytes as 32 lowercase hex digits,
//! and `<mac>` is 64 lowercase hex digits of
//!
//! ```text
//! HMAC-SHA256(secret, "v2:<unix_millis>:<nonce>:<authority>:<method path>")
//! ```
//!
//! The authority is the call's HTTP/2 `:authority`, the `host:port` the
//! caller dialled, in lowercase (`worker-1:35000`, `127.0.0.1:7700`); the
//! method path is the gRPC path of the call, e.g.
//! `/cluster.v1.ClientService/Submit`. Any language can produce it.
//!
//! The receiver checks, in order: the header is there and well-formed; the
//! MAC matches (constant-time) for the call's own authority and path; the
//! authority is one of the server's names, when it was told them
//! ([`Verifier::with_server_names`]); the timestamp is within the window
//! (default ±30 s) of its own clock; the nonce was not seen in that window.
//! So the secret never travels, a header is good for one call of one method
//! on one server within the window, and a wrong secret is told apart from a
//! wrong clock. The MAC authenticates the caller, not the message body: use
//! TLS as well where the network itself is not trusted.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::replay::ReplayCache;
use crate::Secret;

/// The request header (gRPC metadata key) that carries the credentials.
pub const HEADER: &str = "x-cluster-auth";
/// The scheme version, the first field of the header. (`v1` did not cover
/// the server called, so a header could be replayed to another server.)
pub const VERSION: &str = "v2";
/// How far a request's timestamp may be from the receiver's clock.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// How many nonces a [`Verifier`] remembers at most; beyond that (that many
/// authenticated calls within twice the window) it turns calls away with
/// `RESOURCE_EXHAUSTED` rather than forget a nonce early.
pub const DEFAULT_REPLAY_CAPACITY: usize = 500_000;

pub(crate) const NONCE_LEN: usize = 16;
const MAC_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Milliseconds since the Unix epoch of `time` (0 before the epoch).
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> u64 {
    unix_millis(SystemTime::now())
}

/// The authority of every call over a Unix socket: the socket replaces the
/// host, so clients name `localhost`.
pub const LOCAL_AUTHORITY: &str = "localhost";

/// One call as the MAC sees it: the server dialled and the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// The `host:port` the caller dialled (the HTTP/2 `:authority`); case
    /// does not matter.
    pub authority: &'a str,
    /// The gRPC method path, e.g. `/cluster.v1.ClientService/Submit`.
    pub method_path: &'a str,
}

impl<'a> Call<'a> {
    /// A call of `method_path` on the server dialled as `authority`.
    pub fn new(authority: &'a str, method_path: &'a str) -> Self {
        Self { authority, method_path }
    }
}

/// A header value for `call`, now, with a fresh random nonce.
///
/// # Panics
///
/// If the operating system's random source fails.
pub fn sign(secret: &Secret, call: Call<'_>) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    sign_at(secret, call, now_millis(), nonce)
}

/// A header value for `call` at `unix_millis` with the given nonce.
/// Deterministic: for tests and other clocks.
pub fn sign_at(secret: &Secret, call: Call<'_>, unix_millis: u64, nonce: [u8; NONCE_LEN]) -> String {
    let timestamp = unix_millis.to_string();
    let nonce = hex::encode(nonce);
    let tag = mac(secret, &timestamp, &nonce, call).finalize().into_bytes();
    format!("{VERSION}:{timestamp}:{nonce}:{}", hex::encode(tag))
}

fn mac(secret: &Secret, timestamp: &str, nonce_hex: &str, call: Call<'_>) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes a key of any length");
    for part in [VERSION, ":", timestamp, ":", nonce_hex, ":"] {
        mac.update(part.as_bytes());
    }
    mac.update(call.authority.to_ascii_lowercase().as_bytes());
    mac.update(b":");
    mac.update(call.method_path.as_bytes());
    mac
}

/// Why a request was turned away. The `Display` text is what the caller
/// sees; it never holds the secret, the MAC or anything else from the
/// request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No credentials header.
    Missing,
    /// A header that does not parse as `v2:<millis>:<nonce>:<mac>`.
    Malformed,
    /// A header of the older `v1` scheme, which did not name the server.
    OldVersion,
    /// The MAC is right but the timestamp is outside the window.
    Expired {
        /// The window in force.
        window: Duration,
    },
    /// The MAC does not match: another secret, or a header made for
    /// another method or another server.
    WrongSecret,
    /// A well-signed header for a server name this server does not answer
    /// to: made for another server of the mesh.
    WrongServer {
        /// The name the call was addressed to.
        authority: String,
    },
    /// A nonce already used within the window.
    Replayed,
    /// The replay cache is full; the call may be retried.
    Overloaded,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str(
                "missing credentials: this server requires the cluster secret \
                 (--secret-file or CLUSTER_SECRET)",
            ),
            Self::Malformed => f.write_str("malformed credentials"),
            Self::OldVersion => f.write_str(
                "credentials of the old v1 scheme, which this server no longer accepts: \
                 upgrade the caller (v2 signs the server's address too)",
            ),
            Self::WrongServer { authority } => write!(
                f,
                "credentials made for another server: the call was addressed to `{authority}`, \
                 which is not one of this server's names (see --server-name)"
            ),
            Self::Expired { window } => {
                write!(f, "credentials expired or clock skew over {}", DisplayWindow(*window))
            }
            Self::WrongSecret => f.write_str("wrong secret"),
            Self::Replayed => f.write_str("replayed credentials"),
            Self::Overloaded => {
                f.write_str("too many authenticated calls within the replay window; retry shortly")
            }
        }
    }
}

impl std::error::Error for Rejection {}

impl From<Rejection> for tonic::Status {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Overloaded => tonic::Status::resource_exhausted(rejection.to_string()),
            _ => tonic::Status::unauthenticated(rejection.to_string()),
        }
    }
}

struct DisplayWindow(Duration);

impl fmt::Display for DisplayWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_millis() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

/// Checks credentials headers against one secret, remembering the nonces
/// it accepted for as long as their timestamps stay within the window.
///
/// Thread-safe; the replay cache sits behind a `std::sync::Mutex` taken only
/// inside [`Verifier::verify_at`], which never awaits.
pub struct Verifier {
    secret: Secret,
    window: Duration,
    capacity: usize,
    seen: Mutex<ReplayCache>,
    /// Lowercase `host:port` names calls must be addressed to; empty: any.
    server_names: Vec<String>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secret", &self.secret)
            .field("window", &self.window)
            .field("capacity", &self.capacity)
            .field("server_names", &self.server_names)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `secret` with the default window and replay capacity.
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            window: DEFAULT_WINDOW,
            capacity: DEFAULT_REPLAY_CAPACITY,
            seen: Mutex::new(ReplayCache::default()),
            server_names: Vec::new(),
        }
    }

    /// Accept only calls addressed (`:authority`) to one of `names`, the
    /// `host:port` addresses callers dial to reach this server; with none,
    /// any address is accepted (the MAC still covers the one dialled).
    pub fn with_server_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.server_names = names.into_iter().map(|name| name.as_ref().to_ascii_lowercase()).collect();
        self
    }

    /// The names calls must be addressed to (empty: any).
    pub fn server_names(&self) -> &[String] {
        &self.server_names
    }

    /// Accept timestamps up to `window` away from this server's clock.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Remember at most `capacity` nonces (see [`DEFAULT_REPLAY_CAPACITY`]).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The window in force.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Checks the header value (`None`: no header) of `call`, now.
    pub fn verify(&self, header: Option<&[u8]>, call: Call<'_>) -> Result<(), Rejection> {
        self.check(header, call, now_millis(), false)
    }

    /// [`Verifier::verify`] for a call that came over a Unix socket: it must
    /// be signed for [`LOCAL_AUTHORITY`], the name every Unix connection
    /// carries, whatever this server's network names are. (A header
    /// signed for one of those names cannot be replayed here, nor one
    /// signed here on the network.)
    pub fn verify_local(&self, header: Option<&[u8]>, call: Call<'_>) -> Result<(), Rejection> {
        self.check(header, call, now_millis(), true)
    }

    /// Checks the header value of `call` as if the clock read `now_millis`;
    /// an accepted nonce is remembered.
    pub fn verify_at(&self, header: Option<&[u8]>, call: Call<'_>, now_millis: u64) -> Result<(), Rejection> {
        self.check(header, call, now_millis, false)
    }

    fn check(
        &self,
        header: Option<&[u8]>,
        call: Call<'_>,
        now_millis: u64,
        local: bool,
    ) -> Result<(), Rejection> {
        let header = header.ok_or(Rejection::Missing)?;
        if header.starts_with(b"v1:") {
            return Err(Rejection::OldVersion);
        }
        let parsed = Parsed::parse(header).ok_or(Rejection::Malformed)?;
        mac(&self.secret, parsed.timestamp, parsed.nonce_hex, call)
            .verify_slice(&parsed.mac)
            .map_err(|_| Rejection::WrongSecret)?;
        let named = if local {
            call.authority.eq_ignore_ascii_case(LOCAL_AUTHORITY)
        } else {
            self.server_names.is_empty()
                || self.server_names.iter().any(|name| name.eq_ignore_ascii_case(call.authority))
        };
        if !named {
            return Err(Rejection::WrongServer { authority: call.authority.to_owned() });
        }
        let window = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        if parsed.unix_millis.abs_diff(now_millis) > window {
            return Err(Rejection::Expired { window: self.window });
        }
        let expires = parsed.unix_millis.saturating_add(window);
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.insert(parsed.nonce, expires, now_millis, self.capacity)
    }
}

/// A well-formed header, its MAC not yet checked.
struct Parsed<'a> {
    timestamp: &'a str,
    unix_millis: u64,
    nonce_hex: &'a str,
    nonce: [u8; NONCE_LEN],
    mac: [u8; MAC_LEN],
}

impl<'a> Parsed<'a> {
    fn parse(header: &'a [u8]) -> Option<Self> {
        let header = std::str::from_utf8(header).ok()?;
        let mut fields = header.split(':');
        let (version, timestamp, nonce_hex, mac_hex) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        if version != VERSION || fields.next().is_some() {
            return None;
        }
        if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let unix_millis = timestamp.parse().ok()?;
        Some(Self {
            timestamp,
            unix_millis,
            nonce_hex,
            nonce: lower_hex(nonce_hex)?,
            mac: lower_hex(mac_hex)?,
        })
    }
}

/// Exactly `2 * N` lowercase hex digits.
fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/cluster.v1.ClientService/Submit";
    const NOW: u64 = 1_700_000_000_000;
    const NODE: &str = "node-1:7700";

    fn secret() -> Secret {
        Secret::new("right secret").unwrap()
    }

    fn header(secret: &Secret, path: &str, at: u64, nonce: u8) -> String {
        sign_at(secret, Call::new(NODE, path), at, [nonce; NONCE_LEN])
    }

    fn check(verifier: &Verifier, header: &str, path: &str, now: u64) -> Result<(), Rejection> {
        verifier.verify_at(Some(header.as_bytes()), Call::new(NODE, path), now)
    }

    /// The test vectors of proto/README.md ("Authentication"); the Python
    /// package's tests check the same ones.
    #[test]
    fn documented_test_vectors() {
        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| i as u8);
        let secret = Secret::new("s3cret-of-the-mesh").unwrap();
        let call = Call::new("Worker-1:35000", "/cluster.v1.WorkerService/Session");
        let header = sign_at(&secret, call, 1_700_000_000_000, nonce);
        assert_eq!(
            header,
            "v2:1700000000000:000102030405060708090a0b0c0d0e0f:\
             0bfa107d517cdb040a72f2765a44c915a7ed9a8bc710f60d447efeb8ac8e831e"
        );
        assert_eq!(Verifier::new(secret).verify_at(Some(header.as_bytes()), call, 1_700_000_000_000), Ok(()));

        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| 0xff - 0x11 * i as u8);
        let secret = Secret::new("123456").unwrap();
        let call = Call::new("127.0.0.1:7700", "/cluster.v1.ClientService/Submit");
        assert_eq!(
            sign_at(&secret, call, 1_752_000_000_123, nonce),
            "v2:1752000000123:ffeeddccbbaa99887766554433221100:\
             dafa0d1063ca225ea7f6b95564ffb80025f72e2d3e35089b141d4d6e8ac902ef"
        );
    }

    #[test]
    fn header_format() {
        let h = header(&secret(), PATH, NOW, 0xab);
        let fields: Vec<&str> = h.split(':').collect();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], "v2");
        assert_eq!(fields[1], NOW.to_string());
        assert_eq!(fields[2], "ab".repeat(16));
        assert_eq!(fields[3].len(), 64);
        assert!(!h.contains("right secret"));
    }

    #[test]
    fn right_secret_is_accepted() {
        let verifier = Verifier::new(secret());
        assert_eq!(check(&verifier, &header(&secret(), PATH, NOW, 1), PATH, NOW), Ok(()));
        // Random nonces and the real clock.
        let call = Call::new(NODE, PATH);
        assert_eq!(verifier.verify(Some(sign(&secret(), call).as_bytes()), call), Ok(()));
        assert_eq!(verifier.verify(Some(sign(&secret(), call).as_bytes()), call), Ok(()));
    }

    #[test]
    fn wrong_secret_is_rejected() {
        let verifier = Verifier::new(secret());
        let other = Secret::new("wrong secret").unwrap();
        let err = check(&verifier, &header(&other, PATH, NOW, 1), PATH, NOW).unwrap_err();
        assert_eq!(err, Rejection::WrongSecret);
        assert_eq!(err.to_string(), "wrong secret");
    }

    #[test]
    fn missing_header_is_rejected() {
        let err = Verifier::new(secret()).verify_at(None, Call::new(NODE, PATH), NOW).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing credentials: this server requires the cluster secret \
             (--secret-file or CLUSTER_SECRET)"
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let verifier = Verifier::new(secret());
        let good = header(&secret(), PATH, NOW, 1);
        let upper = {
            let (head, mac) = good.rsplit_once(':').unwrap();
            format!("{head}:{}", mac.to_uppercase())
        };
        let mut bad = vec![
            String::new(),
            "garbage".to_owned(),
            good.replacen("v2", "v3", 1),
            format!("{good}:extra"),
            good.replacen(&NOW.to_string(), "-5", 1),
            good.replacen(&NOW.to_string(), "", 1),
            good.replacen(&NOW.to_string(), "99999999999999999999999", 1),
            good.replacen(&"01".repeat(16), "01", 1),
            good[..good.len() - 2].to_owned(),
            upper,
        ];
        bad.push(good.replace(':', ";"));
        for h in &bad {
            let err = check(&verifier, h, PATH, NOW).unwrap_err();
            assert_eq!(err, Rejection::Malformed, "{h:?}");
            assert_eq!(err.to_string(), "malformed credentials");
        }
        let err = verifier.verify_at(Some(b"v2:\xff"), Call::new(NODE, PATH), NOW).unwrap_err();
        assert_eq!(err, Rejection::Malformed);
        // None of these used up the nonce.
        assert_eq!(check(&verifier, &good, PATH, NOW), Ok(()));
    }

    #[test]
    fn expired_or_future_timestamps_are_rejected() {
        let verifier = Verifier::new(secret());
        let old = header(&secret(), PATH, NOW - 30_001, 1);
        let err = check(&verifier, &old, PATH, NOW).unwrap_err();
        assert_eq!(err.to_string(), "credentials expired or clock skew over 30s");
        let future = header(&secret(), PATH, NOW + 30_001, 2);
        let err = check(&verifier, &future, PATH, NOW).unwrap_err();
        assert_eq!(err, Rejection::Expired { window: DEFAULT_WINDOW });
        // The edges of the window are in.
        assert_eq!(check(&verifier, &header(&secret(), PATH, NOW - 30_000, 3), PATH, NOW), Ok(()));
        assert_eq!(check(&verifier, &header(&secret(), PATH, NOW + 30_000, 4), PATH, NOW), Ok(()));
    }

    #[test]
    fn window_is_configurable() {
        let verifier = Verifier::new(secret()).with_window(Duration::from_secs(5));
        let h = header(&secret(), PATH, NOW - 6_000, 1);
        let err = check(&verifier, &h, PATH, NOW).unwrap_err();
        assert_eq!(err.to_string(), "credentials expired or clock skew over 5s");
        let verifier = Verifier::new(secret()).with_window(Duration::from_millis(1500));
        let err = check(&verifier, &h, PATH, NOW).unwrap_err();
        assert_eq!(err.to_string(), "credentials expired or clock skew over 1500ms");
    }

    #[test]
    fn replayed_header_is_rejected() {
        let verifier = Verifier::new(secret());
        let h = header(&secret(), PATH, NOW, 1);
        assert_eq!(check(&verifier, &h, PATH, NOW), Ok(()));
        let err = check(&verifier, &h, PATH, NOW + 1_000).unwrap_err();
        assert_eq!(err.to_string(), "replayed credentials");
        // Until the header itself expires, and then it is expired.
        assert_eq!(check(&verifier, &h, PATH, NOW + 30_000), Err(Rejection::Replayed));
        assert!(matches!(check(&verifier, &h, PATH, NOW + 30_001), Err(Rejection::Expired { .. })));
    }

    #[test]
    fn header_for_another_server_is_rejected() {
        let secret = secret();
        let to_a = sign_at(&secret, Call::new("worker-a:35000", PATH), NOW, [1; NONCE_LEN]);
        // Replayed to B as is: B computes the MAC over its own address.
        let b = Verifier::new(secret.clone());
        let err = b.verify_at(Some(to_a.as_bytes()), Call::new("worker-b:35000", PATH), NOW);
        assert_eq!(err, Err(Rejection::WrongSecret));
        // Replayed to B with A's address kept: B does not answer to it.
        let b = Verifier::new(secret.clone()).with_server_names(["Worker-B:35000"]);
        let err = b.verify_at(Some(to_a.as_bytes()), Call::new("worker-a:35000", PATH), NOW).unwrap_err();
        assert_eq!(
            err.to_string(),
            "credentials made for another server: the call was addressed to `worker-a:35000`, which is \
             not one of this server's names (see --server-name)"
        );
        // A header for B's own name passes, whatever its case.
        let to_b = sign_at(&secret, Call::new("WORKER-b:35000", PATH), NOW, [2; NONCE_LEN]);
        assert_eq!(b.verify_at(Some(to_b.as_bytes()), Call::new("worker-b:35000", PATH), NOW), Ok(()));
    }

    #[test]
    fn over_a_unix_socket_only_localhost_is_taken() {
        let secret = secret();
        let b = Verifier::new(secret.clone()).with_server_names(["worker-b:35000"]);
        let local = sign(&secret, Call::new(LOCAL_AUTHORITY, PATH));
        assert_eq!(b.verify_local(Some(local.as_bytes()), Call::new("localhost", PATH)), Ok(()));
        // On the network, B's names still rule.
        let again = sign(&secret, Call::new(LOCAL_AUTHORITY, PATH));
        let err = b.verify(Some(again.as_bytes()), Call::new("localhost", PATH));
        assert!(matches!(err, Err(Rejection::WrongServer { .. })), "{err:?}");
        // A header made for B's network name is not taken on its socket.
        let network = sign(&secret, Call::new("worker-b:35000", PATH));
        let err = b.verify_local(Some(network.as_bytes()), Call::new("worker-b:35000", PATH));
        assert!(matches!(err, Err(Rejection::WrongServer { .. })), "{err:?}");
    }

    #[test]
    fn old_scheme_is_refused_with_a_reason() {
        let verifier = Verifier::new(secret());
        let old = format!("v1:{NOW}:{}:{}", "01".repeat(16), "ab".repeat(32));
        let err = check(&verifier, &old, PATH, NOW).unwrap_err();
        assert_eq!(err, Rejection::OldVersion);
        assert!(err.to_string().starts_with("credentials of the old v1 scheme"), "{err}");
    }

    #[test]
    fn header_for_another_method_is_rejected() {
        let verifier = Verifier::new(secret());
        let h = header(&secret(), "/cluster.v1.ClientService/Status", NOW, 1);
        let err = check(&verifier, &h, PATH, NOW).unwrap_err();
        assert_eq!(err, Rejection::WrongSecret);
        // The failed attempt did not burn the nonce.
        assert_eq!(check(&verifier, &h, "/cluster.v1.ClientService/Status", NOW), Ok(()));
    }

    #[test]
    fn replay_cache_forgets_expired_nonces_and_is_bounded() {
        let verifier = Verifier::new(secret()).with_replay_capacity(2);
        assert_eq!(check(&verifier, &header(&secret(), PATH, NOW, 1), PATH, NOW), Ok(()));
        assert_eq!(check(&verifier, &header(&secret(), PATH, NOW, 2), PATH, NOW), Ok(()));
        let third = header(&secret(), PATH, NOW, 3);
        let err = check(&verifier, &third, PATH, NOW).unwrap_err();
        assert_eq!(err, Rejection::Overloaded);
        assert_eq!(tonic::Status::from(err).code(), tonic::Code::ResourceExhausted);
        // Once the first two leave the window they are forgotten.
        let later = NOW + 30_001;
        let fourth = header(&secret(), PATH, later, 4);
        assert_eq!(check(&verifier, &fourth, PATH, later), Ok(()));
        assert_eq!(verifier.seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn status_is_unauthenticated_and_leaks_nothing() {
        let verifier = Verifier::new(secret());
        let other = Secret::new("other key").unwrap();
        let h = header(&other, PATH, NOW, 1);
        let status = tonic::Status::from(check(&verifier, &h, PATH, NOW).unwrap_err());
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(status.message(), "wrong secret");
        let mac = h.rsplit(':').next().unwrap();
        let shown = format!("{status:?} {verifier:?}");
        for leak in [mac, "right secret", "other key"] {
            assert!(!shown.contains(leak), "{shown}");
        }
    }
}

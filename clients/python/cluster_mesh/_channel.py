"""Dialling a coordinator or worker: URL parsing, TLS and mutual TLS, and the
signed header each call carries."""
from __future__ import annotations

import grpc

from . import auth

# The Rust servers' default limit (--max-message-bytes).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]


def split_url(url: str) -> tuple[str, bool]:
    """`http://host:port` -> ("host:port", False); `https://...` -> (..., True);
    a bare `host:port` is plaintext; `unix:PATH` (a coordinator's
    --listen-unix socket on this machine) stays as grpc names it, plaintext."""
    if url.startswith("unix:"):
        if not url[len("unix:"):].lstrip("/"):
            raise ValueError(f"`{url}` has no socket path: give unix:PATH")
        return url, False
    tls = url.startswith("https://")
    target = url.split("://", 1)[1] if "://" in url else url
    target = target.rstrip("/")
    if ":" not in target.rsplit("]", 1)[-1]:
        raise ValueError(f"`{url}` has no port: give host:port, e.g. http://127.0.0.1:7700")
    return target, tls


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class Dialer:
    """How to reach one server: its target, TLS settings and secret.
    `metadata(method)` is the signed header for one call."""

    def __init__(self, url: str, secret: bytes | None = None, tls_ca: str | None = None,
                 tls_client_cert: str | None = None, tls_client_key: str | None = None,
                 tls_domain: str | None = None):
        self.target, https = split_url(url)
        unix = url.startswith("unix:")
        # Over a Unix socket the Rust client names the server `localhost`;
        # the signature covers that name.
        self.authority = "localhost" if unix else self.target
        self.secret = secret
        # As the Rust dialer: https:// is TLS, a bare host:port takes TLS when
        # a CA is given, and an explicit http:// stays plaintext (allowed
        # with a CA on loopback only, e.g. an embedded local worker).
        explicit_http = url.startswith("http://") or unix
        self.tls = https or (tls_ca is not None and not explicit_http)
        self.client_cert = tls_client_cert is not None
        self.ca = tls_ca
        self.expected_name = tls_domain or self.target.rsplit(":", 1)[0].strip("[]")
        if tls_ca is not None and explicit_http and not unix and not _is_loopback(self.target):
            raise ValueError("an http:// address dials in plaintext, but tls_ca asks for TLS: use https://")
        self._creds = None
        self._options = list(_OPTIONS) + [("grpc.default_authority", self.authority)]
        if self.tls:
            self._creds = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca) if tls_ca else None,
                private_key=_read(tls_client_key) if tls_client_key else None,
                certificate_chain=_read(tls_client_cert) if tls_client_cert else None,
            )
            if tls_domain:
                self._options.append(("grpc.ssl_target_name_override", tls_domain))

    def channel(self) -> grpc.Channel:
        if self._creds is not None:
            return grpc.secure_channel(self.target, self._creds, options=self._options)
        return grpc.insecure_channel(self.target, options=self._options)

    def explain(self, code: grpc.StatusCode, details: str) -> str | None:
        """What to do about a connection that failed at the TLS or HTTP/2
        level, where grpc's own words ("Socket closed", "Unwrap failed
        (TSI_DATA_CORRUPTED)") do not say; None for any other failure."""
        if code != grpc.StatusCode.UNAVAILABLE or "failed to connect" not in details:
            return None
        if not self.tls:
            if any(sign in details for sign in _CLOSED):
                return (f"{self.target} closed the connection instead of answering plaintext HTTP/2: "
                        "if it serves TLS, use an https:// address and tls=TLS(ca=...)")
            return None
        if "WRONG_VERSION_NUMBER" in details:
            return f"{self.target} did not answer TLS: if it serves plaintext, use an http:// address without tls"
        if "Hostname Verification" in details or "not in peer certificate" in details:
            return (f"the certificate of {self.target} does not name {self.expected_name}: dial a name it has, "
                    "or give that name as TLS(domain=...)")
        if "CERTIFICATE_VERIFY_FAILED" in details:
            trusted = f"the CA in {self.ca}" if self.ca else "the system's CAs (no TLS(ca=...) given)"
            return f"the certificate of {self.target} is not signed by {trusted}"
        if "CERTIFICATE_REQUIRED" in details or any(sign in details for sign in _CLOSED + _BAD_RECORD):
            # A server that wants a client certificate finishes the TLS 1.3
            # handshake and then sends an alert, which grpc reports as a
            # corrupted record or a closed socket.
            if not self.client_cert:
                return (f"{self.target} closed the TLS connection: it likely requires a client certificate "
                        "(mutual TLS), and none was given: pass tls=TLS(ca=..., cert=..., key=...) with a "
                        "certificate signed by the CA of its --tls-client-ca")
            return (f"{self.target} closed the TLS connection: it likely does not accept this client "
                    "certificate (mutual TLS): is it signed by the CA of the server's --tls-client-ca, "
                    "and still valid?")
        return None

    def metadata(self, method: str):
        if self.secret is None:
            return ()
        return ((auth.HEADER, auth.sign(self.secret, self.authority, method)),)


# How grpc words a connection the server closed, and a TLS alert it could not read.
_CLOSED = ("Socket closed", "Connection reset", "Broken pipe")
_BAD_RECORD = ("TSI_DATA_CORRUPTED",)


def _is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")

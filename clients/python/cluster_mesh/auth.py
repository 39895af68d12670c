"""The `x-cluster-auth` header, scheme v2 (see proto/README.md, "Authentication").

    x-cluster-auth: v2:<unix millis>:<32 hex nonce>:<64 hex HMAC-SHA256>

The HMAC is keyed with the secret's bytes and covers
`v2:<millis>:<nonce>:<authority in lowercase>:<method path>`, where the
authority is the `host:port` the caller dialled (the HTTP/2 `:authority`).
A server checks, in order: the header parses; the HMAC matches for the
call's own authority and path; the authority is one of its names (when it
has any); the time is within 30 s of its clock; the nonce is new.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from collections import deque

HEADER = "x-cluster-auth"
VERSION = "v2"
WINDOW_MS = 30_000
SECRET_ENV = "CLUSTER_SECRET"
SECRET_FILE_ENV = "CLUSTER_SECRET_FILE"

_HEADER_RE = re.compile(r"v2:(0|[1-9][0-9]{0,19}):([0-9a-f]{32}):([0-9a-f]{64})")

# The texts a caller sees, the same as the Rust servers' (cluster-auth scheme.rs).
MISSING = "missing credentials: this server requires the cluster secret (--secret-file or CLUSTER_SECRET)"
MALFORMED = "malformed credentials"
OLD_VERSION = ("credentials of the old v1 scheme, which this server no longer accepts: "
               "upgrade the caller (v2 signs the server's address too)")
WRONG_SECRET = "wrong secret"
REPLAYED = "replayed credentials"


def expired(window_ms: int = WINDOW_MS) -> str:
    return f"credentials expired or clock skew over {window_ms // 1000}s" if window_ms % 1000 == 0 \
        else f"credentials expired or clock skew over {window_ms}ms"


def wrong_server(authority: str) -> str:
    return (f"credentials made for another server: the call was addressed to `{authority}`, "
            "which is not one of this server's names (see --server-name)")


class SecretError(ValueError):
    """The secret could not be loaded; the message never holds the secret."""


def secret_from_text(text: bytes | str) -> bytes:
    """The key a secret file or CLUSTER_SECRET holds: its bytes without
    trailing newlines (`\\n`, `\\r`); other whitespace is kept."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    data = data.rstrip(b"\r\n")
    if not data:
        raise SecretError("the cluster secret is empty")
    return data


def load_secret(path: str | os.PathLike | None = None) -> bytes | None:
    """The secret from `path`, else $CLUSTER_SECRET_FILE, else $CLUSTER_SECRET, else None."""
    path = path or os.environ.get(SECRET_FILE_ENV)
    if path:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise SecretError(f"cannot read secret file {path}: {e.strerror}") from None
        if not data.rstrip(b"\r\n"):
            raise SecretError(f"secret file {path} is empty: put the shared cluster secret in it")
        return secret_from_text(data)
    env = os.environ.get(SECRET_ENV)
    if env is None:
        return None
    if not env.rstrip("\r\n"):
        raise SecretError(f"{SECRET_ENV} is set but empty: set it to the shared cluster secret, or unset it")
    return secret_from_text(os.fsencode(env))


def _mac(secret: bytes, millis: str, nonce_hex: str, authority: str, method: str) -> str:
    message = f"{VERSION}:{millis}:{nonce_hex}:{authority.lower()}:{method}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(secret: bytes, authority: str, method: str, millis: int | None = None,
         nonce: bytes | None = None) -> str:
    """The header value for a call of `method` on the server dialled as
    `authority`, at `millis` (default: now) with `nonce` (default: 16 random bytes)."""
    millis = int(time.time() * 1000) if millis is None else millis
    nonce = os.urandom(16) if nonce is None else nonce
    if len(nonce) != 16:
        raise ValueError("the nonce is 16 bytes")
    nonce_hex = nonce.hex()
    return f"{VERSION}:{millis}:{nonce_hex}:{_mac(secret, str(millis), nonce_hex, authority, method)}"


class Rejected(Exception):
    """A call turned away; `str()` is the message the caller sees."""


class Verifier:
    """Checks headers against one secret, remembering accepted nonces while
    their timestamps are within the window. Thread-safe."""

    def __init__(self, secret: bytes, server_names=(), window_ms: int = WINDOW_MS, capacity: int = 500_000):
        self._secret = secret
        self.server_names = [n.lower() for n in server_names]
        self.window_ms = window_ms
        self._capacity = capacity
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._order: deque[tuple[int, str]] = deque()

    def verify_any(self, header, authorities, method: str, now_ms: int | None = None) -> None:
        """As `verify`, for a server that cannot see the call's authority:
        passes if the header was made for any of `authorities`."""
        for authority in authorities[:-1]:
            try:
                return self.verify(header, authority, method, now_ms)
            except Rejected as e:
                if str(e) != WRONG_SECRET:
                    raise
        return self.verify(header, authorities[-1] if authorities else "", method, now_ms)

    def verify(self, header: str | bytes | None, authority: str, method: str, now_ms: int | None = None) -> None:
        """Raises `Rejected` unless `header` is good for this call, now."""
        if header is None:
            raise Rejected(MISSING)
        if isinstance(header, bytes):
            header = header.decode("ascii", "replace")
        if header.startswith("v1:"):
            raise Rejected(OLD_VERSION)
        match = _HEADER_RE.fullmatch(header)
        if not match:
            raise Rejected(MALFORMED)
        millis, nonce, mac = match.groups()
        if not hmac.compare_digest(_mac(self._secret, millis, nonce, authority, method), mac):
            raise Rejected(WRONG_SECRET)
        if self.server_names and authority.lower() not in self.server_names:
            raise Rejected(wrong_server(authority))
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(int(millis) - now_ms) > self.window_ms:
            raise Rejected(expired(self.window_ms))
        with self._lock:
            # Forget nonces whose timestamps have left the window.
            while self._order and self._order[0][0] < now_ms - self.window_ms:
                self._seen.discard(self._order.popleft()[1])
            if nonce in self._seen:
                raise Rejected(REPLAYED)
            if len(self._seen) >= self._capacity:
                raise Rejected("too many authenticated calls within the replay window; retry shortly")
            self._seen.add(nonce)
            self._order.append((max(int(millis), now_ms), nonce))

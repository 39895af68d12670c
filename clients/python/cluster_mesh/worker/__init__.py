"""A worker that serves Python functions as task kinds.

    from cluster_mesh.worker import Worker
    worker = Worker(coordinator="http://127.0.0.1:7700", cores=2, secret_file="secret")

    @worker.kind("resize")
    def resize(image):
        ...

    if __name__ == "__main__":
        worker.run()          # until SIGTERM (drain) or SIGINT

Tasks run on exactly `cores` long-lived processes: modules are imported
once per process, not per task. Or from the command line:
`python -m cluster_mesh.worker --coordinator URL --module mytasks`.
"""
from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import os
import secrets
import signal
import sys
import threading
import time

import grpc

from .. import __version__, auth
from .._channel import MAX_MESSAGE_BYTES, Dialer
from .._proto import worker_pb2 as wpb
from .._proto import worker_pb2_grpc
from ..client import TLS
from ..codec import CODECS
from ..pycall import KIND as PY_CALL
from . import _register
from ._session import WorkerServicer
from ._slots import Slots

log = logging.getLogger("cluster_mesh.worker")

KIND_ATTR = "__cluster_kind__"


def kind(name: str | None = None, codec: str = "json"):
    """Marks a module-level function as a task kind (default name: the
    function's); `python -m cluster_mesh.worker --module M` serves M's kinds."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec `{codec}`; one of {', '.join(CODECS)}")

    def mark(func):
        setattr(func, KIND_ATTR, (name or func.__name__, codec))
        return func
    return mark


def kinds_of(module) -> dict:
    """The kinds a module marks with @kind; if it marks none, each public
    function it defines, by its name."""
    marked = {}
    for value in vars(module).values():
        spec = getattr(value, KIND_ATTR, None)
        if callable(value) and spec is not None:
            marked[spec[0]] = (value, spec[1])
    if marked:
        return marked
    return {name: (value, "json") for name, value in vars(module).items()
            if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
            and not isinstance(value, type)}


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Worker:
    """A worker node. `coordinator`: URL to register with (optional: a
    coordinator may also dial `listen` from its --worker list).
    `advertise`: the host[:port] the coordinator dials back (default: the
    listen host). Calls are accepted only if signed for one of
    `server_names` (default: the advertised address, else the bound one). `allow_code`: also serve `py-call` (shipped functions,
    Parallel Python's submit); needs a secret or mutual TLS."""

    def __init__(self, coordinator: str | None = None, listen: str = "127.0.0.1:0", cores: int | None = None, *,
                 advertise: str | None = None, secret_file=None, secret: bytes | str | None = None,
                 tls: TLS | None = None, tls_cert=None, tls_key=None, tls_client_ca=None,
                 weight: float = 1.0, labels: dict | None = None, name: str = "", modules=(),
                 allow_code: bool = False, heartbeat_ms: int = 500, drain_grace_ms: int = 30_000,
                 max_message_bytes: int = MAX_MESSAGE_BYTES, insecure: bool = False, server_names=()):
        self.coordinator, self.listen = coordinator, listen
        self.cores = cores or os.cpu_count() or 1
        if self.cores < 1:
            raise ValueError("cores must be at least 1")
        self._advertise_arg = advertise
        self.secret = auth.secret_from_text(secret) if secret is not None else auth.load_secret(secret_file)
        self._tls = tls or TLS()
        self._server_tls = (tls_cert, tls_key, tls_client_ca)
        self.weight, self.labels, self.name = weight, dict(labels or {}), name
        self.modules = list(modules)
        self.allow_code = allow_code
        self.heartbeat_s = heartbeat_ms / 1000
        self.drain_grace_s = drain_grace_ms / 1000
        self.max_message_bytes = max_message_bytes
        self.insecure = insecure
        self._server_names = list(server_names)
        self.kinds: dict = {}
        self.phase = "new"
        self.sessions_changed = threading.Condition()
        self.open_sessions = 0
        self._sessions: dict = {}
        self.advertise = None
        self.verifier = None
        self.address = None
        self._server = None
        self.slots = None
        self._stopped = threading.Event()

    def kind(self, name: str | None = None, codec: str = "json"):
        """Decorator: serve the function as kind `name` (default: its name).
        It takes one input value and returns one, both in `codec`."""
        mark = kind(name, codec)

        def register(func):
            mark(func)
            self.kinds[getattr(func, KIND_ATTR)[0]] = (func, codec)
            return func
        return register

    # -- life -------------------------------------------------------------

    def _check_exposure(self, host):
        has_mtls = self._server_tls[2] is not None
        if self.allow_code and self.secret is None and not has_mtls:
            raise SystemExit("refusing --allow-code without authentication: shipped code would run for anyone "
                             "who can reach this port. Set a shared secret with --secret-file PATH (or "
                             "CLUSTER_SECRET), or require client certificates with --tls-client-ca.")
        if not _is_loopback(host) and self.secret is None and not has_mtls and not self.insecure:
            raise SystemExit(f"refusing to listen on {self.listen} without authentication: anyone who can reach "
                             "this port could run tasks. Set a shared secret with --secret-file PATH (or "
                             "CLUSTER_SECRET), or require client certificates with --tls-client-ca, or pass "
                             "--insecure to run open on a trusted network.")

    def start(self) -> "Worker":
        """Starts the processes (imports done), the server and registration."""
        host, _, port = self.listen.rpartition(":")
        self._check_exposure(host)
        kinds = dict(self.kinds)
        if not kinds and not self.allow_code:
            raise SystemExit("this worker serves no kinds: register functions with @worker.kind, "
                             "give --module, or --allow-code for shipped functions")
        served = sorted(kinds) + ([PY_CALL] if self.allow_code else [])
        self.slots = Slots(self.cores, kinds, self.modules, self.allow_code, self.max_message_bytes - 1024,
                           self._completed)
        self.slots.start()
        options = [("grpc.max_receive_message_length", self.max_message_bytes),
                   ("grpc.max_send_message_length", self.max_message_bytes),
                   # The coordinator pings at its heartbeat timeout; never
                   # answer that with GOAWAY.
                   ("grpc.http2.min_ping_interval_without_data_ms", 1000),
                   ("grpc.http2.max_ping_strikes", 0),
                   ("grpc.keepalive_permit_without_calls", 1),
                   ("grpc.so_reuseport", 0)]
        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=32,
                                                                         thread_name_prefix="cluster-rpc"),
                                   options=options)
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerServicer(self), self._server)
        cert, key, client_ca = self._server_tls
        if cert:
            creds = grpc.ssl_server_credentials([(open(key, "rb").read(), open(cert, "rb").read())],
                                                root_certificates=open(client_ca, "rb").read() if client_ca else None,
                                                require_client_auth=client_ca is not None)
            bound = self._server.add_secure_port(self.listen, creds)
        else:
            bound = self._server.add_insecure_port(self.listen)
        if not bound:
            raise SystemExit(f"cannot listen on {self.listen}")
        self.address = f"{host}:{bound}"
        if self.coordinator:
            adv = self._advertise_arg or (host if host not in ("0.0.0.0", "[::]", "") else None)
            if adv is None:
                raise SystemExit("--coordinator needs --advertise: the address the coordinator dials back")
            h, _, p = adv.rpartition(":")
            self.advertise = adv if (h and p.isdigit() and p != "0") else f"{h or adv}:{bound}"
        self.server_names = self._server_names or [self.advertise or self.address]
        self.verifier = auth.Verifier(self.secret) if self.secret is not None else None
        self.info = wpb.WorkerInfo(cores=self.cores, weight=self.weight, labels=self.labels,
                                   version=f"cluster-mesh-python {__version__}", name=self.name,
                                   kinds=served, worker_id=secrets.token_hex(16))
        self.phase = "serving"
        self._server.start()
        # The tests, like the Rust binaries', read this line for the port.
        print(f"cluster-mesh-worker listening on {self.address}", flush=True)
        log.info("serving %s on %d processes", ", ".join(served), self.cores)
        if self.coordinator:
            dialer = Dialer(self.coordinator, self.secret, self._tls.ca, self._tls.cert, self._tls.key,
                            self._tls.domain)
            threading.Thread(target=_register.run, args=(self, dialer), name="cluster-register",
                             daemon=True).start()
        return self

    def run(self):
        """Starts and serves until SIGTERM (drain, then exit) or SIGINT."""
        self.start()
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=self.drain, daemon=True).start())
        signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=self.stop, daemon=True).start())
        while not self._stopped.wait(0.5):
            pass

    def drain(self, grace: float | None = None) -> int:
        """Takes no new tasks, hands unstarted ones back, lets running ones
        finish (up to `grace` s) and delivers their results, then stops.
        Returns the tasks still running when the grace ended."""
        grace = self.drain_grace_s if grace is None else grace
        with self.sessions_changed:
            if self.phase != "serving":
                return 0
            self.phase = "draining"
            self.sessions_changed.notify_all()
            sessions = list(self._sessions.values())
        log.info("draining: finishing running tasks (up to %.0f s)", grace)
        for session in sessions:
            returned = self.slots.take_session(session.id)
            session.send(wpb.WorkerMessage(draining=wpb.DrainNotice(returned=returned)))
        give_up = time.monotonic() + grace
        while self.slots.busy() and time.monotonic() < give_up:
            time.sleep(0.01)
        left = self.slots.busy()
        self.stop()
        return left

    def stop(self):
        """Ends every session and stops serving now."""
        with self.sessions_changed:
            self.phase = "closing"
            self.sessions_changed.notify_all()
            sessions = list(self._sessions.values())
        for session in sessions:
            session.end()
        if self._server is not None:
            self._server.stop(grace=2).wait()
        if self.slots is not None:
            self.slots.stop()
        self._stopped.set()

    # -- called by sessions -------------------------------------------------

    def session_opened(self, session):
        with self.sessions_changed:
            self._sessions[session.id] = session
            self.open_sessions += 1
            self.sessions_changed.notify_all()

    def session_closed(self, session):
        with self.sessions_changed:
            if self._sessions.pop(session.id, None) is not None:
                self.open_sessions -= 1
            self.sessions_changed.notify_all()

    def _completed(self, sid, completion):
        session = self._sessions.get(sid)
        if session is not None:
            session.send(completion)

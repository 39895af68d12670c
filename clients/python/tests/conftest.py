"""Real processes on 127.0.0.1, port 0: the Rust binaries from target/debug
(or $CLUSTER_BIN_DIR) and Python workers. Each test gets its own temporary
directory and processes, killed at its end."""
from __future__ import annotations

import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN_DIR = pathlib.Path(os.environ.get("CLUSTER_BIN_DIR", REPO / "target" / "debug"))
HERE = pathlib.Path(__file__).resolve().parent
DEADLINE = 60.0  # for anything to happen that should

# A secret or coordinator in the developer's shell must not change a test.
for _name in [n for n in os.environ if n.startswith("CLUSTER_") and n != "CLUSTER_BIN_DIR"]:
    del os.environ[_name]


def wait_for(condition, what: str, deadline: float = DEADLINE):
    """Polls `condition` until it returns a true value (returned), or fails
    after `deadline` seconds naming `what`."""
    give_up = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what}")
        time.sleep(0.01)


class Proc:
    """A child process whose first stdout line is `NAME listening on ADDR`."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTER_")}
        clean.update(env or {})
        clean.setdefault("RUST_LOG", "info")
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(log_path, "wb"),
                                      stdin=subprocess.DEVNULL, env=clean, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        try:
            first = lines.get(timeout=DEADLINE)
        except queue.Empty:
            first = None
        prefix = f"{name} listening on "
        if not first or not first.startswith(prefix):
            self.kill()
            raise AssertionError(f"{name} printed {first!r}, not its address; log:\n{self.log()}")
        self.addr = first[len(prefix):].strip()
        self.url = f"http://{self.addr}"

    def _pump(self, lines):
        for line in self.popen.stdout:
            lines.put(line)
        lines.put(None)

    def log(self) -> str:
        return pathlib.Path(self.log_path).read_text(errors="replace")

    def signal(self, sig):
        self.popen.send_signal(sig)

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=DEADLINE)


class Mesh:
    """Starts processes for one test and kills them all at its end."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.procs: list[Proc] = []
        self.secret_file = tmp_path / "secret"
        self.secret_file.write_text("test secret of the mesh\n")

    def _start(self, name, argv, env=None):
        proc = Proc(name, argv, self.tmp / f"{name}-{len(self.procs)}.log", env)
        if "--tls-cert" in argv:
            proc.url = f"https://{proc.addr}"
        self.procs.append(proc)
        return proc

    def _secret(self, secret):
        return ["--secret-file", str(self.secret_file)] if secret else []

    # `secret=False`: no shared secret (mutual TLS alone authenticates).
    def coordinator(self, *args, secret=True, listen="127.0.0.1:0"):
        return self._start("cluster-coordinator", [str(BIN_DIR / "cluster-coordinator"), "--listen", listen,
                                                   *self._secret(secret), *args])

    def rust_worker(self, coordinator, *args, secret=True):
        return self._start("cluster-worker", [str(BIN_DIR / "cluster-worker"), "--listen", "127.0.0.1:0",
                                              "--coordinator", coordinator.url, "--advertise", "127.0.0.1",
                                              *self._secret(secret), *args])

    # `coordinator=None`: no registration (a coordinator dials it from its --worker list).
    def python_worker(self, coordinator, *args, secret=True):
        env = {"PYTHONPATH": str(HERE)}  # the tests' task modules
        register = ["--coordinator", coordinator.url] if coordinator is not None else []
        return self._start("cluster-mesh-worker", [sys.executable, "-m", "cluster_mesh.worker", *register,
                                                   *self._secret(secret), *args], env)

    def cluster(self, coordinator, **kw):
        from cluster_mesh import Cluster
        kw.setdefault("secret_file", str(self.secret_file))
        return Cluster(coordinator.url, **kw)

    def wait_active(self, cluster, n):
        wait_for(lambda: sum(1 for w in cluster.status().workers if w.state == 2) == n, f"{n} active workers")

    def close(self):
        for proc in reversed(self.procs):
            proc.kill()


@pytest.fixture
def mesh(tmp_path):
    if not (BIN_DIR / "cluster-coordinator").exists():
        pytest.fail(f"{BIN_DIR}/cluster-coordinator is missing: run `cargo build --workspace --bins` first")
    m = Mesh(tmp_path)
    yield m
    m.close()


SEED_INPUTS = [500000, 500100, 500200, 500300, 500400, 500500, 500600, 500700] * 2
SEED_SUMS = [9914236195, 9917236483, 9922237979, 9926740220, 9930743046, 9934746636, 9938250425, 9941254397] * 2

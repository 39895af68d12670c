"""Parallel Python's API on the mesh: change `import pp` to
`import cluster_mesh.pp as pp` and a pp program runs its functions on the
mesh's Python workers (those started with `--allow-code`).

    job_server = pp.Server(ppservers=(...), secret="123456")
    job = job_server.submit(sum_primes, (100,), (isprime,), ("math",))
    job()                    # 1060
    job_server.print_stats()

The coordinator comes from `coordinator=` or $CLUSTER_COORDINATOR. The
workers join the coordinator themselves, so `ppservers` is not dialled (it
is only kept for `get_active_nodes`). `secret` is the cluster's shared
secret; without it the secret comes from $CLUSTER_SECRET_FILE or
$CLUSTER_SECRET. Functions travel by their source (`inspect.getsource`),
with their `depfuncs` and `modules`, as in pp; arguments and results are
pickled. A result that is not plain data is refused unless
`trust_results=True` (unpickling it could run a worker's code here). As in
pp, a job whose function raised prints the error and returns None.
"""
from __future__ import annotations

import atexit
import collections
import os
import sys
import threading
import time

from . import pycall
from .client import TLS, Cluster

__version__ = "1.6.4-cluster-mesh"


class _Job:
    """pp's job: call it for the result (waits); a failure prints and gives None."""

    def __init__(self, server, job, callback, callbackargs, group):
        self._server, self._job = server, job
        self._callback, self._callbackargs, self.group = callback, callbackargs, group
        self._value, self._finished = None, False
        self._lock = threading.Lock()

    def finished(self) -> bool:
        return self._finished or self._job.done()

    def __call__(self, raw_result=False):
        with self._lock:
            if not self._finished:
                self._finish()
        return self._value

    def _finish(self):
        try:
            outcome = self._job.outcome()
        except Exception as e:  # the stream to the coordinator failed
            print(f"An error has occurred during the function execution: {e}", file=sys.stderr)
            self._finished = True
            return
        self._server._account(outcome)
        if outcome.error is not None:
            print(f"An error has occurred during the function execution\n{outcome.error.message}", file=sys.stderr)
        else:
            self._value = outcome.value
        self._finished = True
        if self._callback is not None:
            self._callback(*(tuple(self._callbackargs) + (self._value,)))


class Server:
    """pp.Server on a cluster coordinator."""

    def __init__(self, ncpus="autodetect", ppservers=(), secret=None, restart=False, proto=2,
                 socket_timeout=3600, *, coordinator=None, tls: TLS | None = None, trust_results=False):
        url = coordinator or os.environ.get("CLUSTER_COORDINATOR")
        if not url:
            raise RuntimeError("cluster_mesh.pp needs a coordinator: set CLUSTER_COORDINATOR=http://HOST:7700 "
                               "or pass coordinator=...")
        self.ppservers = tuple(ppservers)
        self._cluster = Cluster(url, tls=tls, secret=secret, trust_results=trust_results, name="pp")
        self._start = time.time()
        self._lock = threading.Lock()
        self._stats = collections.OrderedDict()  # worker -> [jobs, seconds]
        self._jobs: list[_Job] = []
        self._ncpus = ncpus
        self._destroyed = False
        # Closed before the interpreter tears down, as pp's servers were.
        atexit.register(self.destroy)

    def submit(self, func, args=(), depfuncs=(), modules=(), callback=None, callbackargs=(),
               group="default", globals=None):
        """Runs func(*args) on a worker; returns the job (call it for the result)."""
        data = pycall.pack(func, args, depfuncs, modules)
        job = _Job(self, self._cluster.submit(pycall.KIND, data, codec="py-call"), callback, callbackargs, group)
        with self._lock:
            self._jobs.append(job)
        return job

    def wait(self, group=None):
        """Waits for every job (of `group`) to finish."""
        with self._lock:
            jobs = [j for j in self._jobs if group is None or j.group == group]
        for job in jobs:
            job()

    def get_ncpus(self) -> int:
        """Cores of the cluster's active workers."""
        return sum(w.cores for w in self._cluster.status().workers if w.state == 2)

    def set_ncpus(self, ncpus="autodetect"):
        self._ncpus = ncpus  # the cluster decides; kept for pp programs that call it

    def get_active_nodes(self) -> dict:
        return {w.address: w.cores for w in self._cluster.status().workers if w.state == 2}

    def _account(self, outcome):
        with self._lock:
            entry = self._stats.setdefault(outcome.worker or "?", [0, 0.0])
            entry[0] += 1
            entry[1] += outcome.run_micros / 1e6

    def get_stats(self) -> dict:
        with self._lock:
            return {worker: tuple(v) for worker, v in self._stats.items()}

    def print_stats(self):
        """pp's statistics table: jobs per worker, share, job time sum and
        time per job, then the time since the server was made."""
        self.wait()
        with self._lock:
            rows = list(self._stats.items())
        total = sum(jobs for _, (jobs, _) in rows) or 1
        print("Job execution statistics:")
        print(" job count | % of all jobs | job time sum | time per job | job server")
        for worker, (jobs, seconds) in sorted(rows):
            print(f"{jobs:10d} | {100.0 * jobs / total:13.2f} | {seconds:12.4f} | {seconds / jobs:12.6f} | {worker}")
        print(f"Time elapsed since server creation {time.time() - self._start:.4f}")
        print(f"{sum(1 for j in self._jobs if not j.finished())} active tasks, {self.get_ncpus()} cores")
        print()

    def destroy(self):
        """Ends the connection (after the results of submitted jobs)."""
        if not self._destroyed:
            self._destroyed = True
            self._cluster.close()

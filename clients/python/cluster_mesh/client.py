"""The client: run tasks on a cluster from Python.

    from cluster_mesh import Cluster
    with Cluster("http://127.0.0.1:7700", secret_file="secret") as cluster:
        sums = cluster.map("sum-primes", [100, 500000])     # [1060, 9914236195]
        job = cluster.submit("sum-primes", 100)
        job()                                               # 1060
"""
from __future__ import annotations

import dataclasses
import itertools
import queue
import threading

import grpc

from . import auth
from . import codec as _codec
from ._small import SmallJobs
from ._channel import MAX_MESSAGE_BYTES, Dialer
from ._proto import client_pb2 as cpb
from ._proto import client_pb2_grpc
from ._proto import tasks_pb2 as pb

SUBMIT = "/cluster.v1.ClientService/Submit"
STATUS = "/cluster.v1.ClientService/Status"
CANCEL = "/cluster.v1.ClientService/Cancel"

# Tasks per SubmitRequest, and bytes, under the coordinator's message limit.
BATCH_TASKS = 4096
BATCH_BYTES = MAX_MESSAGE_BYTES // 2


class TaskError(Exception):
    """A task failed. `code` is the ErrorCode number, `code_name` its name
    (e.g. "TASK_FAILED"), `message` the reason the worker or coordinator gave."""

    def __init__(self, task_id: int, code: int, message: str, worker: str = "", attempts: int = 0):
        self.task_id, self.code, self.message = task_id, code, message
        self.worker, self.attempts = worker, attempts
        name = pb.ErrorCode.Name(code) if code in pb.ErrorCode.values() else str(code)
        self.code_name = name.removeprefix("ERROR_CODE_")
        super().__init__(f"task {task_id} failed: {self.code_name}: {message}")


class ClusterError(Exception):
    """A call to the coordinator failed as a whole (refused, unreachable, the
    job was cancelled). `code` is the grpc.StatusCode, `details` its message,
    `hint` what to do when grpc's words do not say (a plaintext address for a
    TLS server, a missing client certificate), else None."""

    def __init__(self, code: grpc.StatusCode, details: str, hint: str | None = None):
        self.code, self.details, self.hint = code, details, hint
        super().__init__(f"{code.name}: {hint} ({details})" if hint else f"{code.name}: {details}")


def _rpc_error(error: grpc.RpcError, dialer: Dialer) -> ClusterError:
    code, details = error.code(), error.details() or ""
    return ClusterError(code, details, dialer.explain(code, details))


@dataclasses.dataclass
class TLS:
    """TLS settings: `ca` to trust (PEM path), `cert`/`key` for mutual TLS,
    `domain` when the certificate names the server otherwise than the URL."""
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    domain: str | None = None


@dataclasses.dataclass
class Outcome:
    """One task's result as it came back: `value` or `error`, and where and how long it ran."""
    task_id: int
    value: object = None
    error: TaskError | None = None
    worker: str = ""
    run_micros: int = 0
    attempts: int = 0

    def get(self):
        if self.error is not None:
            raise self.error
        return self.value


def _outcome(result: pb.TaskResult, codec_name: str, unpickle) -> Outcome:
    out = Outcome(result.id, worker=result.worker, run_micros=result.run_micros, attempts=result.attempts)
    if result.WhichOneof("outcome") == "output":
        try:
            out.value = _codec.output(result.output, codec_name, unpickle)
        except Exception as e:  # a result this client cannot decode fails alone
            out.error = TaskError(result.id, pb.ERROR_CODE_TASK_FAILED, f"cannot decode the result: {e}",
                                  result.worker, result.attempts)
    else:
        err = result.error
        out.error = TaskError(result.id, err.code, err.message, result.worker, result.attempts)
    return out


def _incomplete() -> ClusterError:
    return ClusterError(grpc.StatusCode.UNKNOWN, "the result stream ended before the job's summary")


def batches(tasks, first_options=None):
    """SubmitRequests of at most BATCH_TASKS tasks and about BATCH_BYTES each;
    the first carries the job options."""
    options = first_options
    batch, size = [], 0
    for task in tasks:
        n = task.ByteSize()
        if batch and (len(batch) >= BATCH_TASKS or size + n > BATCH_BYTES):
            yield cpb.SubmitRequest(options=options, tasks=batch)
            options, batch, size = None, [], 0
        batch.append(task)
        size += n
    if batch or options is not None:
        yield cpb.SubmitRequest(options=options, tasks=batch)


class Job:
    """A submitted task's future, as Parallel Python's job: call it to get
    the value (waiting if need be); a failed task raises TaskError."""

    def __init__(self, task_id: int):
        self.task_id = task_id
        self._done = threading.Event()
        self._outcome: Outcome | None = None
        self._failure: Exception | None = None

    def _set(self, outcome: Outcome):
        self._outcome = outcome
        self._done.set()

    def _fail(self, error: Exception):
        self._failure = error
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def outcome(self, timeout: float | None = None) -> Outcome:
        if not self._done.wait(timeout):
            raise TimeoutError(f"task {self.task_id} has no result after {timeout} s")
        if self._failure is not None:
            raise self._failure
        return self._outcome

    def result(self, timeout: float | None = None):
        return self.outcome(timeout).get()

    __call__ = result


class _SubmitStream:
    """One long-lived Submit stream for `Cluster.submit`: tasks go out in
    batches of whatever is waiting, results come back to their Job."""

    def __init__(self, cluster: "Cluster", name: str):
        self._cluster = cluster
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._jobs: dict[int, tuple[Job, str]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.broken: Exception | None = None
        options = cpb.JobOptions(name=name)
        self._call = cluster._stub.Submit(self._requests(options), metadata=cluster._dialer.metadata(SUBMIT))
        self._reader = threading.Thread(target=self._read, name="cluster-submit-reader", daemon=True)
        self._reader.start()

    def _requests(self, options):
        yield cpb.SubmitRequest(options=options)
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, size, end = [first], first.ByteSize(), False
            while len(batch) < BATCH_TASKS and size < BATCH_BYTES:
                try:
                    task = self._queue.get_nowait()
                except queue.Empty:
                    break
                if task is None:
                    end = True
                    break
                batch.append(task)
                size += task.ByteSize()
            yield cpb.SubmitRequest(tasks=batch)
            if end:
                return

    def submit(self, kind: str, value, codec_name: str) -> Job:
        with self._lock:
            if self.broken is not None:
                raise self.broken
            task_id = next(self._ids)
            job = Job(task_id)
            self._jobs[task_id] = (job, codec_name)
        self._queue.put(_codec.task(task_id, kind, value, codec_name))
        return job

    def _read(self):
        unpickle = self._cluster._unpickle
        error: Exception = ClusterError(grpc.StatusCode.UNAVAILABLE, "the submission stream ended")
        try:
            for response in self._call:
                if response.WhichOneof("event") == "results":
                    for result in response.results.results:
                        with self._lock:
                            entry = self._jobs.pop(result.id, None)
                        if entry is not None:
                            entry[0]._set(_outcome(result, entry[1], unpickle))
        except grpc.RpcError as e:
            error = _rpc_error(e, self._cluster._dialer)
        with self._lock:
            self.broken = error
            jobs, self._jobs = self._jobs, {}
        for job, _ in jobs.values():
            job._fail(error)

    def close(self):
        self._queue.put(None)
        self._reader.join(timeout=30)
        if self._reader.is_alive():
            self._call.cancel()


class Cluster:
    """A connection to a coordinator.

    `coordinator`: its URL (`http://host:7700`, `https://...` for TLS).
    `secret_file`: the shared secret (default: $CLUSTER_SECRET_FILE, then
    $CLUSTER_SECRET); `secret` gives it directly (bytes or str).
    `tls`: a TLS(...) for a CA, a client certificate (mutual TLS) or a domain.
    `trust_results`: unpickle any type a worker returns from pickled kinds
    (py-call, the pp module); by default only plain data is unpickled, since
    a pickle can run code on this client.
    """

    def __init__(self, coordinator: str, secret_file=None, tls: TLS | None = None, *,
                 secret: bytes | str | None = None, trust_results: bool = False, name: str = "python"):
        key = auth.secret_from_text(secret) if secret is not None else auth.load_secret(secret_file)
        tls = tls or TLS()
        self._dialer = Dialer(coordinator, key, tls.ca, tls.cert, tls.key, tls.domain)
        self._channel = self._dialer.channel()
        self._stub = client_pb2_grpc.ClientServiceStub(self._channel)
        self._unpickle = None if trust_results else _codec.safe_loads
        self._name = name
        self._stream: _SubmitStream | None = None
        self._stream_lock = threading.Lock()
        self._small = SmallJobs(
            lambda requests: self._stub.Submit(requests, metadata=self._dialer.metadata(SUBMIT)),
            lambda e: _rpc_error(e, self._dialer), _incomplete)

    # -- batches ---------------------------------------------------------

    def run(self, kind: str, inputs, codec: str = "json", *, timeout_ms: int | None = None,
            deadline_ms: int | None = None, name: str | None = None) -> list[Outcome]:
        """Runs one job of `kind` over `inputs`; returns an Outcome per input,
        in input order (failures included, not raised)."""
        tasks = (_codec.task(i, kind, value, codec) for i, value in enumerate(inputs))
        options = cpb.JobOptions(name=name or f"{self._name}:{kind}", timeout_ms=timeout_ms,
                                 deadline_ms=deadline_ms)
        return self.run_tasks(tasks, options, codec)

    def run_tasks(self, tasks, options: cpb.JobOptions | None = None, codec_name: str = "json") -> list[Outcome]:
        """Runs wire Tasks (ids 0..n-1) as one job; Outcomes in id order. A
        job of one message runs on a stream kept for such jobs."""
        requests = batches(tasks, options or cpb.JobOptions(name=self._name))
        first = next(requests)
        second = next(requests, None)
        if second is None and not self._small.unsupported:
            got = self._small.run(first)
        else:
            head = [first] if second is None else [first, second]
            got = self._run_on_own_stream(itertools.chain(head, requests))
        return [_outcome(got[i], codec_name, self._unpickle) for i in sorted(got)]

    def _run_on_own_stream(self, requests) -> dict[int, pb.TaskResult]:
        """Runs one job on a Submit stream of its own; its results by id."""
        call = self._stub.Submit(requests, metadata=self._dialer.metadata(SUBMIT))
        got: dict[int, pb.TaskResult] = {}
        summary = None
        try:
            for response in call:
                event = response.WhichOneof("event")
                if event == "results":
                    for result in response.results.results:
                        got[result.id] = result
                elif event == "summary":
                    summary = response.summary
        except grpc.RpcError as e:
            raise _rpc_error(e, self._dialer) from None
        if summary is None:
            raise _incomplete()
        return got

    def map(self, kind: str, inputs, codec: str = "json", *, return_exceptions: bool = False, **options) -> list:
        """The values of `kind` over `inputs`, in input order. A failed task
        raises its TaskError (the first in input order), unless
        `return_exceptions`, which puts the TaskError in its place."""
        outcomes = self.run(kind, inputs, codec, **options)
        if return_exceptions:
            return [o.error if o.error is not None else o.value for o in outcomes]
        return [o.get() for o in outcomes]

    # -- one at a time -----------------------------------------------------

    def submit(self, kind: str, value=None, codec: str = "json") -> Job:
        """Submits one task; returns its Job (call it for the value). Tasks
        submitted in a row travel together, many per message."""
        with self._stream_lock:
            if self._stream is None or self._stream.broken is not None:
                self._stream = _SubmitStream(self, self._name)
            stream = self._stream
        return stream.submit(kind, value, codec)

    # -- the cluster -----------------------------------------------------

    def status(self, timeout: float = 10) -> cpb.StatusResponse:
        """Workers, jobs and queue as the coordinator sees them (a StatusResponse)."""
        try:
            return self._stub.Status(cpb.StatusRequest(), metadata=self._dialer.metadata(STATUS), timeout=timeout)
        except grpc.RpcError as e:
            raise _rpc_error(e, self._dialer) from None

    def cancel(self, job_id: int, timeout: float = 10) -> int:
        """Cancels a job by id; returns how many of its tasks had no result."""
        try:
            reply = self._stub.Cancel(cpb.CancelRequest(job_id=job_id),
                                      metadata=self._dialer.metadata(CANCEL), timeout=timeout)
        except grpc.RpcError as e:
            raise _rpc_error(e, self._dialer) from None
        return reply.cancelled

    def close(self):
        """Ends the submit stream (after its tasks' results) and the connection."""
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        self._small.close()
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

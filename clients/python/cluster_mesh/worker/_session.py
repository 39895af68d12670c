"""WorkerService: the coordinator dials in and opens a session; assignments
come down, the hello, completions and heartbeats go up."""
from __future__ import annotations

import itertools
import logging
import queue
import threading

import grpc

from .. import auth
from .._proto import worker_pb2 as wpb
from .._proto import worker_pb2_grpc
from ._slots import Task

log = logging.getLogger("cluster_mesh.worker")

GET_INFO = "/cluster.v1.WorkerService/GetInfo"
SESSION = "/cluster.v1.WorkerService/Session"
PROTOCOL_VERSION = 1
_END = object()
_HEARTBEAT = wpb.WorkerMessage(heartbeat=wpb.Heartbeat())


class Session:
    """One coordinator session: its outgoing queue and heartbeat interval."""

    def __init__(self, sid, interval, budget):
        self.id = sid
        self.interval = interval
        self.budget = budget
        self.out: queue.SimpleQueue = queue.SimpleQueue()

    def send(self, message):
        self.out.put(message)

    def end(self):
        self.out.put(_END)

    def outgoing(self):
        """Messages up: completions batched under the size limit, and a
        heartbeat after `interval` of quiet."""
        carry = None
        while True:
            if carry is not None:
                item, carry = carry, None
            else:
                try:
                    item = self.out.get(timeout=self.interval)
                except queue.Empty:
                    yield _HEARTBEAT
                    continue
            if item is _END:
                return
            if not isinstance(item, wpb.Completion):
                yield item
                continue
            batch, size = [item], item.ByteSize()
            while size < self.budget:
                try:
                    nxt = self.out.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, wpb.Completion):
                    carry = nxt
                    break
                n = nxt.ByteSize()
                if size + n > self.budget:
                    carry = nxt  # starts the next message
                    break
                batch.append(nxt)
                size += n
            yield wpb.WorkerMessage(completions=wpb.CompletionBatch(completions=batch))


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(self, worker):
        self._worker = worker
        self._ids = itertools.count()

    def _check(self, context, method):
        # grpcio does not show a servicer the call's :authority, so the
        # header is checked against each name this worker answers to (its
        # advertised address, or its --server-name list, or its bound
        # address): a header made for any other server fails as a wrong MAC.
        verifier = self._worker.verifier
        if verifier is None:
            return
        header = next((v for k, v in context.invocation_metadata() if k == auth.HEADER), None)
        try:
            verifier.verify_any(header, self._worker.server_names, method)
        except auth.Rejected as e:
            log.warning("refused a call to %s: %s", method, e)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(e))

    def GetInfo(self, request, context):
        self._check(context, GET_INFO)
        return self._worker.info

    def Session(self, request_iterator, context):
        self._check(context, SESSION)
        worker = self._worker
        if worker.phase != "serving":
            context.abort(grpc.StatusCode.UNAVAILABLE, "this worker is shutting down")
        session = Session(next(self._ids), worker.heartbeat_s, worker.max_message_bytes // 2)
        context.add_callback(session.end)
        worker.session_opened(session)
        reader = threading.Thread(target=self._read, args=(session, request_iterator),
                                  name=f"cluster-session-{session.id}", daemon=True)
        try:
            yield wpb.WorkerMessage(hello=worker.info)
            reader.start()
            yield from session.outgoing()
        finally:
            worker.session_closed(session)

    def _read(self, session, requests):
        worker, slots = self._worker, self._worker.slots
        end = "closed by the coordinator"
        try:
            for message in requests:
                event = message.WhichOneof("event")
                if event == "assign":
                    tasks = message.assign.tasks
                    if worker.phase != "serving":
                        session.send(wpb.WorkerMessage(draining=wpb.DrainNotice(returned=[a.key for a in tasks])))
                        continue
                    slots.enqueue([_task(a, session.id) for a in tasks])
                elif event == "revoke":
                    keys = slots.revoke(session.id, message.revoke.keys)
                    session.send(wpb.WorkerMessage(revoked=wpb.RevokeResponse(keys=keys)))
                elif event == "cancel":
                    slots.cancel(session.id, message.cancel.keys)
                elif event == "start":
                    self._start(session, message.start)
        except grpc.RpcError as e:
            end = f"stream error: {e.code().name}"
        except Exception as e:  # nothing read off the wire may crash the worker
            end = f"error reading the session: {e!r}"
        stopped = slots.end_session(session.id)
        log.info("session %d ended (%s); %d running tasks stopped", session.id, end, stopped)
        session.end()

    def _start(self, session, start):
        if start.protocol_version != PROTOCOL_VERSION:
            log.warning("the coordinator speaks protocol %d, this worker %d", start.protocol_version, PROTOCOL_VERSION)
        if start.heartbeat_interval_ms:
            session.interval = min(session.interval, start.heartbeat_interval_ms / 1000)


def _task(assignment, sid) -> Task:
    task = assignment.task
    data = task.custom if task.WhichOneof("input") == "custom" else None
    timeout = assignment.timeout_ms / 1000 if assignment.HasField("timeout_ms") else None
    return Task(assignment.key, sid, task.kind, data, timeout)

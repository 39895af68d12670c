"""Small jobs on one kept stream (`SubmitRequest.end_of_input`, see
proto/README.md): a job whose tasks fit in one message runs on a Submit
stream kept open between jobs, so it costs no stream set-up and no new
thread; the caller's thread reads its results."""
from __future__ import annotations

import queue
import threading

import grpc

from ._proto import client_pb2 as cpb


class _NotAccepted(Exception):
    """The stream ended before the coordinator accepted the job: it never
    ran, and may go again on a new stream."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class _Stream:
    """One Submit call fed from a queue; its responses are read by the
    thread running the current job."""

    def __init__(self, open_call):
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.call = open_call(iter(self.requests.get, None))

    def half_close(self):
        self.requests.put(None)

    def close(self):
        self.half_close()
        self.call.cancel()


class SmallJobs:
    """The cluster's idle kept stream. Jobs from several threads at once
    each take a stream of their own; one is kept when they end."""

    def __init__(self, open_call, rpc_error, incomplete):
        """`open_call(requests)` starts a Submit call; `rpc_error(e)` and
        `incomplete()` make the errors the caller sees."""
        self._open_call = open_call
        self._rpc_error = rpc_error
        self._incomplete = incomplete
        self._lock = threading.Lock()
        self._idle: _Stream | None = None
        self._closed = False
        # The coordinator does not honour `end_of_input` (an older one).
        self.unsupported = False

    def run(self, request: cpb.SubmitRequest):
        """Runs a one-message job; returns its results by id."""
        request.end_of_input = True
        with self._lock:
            kept, self._idle = self._idle, None
        if kept is not None:
            try:
                return self._finish(kept, request)
            except _NotAccepted as e:
                # The kept stream had ended (a coordinator restart): the job
                # goes again on a new one, unless the cluster was closed.
                with self._lock:
                    if self._closed:
                        raise e.error from None
        try:
            return self._finish(_Stream(self._open_call), request)
        except _NotAccepted as e:
            raise e.error from None

    def _finish(self, stream: _Stream, request):
        """Sends the job and reads its events. The stream is kept only after
        the job's summary; any other way out closes it (its call cancelled,
        its request thread ended)."""
        got, accepted, reusable, finished = {}, False, True, False
        try:
            stream.requests.put(request)
            for response in stream.call:
                event = response.WhichOneof("event")
                if event == "results":
                    for result in response.results.results:
                        got[result.id] = result
                elif event == "accepted":
                    accepted = True
                    if not response.accepted.stream_reusable:
                        reusable = False
                        stream.half_close()  # the job's input ends with the stream's
                elif event == "summary":
                    finished = True
                    break
            else:
                error = self._incomplete()
        except grpc.RpcError as e:
            error = self._rpc_error(e)
        except BaseException:
            stream.close()  # e.g. KeyboardInterrupt: the job is cancelled
            raise
        if finished:
            self._after(stream, reusable)
            return got
        stream.close()
        if not accepted:
            raise _NotAccepted(error)
        raise error

    def _after(self, stream: _Stream, reusable: bool):
        """Keeps a reusable stream for the next job (unless another thread
        kept one first, or the cluster was closed); reads an older
        coordinator's stream to its end."""
        if not reusable:
            self.unsupported = True
            try:
                for _ in stream.call:
                    pass
            except grpc.RpcError:
                pass  # the job is done; only the stream's end failed
            stream.close()
            return
        with self._lock:
            if self._idle is None and not self._closed:
                self._idle, stream = stream, None
        if stream is not None:
            stream.close()

    def close(self):
        with self._lock:
            self._closed = True
            kept, self._idle = self._idle, None
        if kept is not None:
            kept.close()

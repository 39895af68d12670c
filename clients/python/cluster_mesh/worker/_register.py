"""Self-registration: ask the coordinator to dial this worker back, and ask
again whenever the worker has no session (the coordinator restarted, or
declared this worker lost), with backoff."""
from __future__ import annotations

import logging

import grpc

from .._proto import worker_pb2 as wpb
from .._proto import worker_pb2_grpc

log = logging.getLogger("cluster_mesh.worker")

REGISTER = "/cluster.v1.RegistryService/Register"
MAX_BACKOFF = 5.0


def run(worker, dialer):
    """Loops until the worker stops; `worker.sessions_changed` is a
    Condition notified when sessions open or close or the phase changes."""
    channel = dialer.channel()
    stub = worker_pb2_grpc.RegistryServiceStub(channel)
    backoff = 0.1
    cond = worker.sessions_changed
    try:
        while True:
            with cond:
                cond.wait_for(lambda: worker.open_sessions == 0 or worker.phase != "serving")
                if worker.phase != "serving":
                    return
            request = wpb.RegisterRequest(address=worker.advertise, worker_id=worker.info.worker_id)
            try:
                reply = stub.Register(request, metadata=dialer.metadata(REGISTER), timeout=15)
            except grpc.RpcError as e:
                details = e.details() or ""
                hint = dialer.explain(e.code(), details)
                log.warning("could not register with %s, retrying in %.1f s: %s: %s",
                            dialer.target, backoff, e.code().name, f"{hint} ({details})" if hint else details)
                with cond:
                    cond.wait_for(lambda: worker.phase != "serving", timeout=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            log.info("registered with %s as %s (%d cores)", dialer.target, worker.advertise, reply.cores)
            backoff = 0.1
            # The coordinator opened our session before it answered; give
            # our side a moment to see it.
            with cond:
                cond.wait_for(lambda: worker.open_sessions > 0 or worker.phase != "serving", timeout=1.0)
    finally:
        channel.close()

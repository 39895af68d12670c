"""One-message jobs share a kept Submit stream (`end_of_input`), tried
against a scripted coordinator that ends that stream at the worst moments:
a job goes again only if it was never accepted, never twice once it may
have run; and against the real coordinator, across its restart."""
import threading
from concurrent import futures

import grpc
import pytest

from cluster_mesh import Cluster, ClusterError
from cluster_mesh._proto import client_pb2 as cpb
from cluster_mesh._proto import client_pb2_grpc
from cluster_mesh._proto import tasks_pb2 as pb


class Scripted(client_pb2_grpc.ClientServiceServicer):
    """Answers each job's noop tasks itself and logs
    every job as "stream:name" and a clean end of input as
    "stream:<half-closed>". `second` is what it does with the second job of
    the first stream: "end-before-accepting", "end-after-accepting", or
    "not-reusable" (runs every job, says no stream is reusable); or
    "fail-all": every job is accepted, then its stream fails."""

    def __init__(self, second):
        self.second = second
        self.log = []
        self.streams = 0

    def Submit(self, request_iterator, context):
        stream, self.streams = self.streams, self.streams + 1
        reusable = self.second != "not-reusable"
        for on_stream, request in enumerate(request_iterator, start=1):
            self.log.append(f"{stream}:{request.options.name}")
            accepted = cpb.SubmitResponse(accepted=cpb.JobAccepted(job_id=len(self.log), stream_reusable=reusable))
            if stream == 0 and on_stream == 2 and self.second == "end-before-accepting":
                return
            yield accepted
            if stream == 0 and on_stream == 2 and self.second == "end-after-accepting":
                return
            if self.second == "fail-all":
                context.abort(grpc.StatusCode.INTERNAL, "scripted failure")
            results = [pb.TaskResult(id=t.id, output=pb.TaskOutput(noop=pb.NoopOutput())) for t in request.tasks]
            yield cpb.SubmitResponse(results=cpb.ResultBatch(results=results))
            yield cpb.SubmitResponse(summary=cpb.JobSummary(succeeded=len(results)))
        self.log.append(f"{stream}:<half-closed>")


@pytest.fixture
def scripted():
    servers = []

    def start(second):
        service = Scripted(second)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        client_pb2_grpc.add_ClientServiceServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return service, Cluster(f"http://127.0.0.1:{port}", secret_file=None)

    yield start
    for server in servers:
        server.stop(grace=None)


def one_noop(cluster, name):
    return cluster.map("noop", [None], name=name)


def test_a_job_the_ended_stream_never_accepted_goes_again_on_a_new_stream(scripted):
    service, cluster = scripted("end-before-accepting")
    with cluster:
        assert [one_noop(cluster, name) for name in ("one", "two", "three")] == [[None]] * 3
    assert service.log[:4] == ["0:one", "0:two", "1:two", "1:three"]


def test_a_job_accepted_before_its_stream_ended_is_not_run_twice(scripted):
    service, cluster = scripted("end-after-accepting")
    with cluster:
        assert one_noop(cluster, "one") == [None]
        with pytest.raises(ClusterError, match="the result stream ended before the job's summary"):
            one_noop(cluster, "two")
        assert one_noop(cluster, "three") == [None]
    assert service.log[:3] == ["0:one", "0:two", "1:three"]


def test_failed_small_jobs_leave_no_stream_or_thread_behind(scripted):
    service, cluster = scripted("fail-all")
    with cluster:
        def fail(n):
            for _ in range(n):
                with pytest.raises(ClusterError, match="scripted failure"):
                    one_noop(cluster, "failing")
        fail(3)  # the server's threads started
        before = threading.active_count()
        fail(20)
        # Each failed job's stream was closed and its request thread ended.
        assert threading.active_count() <= before + 1
    assert len(service.log) == 23


def test_a_coordinator_that_cannot_reuse_streams_gets_one_stream_per_job(scripted):
    service, cluster = scripted("not-reusable")
    with cluster:
        assert [one_noop(cluster, name) for name in ("one", "two", "three")] == [[None]] * 3
    assert service.log == ["0:one", "0:<half-closed>", "1:two", "1:<half-closed>", "2:three", "2:<half-closed>"]


def test_small_jobs_go_on_after_the_coordinator_restarts_between_them(mesh):
    coordinator = mesh.coordinator()
    mesh.rust_worker(coordinator, "--cpus", "1")
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        assert cluster.map("sum-primes", [100]) == [1060]
        coordinator.kill()
        mesh.coordinator(listen=coordinator.addr)  # the worker registers with it again
        mesh.wait_active(cluster, 1)
        assert [cluster.map("sum-primes", [n]) for n in (100, 10)] == [[1060], [17]]


def test_small_jobs_from_several_threads_at_once_each_get_their_own_results(mesh):
    coordinator = mesh.coordinator()
    mesh.rust_worker(coordinator, "--cpus", "2")
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        inputs = [10, 100, 1000, 10000]
        with futures.ThreadPoolExecutor(max_workers=4) as pool:
            sums = list(pool.map(lambda n: [cluster.map("sum-primes", [n])[0] for _ in range(25)], inputs))
        assert sums == [[17] * 25, [1060] * 25, [76127] * 25, [5736396] * 25]

"""The Python client against the Rust coordinator and workers."""
import grpc
import pytest

from cluster_mesh import Cluster, ClusterError, TaskError
from conftest import SEED_INPUTS, SEED_SUMS


def test_seed_batch_exact_sums(mesh):
    coordinator = mesh.coordinator()
    mesh.rust_worker(coordinator, "--cpus", "2")
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        assert cluster.map("sum-primes", SEED_INPUTS) == SEED_SUMS
        outcomes = cluster.run("sum-primes", [100, 10])
        assert [(o.value, o.attempts, o.error) for o in outcomes] == [(1060, 1, None), (17, 1, None)]
        assert all(o.worker for o in outcomes)
        # One at a time, as Parallel Python's jobs.
        jobs = [cluster.submit("sum-primes", n) for n in (100, 10, 2)]
        assert [job() for job in jobs] == [1060, 17, 0]


def test_a_failed_task_raises_with_its_code_and_message(mesh):
    coordinator = mesh.coordinator()
    mesh.rust_worker(coordinator, "--cpus", "1")
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        with pytest.raises(TaskError) as e:
            cluster.map("sum-primes", [100, 20000001])
        assert (e.value.task_id, e.value.code_name) == (1, "INVALID_INPUT")
        assert e.value.message == "sum-primes: n = 20000001 is above the maximum 20000000"
        got = cluster.map("sum-primes", [100, 20000001], return_exceptions=True)
        assert got[0] == 1060 and isinstance(got[1], TaskError)
        with pytest.raises(TaskError, match="INVALID_INPUT: sum-primes: n = 20000001"):
            cluster.submit("sum-primes", 20000001)()


def test_wrong_or_missing_secret_is_refused_with_the_documented_message(mesh):
    coordinator = mesh.coordinator()
    for kwargs, message in [({"secret": "not the secret"}, "wrong secret"),
                            ({"secret_file": None},
                             "missing credentials: this server requires the cluster secret "
                             "(--secret-file or CLUSTER_SECRET)")]:
        with Cluster(coordinator.url, **kwargs) as cluster:
            with pytest.raises(ClusterError) as e:
                cluster.status()
            assert (e.value.code, e.value.details) == (grpc.StatusCode.UNAUTHENTICATED, message)
            with pytest.raises(ClusterError) as e:
                cluster.map("noop", [None])
            assert (e.value.code, e.value.details) == (grpc.StatusCode.UNAUTHENTICATED, message)


def test_protocol_errors_reach_the_client(mesh):
    coordinator = mesh.coordinator()
    mesh.rust_worker(coordinator, "--cpus", "1")
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        with pytest.raises(ClusterError) as e:
            cluster.cancel(4242)
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        assert e.value.details == "no job 4242: it never existed or has already finished"
        from cluster_mesh._proto import tasks_pb2 as pb
        dup = [pb.Task(id=7, kind="noop", noop=pb.NoopInput())] * 2
        with pytest.raises(ClusterError) as e:
            cluster.run_tasks(iter(dup))
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details.startswith("task id 7 appears twice in job ")


def test_a_coordinator_on_a_unix_socket(mesh):
    socket = mesh.tmp / "coordinator.sock"
    coordinator = mesh.coordinator("--listen-unix", str(socket))
    mesh.rust_worker(coordinator, "--cpus", "2")
    # The secret is checked on the socket as on TCP.
    with Cluster(f"unix:{socket}") as stranger:
        with pytest.raises(ClusterError) as e:
            stranger.status()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with Cluster(f"unix:{socket}", secret_file=str(mesh.secret_file)) as cluster:
        mesh.wait_active(cluster, 1)
        assert cluster.map("sum-primes", SEED_INPUTS) == SEED_SUMS
        assert cluster.submit("sum-primes", 100)() == 1060
    with pytest.raises(ValueError, match="no socket path"):
        Cluster("unix:")

"""Python workers on the Rust coordinator."""
import signal

import grpc
import pytest

from cluster_mesh import TaskError, auth
from cluster_mesh._proto import tasks_pb2 as pb
from cluster_mesh._proto import worker_pb2, worker_pb2_grpc
from conftest import wait_for

MODULE = ["--module", "tasks_for_tests"]


def test_python_kinds_run_on_long_lived_processes(mesh):
    coordinator = mesh.coordinator()
    mesh.python_worker(coordinator, "--cpus", "2", *MODULE)
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        (row,) = cluster.status().workers
        assert (row.cores, row.version) == (2, "cluster-mesh-python 0.1.0")
        got = cluster.map("slow-square", range(40))
        assert [g["square"] for g in got] == [i * i for i in range(40)]
        # Exactly 2 processes served all 40, each importing the module once.
        pids = {g["pid"] for g in got}
        assert len(pids) == 2 and all(g["loaded_in"] == g["pid"] for g in got)
        assert cluster.map("square", [3, 4]) == [9, 16]


def test_failure_timeout_and_unknown_kind_are_task_errors(mesh):
    coordinator = mesh.coordinator("--max-attempts", "1")
    mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        with pytest.raises(TaskError) as e:
            cluster.submit("fail", 5)()
        assert e.value.code_name == "TASK_FAILED"
        assert e.value.message.startswith("fail: ValueError: no good: 5\nTraceback")
        outcomes = cluster.run("sleep", [30, 0], timeout_ms=300)
        assert outcomes[0].error.code_name == "TIMED_OUT", outcomes[0]
        assert outcomes[1].value == 0
        # The slot was replaced and serves on.
        assert cluster.map("square", [5]) == [25]


# Capability routing: a task goes only to a worker that advertises its kind
# (WorkerInfo.kinds), so the Python kind never reaches the Rust worker.
def test_python_worker_beside_rust_worker_each_kind_where_it_runs(mesh):
    coordinator = mesh.coordinator()
    rust = mesh.rust_worker(coordinator, "--cpus", "1")
    python = mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 2)
        tasks = []
        for i in range(100):
            tasks.append(pb.Task(id=2 * i, kind="square", custom=str(i).encode()))
            tasks.append(pb.Task(id=2 * i + 1, kind="sum-primes", sum_primes=pb.SumPrimesInput(n=i)))
        outcomes = cluster.run_tasks(iter(tasks))
        assert [o.task_id for o in outcomes] == list(range(200))  # each exactly once
        errors = [str(o.error) for o in outcomes if o.error is not None]
        assert errors == [], errors[:3]
        squares, sums = outcomes[0::2], outcomes[1::2]
        assert [o.value for o in squares] == [i * i for i in range(100)]
        primes = lambda n: sum(p for p in range(2, n) if all(p % d for d in range(2, int(p ** 0.5) + 1)))
        assert [o.value for o in sums] == [primes(i) for i in range(100)]
        assert {o.worker for o in squares} == {python.addr}
        assert {o.worker for o in sums} == {rust.addr}


def test_sigkill_of_a_python_worker_mid_batch_loses_nothing(mesh):
    coordinator = mesh.coordinator()
    victim = mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
    mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 2)
        jobs = [cluster.submit("slow-square", i) for i in range(120)]

        def victim_ran_some():
            rows = {w.address: w for w in cluster.status().workers}
            return rows[victim.addr].completed >= 5
        wait_for(victim_ran_some, "the victim to finish 5 tasks")
        victim.signal(signal.SIGKILL)
        got = [job.outcome() for job in jobs]
        assert [o.value["square"] for o in got] == [i * i for i in range(120)]
        # Tasks the victim was running ran again elsewhere.
        assert max(o.attempts for o in got) >= 1
        wait_for(lambda: any(w.state == 4 for w in cluster.status().workers), "the victim declared lost")


def test_sigterm_drains_and_delivers_running_tasks(mesh):
    coordinator = mesh.coordinator()
    leaving = mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 1)
        started = mesh.tmp / "started"
        job = cluster.submit("mark-then-sleep", {"mark": str(started), "seconds": 0.5})
        # Started, not only sent: an unstarted task would go back at the drain.
        wait_for(started.exists, "the task to start on the worker")
        queued = cluster.submit("square", 6)  # goes back unstarted, then to the next worker
        leaving.signal(signal.SIGTERM)
        assert job() == 0.5
        assert leaving.popen.wait(timeout=60) == 0
        mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
        assert queued() == 36


def test_the_worker_verifies_the_callers_header(mesh):
    coordinator = mesh.coordinator()
    worker = mesh.python_worker(coordinator, "--cpus", "1", *MODULE)
    secret = auth.load_secret(mesh.secret_file)
    path = "/cluster.v1.WorkerService/GetInfo"
    with grpc.insecure_channel(worker.addr) as channel:
        stub = worker_pb2_grpc.WorkerServiceStub(channel)
        info = stub.GetInfo(worker_pb2.GetInfoRequest(), metadata=[(auth.HEADER, auth.sign(secret, worker.addr, path))])
        assert "square" in info.kinds and "py-call" not in info.kinds and info.cores == 1
        for header, message in [(auth.sign(b"wrong", worker.addr, path), "wrong secret"),
                                (auth.sign(secret, "127.0.0.1:1", path), "wrong secret"),
                                (None, auth.MISSING)]:
            metadata = [(auth.HEADER, header)] if header else []
            with pytest.raises(grpc.RpcError) as e:
                stub.GetInfo(worker_pb2.GetInfoRequest(), metadata=metadata)
            assert (e.value.code(), e.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, message)


def test_allow_code_needs_a_secret(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "cluster_mesh.worker", "--allow-code"], capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "refusing --allow-code without authentication" in out.stderr

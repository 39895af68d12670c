#!/usr/bin/env python3
"""Throughput of the Python package on this machine (not a test).

    python clients/python/bench.py [--bin-dir target/release] [--tasks 100000] [--worker-tasks 20000]

1. client: the Python client submits `--tasks` noop tasks (one Cluster.map)
   to a Rust coordinator with one Rust worker (2 cores).
2. latency: one noop task at a time, `--latency-jobs` times, on the same
   cluster: as a one-task job (`map`, on the kept stream for small jobs) and
   as `submit(...)()` (Parallel Python's style); p50 and p99.
3. worker: a Python worker (2 processes) runs `--worker-tasks` tasks of a
   Python noop kind, submitted by the Python client, alone on a coordinator.
Throughputs are the best of --repeat runs.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
NOOP_MODULE = "from cluster_mesh.worker import kind\n\n@kind(\"py-noop\")\ndef noop(x):\n    return None\n"


def start(argv, env=None):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    if " listening on " not in line:
        p.kill()
        sys.exit(f"{argv[0]} did not start: {line!r}")
    return p, line.rsplit(" ", 1)[1].strip()


def best_rate(cluster, kind, n, repeat):
    from cluster_mesh import Cluster  # noqa: F401
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        out = cluster.map(kind, [None] * n)
        rate = n / (time.perf_counter() - t)
        assert len(out) == n
        best = max(best, rate)
    return best


def round_trips(call, n):
    """p50 and p99 of `n` calls of `call`, in microseconds, after a warm-up."""
    for _ in range(min(100, n)):
        call()
    micros = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        micros.append((time.perf_counter() - start) * 1e6)
    micros.sort()
    return micros[len(micros) // 2], micros[min(len(micros) - 1, int(len(micros) * 0.99))]


def wait_workers(cluster, n):
    give_up = time.monotonic() + 60
    while sum(1 for w in cluster.status().workers if w.state == 2) < n:
        if time.monotonic() > give_up:
            sys.exit("workers did not join")
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=str(REPO / "target" / "release"))
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--worker-tasks", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency-jobs", type=int, default=2000)
    ap.add_argument("--prefetch", type=int, default=2, help="the coordinator's --prefetch for the Python worker run")
    args = ap.parse_args()
    from cluster_mesh import Cluster
    bins = pathlib.Path(args.bin_dir)
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            secret = pathlib.Path(tmp) / "secret"
            secret.write_text("bench secret\n")
            sec = ["--secret-file", str(secret)]
            # 1. the client against the Rust mesh
            co, addr = start([str(bins / "cluster-coordinator"), "--listen", "127.0.0.1:0", *sec])
            procs.append(co)
            w, _ = start([str(bins / "cluster-worker"), "--listen", "127.0.0.1:0", "--cpus", "2",
                          "--coordinator", f"http://{addr}", "--advertise", "127.0.0.1", *sec])
            procs.append(w)
            with Cluster(f"http://{addr}", secret_file=str(secret)) as cluster:
                wait_workers(cluster, 1)
                rate = best_rate(cluster, "noop", args.tasks, args.repeat)
                job = round_trips(lambda: cluster.map("noop", [None]), args.latency_jobs)
                one = round_trips(lambda: cluster.submit("noop")(), args.latency_jobs)
            print(f"python client, {args.tasks} noop tasks, rust coordinator + 1 rust worker (2 cores): "
                  f"{rate:,.0f} tasks/s")
            print(f"python client, one noop at a time ({args.latency_jobs} each): one-task job (map) "
                  f"p50 {job[0]:.0f} us, p99 {job[1]:.0f} us; submit(...)() p50 {one[0]:.0f} us, p99 {one[1]:.0f} us")
            # 2. a Python worker
            co2, addr2 = start([str(bins / "cluster-coordinator"), "--listen", "127.0.0.1:0",
                                "--prefetch", str(args.prefetch), *sec])
            procs.append(co2)
            (pathlib.Path(tmp) / "bench_noop.py").write_text(NOOP_MODULE)
            env = dict(os.environ, PYTHONPATH=tmp)
            pw, _ = start([sys.executable, "-m", "cluster_mesh.worker", "--coordinator", f"http://{addr2}",
                           "--cpus", "2", "--module", "bench_noop", *sec], env)
            procs.append(pw)
            with Cluster(f"http://{addr2}", secret_file=str(secret)) as cluster:
                wait_workers(cluster, 1)
                rate = best_rate(cluster, "py-noop", args.worker_tasks, args.repeat)
            print(f"python worker (2 processes, coordinator --prefetch {args.prefetch}), {args.worker_tasks} python noop "
                  "tasks from the python client: "
                  f"{rate:,.0f} tasks/s")
    finally:
        for p in procs:
            p.kill()


if __name__ == "__main__":
    main()

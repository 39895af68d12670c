"""Parallel Python's sum_primes example, changed only in its import line
(and its prints, for Python 3), over a coordinator with two Python workers."""
import os
import re
import subprocess
import sys

from conftest import REPO, SEED_INPUTS, SEED_SUMS


def test_the_parallel_python_example(mesh):
    mesh.secret_file.write_text("123456\n")  # the example's secret
    coordinator = mesh.coordinator()
    workers = [mesh.python_worker(coordinator, "--cpus", "1", "--allow-code") for _ in range(2)]
    with mesh.cluster(coordinator) as cluster:
        mesh.wait_active(cluster, 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTER_")}
    env["CLUSTER_COORDINATOR"] = coordinator.url
    out = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "sum_primes.py")], env=env,
                         capture_output=True, text=True, timeout=170)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Starting pp with 2 workers\n" in text
    sums = re.findall(r"^Sum of primes below (\d+) is (\d+)$", text, re.M)
    assert sums[0] == ("100", "1060")
    assert [(int(n), int(s)) for n, s in sums[1:]] == list(zip(SEED_INPUTS, SEED_SUMS))
    table = text[text.index("Job execution statistics:\n"):].splitlines()
    assert table[1] == " job count | % of all jobs | job time sum | time per job | job server"
    rows = [re.match(r"^ +(\d+) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \| (\S+)$", line) for line in table[2:4]]
    assert all(rows), table
    assert sum(int(r.group(1)) for r in rows) == 17
    assert {r.group(5) for r in rows} == {w.addr for w in workers}
    assert table[4].startswith("Time elapsed since server creation ")
    assert table[5] == "0 active tasks, 2 cores"

"""Where a one-task job's round trip goes, hop by hop, from a system-wide
trace of the latency figure's syscalls:

    perf record -m 8192 -a -o lat.data -e sched:sched_switch,sched:sched_wakeup \
        -e raw_syscalls:sys_enter \
        --filter 'id == 20 || id == 45 || id == 1 || id == 0 || id == 44 || id == 202 || id == 232' \
        --exclude-perf -- target/release/cluster-bench --only latency --latency-jobs 2000
    perf script -i lat.data -F comm,pid,tid,cpu,time,event,trace > lat.txt
    python3 benches/scripts/hops.py lat.txt

It follows each job from the client's writev to the coordinator's recvfrom,
the coordinator's writev to a worker, the worker's recvfrom and writev, back
to the coordinator and out to the client's recvfrom, and prints the median
of each leg: the hops between processes (a wake-up each) and the time inside
each process. With the Unix-socket half of the figure in the same trace, the
first cluster's jobs are the ones followed (the client's busiest socket).
"""
import re
import statistics
import sys
from collections import Counter

WRITEV, RECVFROM = 20, 45
LINE = re.compile(r"^\s*(\S+)\s+(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):\s+raw_syscalls:sys_enter:\s+NR (\d+) \((\w+)")
LEGS = ["client -> coordinator", "coordinator, in to worker", "coordinator -> worker", "worker",
        "worker -> coordinator", "coordinator, in to client", "coordinator -> client"]


def syscalls(path):
    """(microseconds, pid, tid, comm, syscall, first argument) per line."""
    for line in open(path):
        m = LINE.match(line)
        if m:
            comm, pid, tid, t, nr, arg = m.groups()
            yield float(t) * 1e6, int(pid), int(tid), comm, int(nr), int(arg, 16)


def jobs(events):
    """The eight timestamps of each job followed through the processes."""
    client = Counter(p for _, p, _, comm, _, _ in events if comm == "cluster-bench").most_common(1)[0][0]
    workers = {p for _, p, _, comm, _, _ in events if comm == "cluster-worker"}
    writers = Counter(p for _, p, _, _, nr, _ in events if nr == WRITEV)
    coordinator = next(p for p, _ in writers.most_common() if p != client and p not in workers)
    client_fd = Counter(fd for _, p, tid, _, nr, fd in events
                        if p == client and tid == p and nr == WRITEV).most_common(1)[0][0]
    done, job = [], None
    for t, p, tid, _, nr, fd in events:
        on_client = p == client and tid == p
        if on_client and nr == WRITEV and fd == client_fd:
            if job and len(job["t"]) == 8:
                done.append(job["t"])
            job = {"t": [t]}
            continue
        if job is None:
            continue
        step = len(job["t"])
        if step == 1 and p == coordinator and nr == RECVFROM:
            job["t"].append(t); job["from_client"] = fd
        elif step == 2 and p == coordinator and nr == WRITEV and fd != job["from_client"]:
            job["t"].append(t); job["to_worker"] = fd
        elif step == 3 and p in workers and nr == RECVFROM:
            job["t"].append(t); job["worker"] = p
        elif step == 4 and p == job["worker"] and nr == WRITEV:
            job["t"].append(t)
        elif step == 5 and p == coordinator and nr == RECVFROM and fd == job["to_worker"]:
            job["t"].append(t)
        elif step == 6 and p == coordinator and nr == WRITEV and fd == job["from_client"]:
            job["t"].append(t)
        elif step == 7 and on_client and nr == RECVFROM:
            job["t"].append(t)
    return done


def main(path):
    done = jobs(list(syscalls(path)))
    print(f"{path}: {len(done)} jobs followed; medians (means)")
    for i, leg in enumerate(LEGS):
        spans = [t[i + 1] - t[i] for t in done]
        print(f"  {leg:28} {statistics.median(spans):6.0f} us ({statistics.mean(spans):.0f})")
    print(f"  {'client write to read':28} {statistics.median([t[7] - t[0] for t in done]):6.0f} us")
    gaps = [b[0] - a[7] for a, b in zip(done, done[1:])]
    print(f"  {'client read to next write':28} {statistics.median(gaps):6.0f} us")


if __name__ == "__main__":
    main(sys.argv[1])

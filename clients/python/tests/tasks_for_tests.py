"""Task kinds the tests' Python workers serve (--module tasks_for_tests)."""
import os
import time

from cluster_mesh.worker import kind

# Imported once per slot process: every task of a process sees the same id.
LOADED_IN = os.getpid()


@kind("square")
def square(x):
    return x * x


@kind("slow-square")
def slow_square(x):
    time.sleep(0.03)
    return {"n": x, "square": x * x, "pid": os.getpid(), "loaded_in": LOADED_IN}


@kind("sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@kind("mark-then-sleep")
def mark_then_sleep(args):
    """Creates the file args["mark"] (the test sees the task has started), then sleeps."""
    open(args["mark"], "w").close()
    time.sleep(args["seconds"])
    return args["seconds"]


@kind("fail")
def fail(x):
    raise ValueError(f"no good: {x}")


@kind("py-noop")
def noop(x):
    return None

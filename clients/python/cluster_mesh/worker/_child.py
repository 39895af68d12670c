"""The body of one slot process: imports once, then runs task after task
sent by the worker over a pipe."""
from __future__ import annotations

import importlib
import signal
import sys
import time
import traceback

# ErrorCode numbers (tasks.proto), without importing the stubs here.
INVALID_INPUT, UNKNOWN_KIND, TASK_FAILED = 1, 2, 3


def _die_with_parent():
    # Linux: SIGKILL this process when the worker process dies, so a killed
    # worker leaves no orphan running a task.
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(conn, kinds, modules, allow_code):
    """`kinds`: name -> (function, codec). Sends "ready" (or an error text)
    once imports are done, then answers each (key, kind, data) with
    (key, 0, output, micros) or (key, error_code, message, micros)."""
    _die_with_parent()
    # The worker itself handles SIGINT/SIGTERM (drain); slots just go on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for name in modules:
            importlib.import_module(name)
        from .. import codec as codecs
        runner = None
        if allow_code:
            from ..pycall import KIND, Runner
            runner = Runner()
            kinds = dict(kinds, **{KIND: (runner, "raw")})
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        return
    known = ", ".join(sorted(kinds))
    conn.send(("ready", None))
    while True:
        try:
            key, kind, data = conn.recv()
        except (EOFError, OSError):
            return
        start = time.perf_counter()
        entry = kinds.get(kind)
        if entry is None:
            reply = (key, UNKNOWN_KIND, f"unknown task kind `{kind}`; this worker knows: {known}")
        elif data is None:
            reply = (key, INVALID_INPUT, f"{kind} expects a custom (bytes) input, got another input")
        else:
            func, codec = entry
            reply = _run(key, kind, func, codec, data, codecs)
        micros = int((time.perf_counter() - start) * 1e6)
        try:
            conn.send(reply + (micros,))
        except (EOFError, OSError):
            return


def _run(key, kind, func, codec, data, codecs):
    if codec == "raw":
        value = data
    else:
        try:
            value = codecs.decode(codec, data)
        except Exception as e:
            return (key, INVALID_INPUT, f"{kind}: cannot decode the input as {codec}: {e}")
    try:
        result = func(value)
    except BaseException as e:  # a task's own failure, SystemExit included
        tb = traceback.format_exc(limit=-8)
        return (key, TASK_FAILED, f"{kind}: {type(e).__name__}: {e}\n{tb}")
    try:
        return (key, 0, result if codec == "raw" and isinstance(result, bytes) else codecs.encode(codec, result))
    except Exception as e:
        return (key, TASK_FAILED, f"{kind}: cannot encode the result as {codec}: {e}")


if __name__ == "__main__":
    sys.exit("run by cluster_mesh.worker, not directly")

"""Exactly `cores` long-lived processes, each running one task at a time.

One thread (the loop) owns the processes: it hands queued tasks to idle
processes, reads their results, and kills and replaces a process whose task
is cancelled, times out, or whose session ended. Other threads only change
the queue and set flags under the lock, then wake the loop.
"""
from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import selectors
import threading
import time

from .._proto import tasks_pb2 as pb
from .._proto import worker_pb2 as wpb
from . import _child

log = logging.getLogger("cluster_mesh.worker")


class Task:
    __slots__ = ("key", "session", "kind", "data", "timeout", "deadline", "stop")

    def __init__(self, key, session, kind, data, timeout):
        self.key, self.session, self.kind, self.data, self.timeout = key, session, kind, data, timeout
        self.deadline = None
        # Why to kill its process: (code, message) to report, or (None, None)
        # to report nothing (its session is gone).
        self.stop = None


class _Proc:
    def __init__(self, index):
        self.index = index
        self.process = None
        self.conn = None
        self.ready = False
        self.task: Task | None = None


def error(key, code, message, micros=0):
    return wpb.Completion(key=key, error=pb.TaskError(code=code, message=message), run_micros=micros)


class Slots:
    def __init__(self, cores, kinds, modules, allow_code, max_result_bytes, on_done):
        """`on_done(session, completion)` is called on the loop thread."""
        self._ctx = multiprocessing.get_context("spawn")
        self._args = (kinds, list(modules), allow_code)
        self._max_result = max_result_bytes
        self._on_done = on_done
        self._lock = threading.Lock()
        self._pending: collections.deque[Task] = collections.deque()
        self._procs = [_Proc(i) for i in range(cores)]
        self._wake_r, self._wake_w = os.pipe()
        # One epoll set for the loop's whole life (not one per wait).
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="cluster-slots", daemon=True)

    # -- start and stop ------------------------------------------------

    def start(self, timeout=300.0):
        """Starts the processes and waits until each has done its imports."""
        for proc in self._procs:
            self._spawn(proc)
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            left = deadline - time.monotonic()
            if not proc.conn.poll(max(left, 0)):
                raise RuntimeError(f"a slot process did not start within {timeout:.0f} s")
            try:
                state, detail = proc.conn.recv()
            except EOFError:
                raise RuntimeError(f"a slot process exited at start (exit code {proc.process.exitcode})") from None
            if state != "ready":
                raise RuntimeError(f"a slot process failed to start:\n{detail}")
            proc.ready = True
        self._thread.start()

    def _spawn(self, proc):
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_child.main, args=(child,) + self._args,
                                    name=f"cluster-slot-{proc.index}", daemon=True)
        process.start()
        child.close()
        proc.process, proc.conn, proc.ready, proc.task = process, parent, False, None
        self._selector.register(parent, selectors.EVENT_READ, proc)

    def _close(self, proc):
        try:
            self._selector.unregister(proc.conn)
        except (KeyError, ValueError):
            pass
        proc.conn.close()

    def stop(self):
        with self._lock:
            self._stopped = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for proc in self._procs:
            if proc.process is not None and proc.process.is_alive():
                proc.process.kill()
                proc.process.join(timeout=5)

    # -- called from session threads -------------------------------------

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def enqueue(self, tasks):
        with self._lock:
            self._pending.extend(tasks)
        self._wake()

    def revoke(self, session, keys) -> list[int]:
        """Takes back the unstarted tasks among `keys`; returns their keys."""
        wanted = set(keys)
        with self._lock:
            back = [t.key for t in self._pending if t.session == session and t.key in wanted]
            if back:
                gone = set(back)
                self._pending = collections.deque(t for t in self._pending if t.key not in gone or t.session != session)
        return back

    def cancel(self, session, keys):
        """Stops the tasks among `keys`; each reports CANCELLED."""
        wanted = set(keys)
        dropped = []
        with self._lock:
            keep = collections.deque()
            for t in self._pending:
                (dropped if t.session == session and t.key in wanted else keep).append(t)
            self._pending = keep
            for proc in self._procs:
                t = proc.task
                if t is not None and t.session == session and t.key in wanted and t.stop is None:
                    t.stop = (pb.ERROR_CODE_CANCELLED, "cancelled: its job was cancelled")
        for t in dropped:
            self._on_done(session, error(t.key, pb.ERROR_CODE_CANCELLED, "cancelled: its job was cancelled"))
        self._wake()

    def take_session(self, session) -> list[int]:
        """Removes the session's unstarted tasks (drain); returns their keys."""
        with self._lock:
            mine = [t.key for t in self._pending if t.session == session]
            self._pending = collections.deque(t for t in self._pending if t.session != session)
        return mine

    def end_session(self, session) -> int:
        """The session is over: its unstarted tasks are dropped and its
        running ones stopped, unreported. Returns how many were stopped."""
        stopped = 0
        with self._lock:
            self._pending = collections.deque(t for t in self._pending if t.session != session)
            for proc in self._procs:
                if proc.task is not None and proc.task.session == session:
                    proc.task.stop = (None, None)
                    stopped += 1
        self._wake()
        return stopped

    def busy(self) -> int:
        with self._lock:
            return sum(1 for p in self._procs if p.task is not None)

    # -- the loop ---------------------------------------------------------

    def _loop(self):
        while True:
            with self._lock:
                if self._stopped:
                    return
                timeout = self._step(time.monotonic())
            for key, _ in self._selector.select(timeout):
                proc = key.data
                if proc is None:
                    os.read(self._wake_r, 4096)
                elif key.fileobj is proc.conn and not proc.conn.closed:
                    self._receive(proc)

    def _step(self, now):
        """Under the lock: kills what must stop, starts what can; returns
        the time to the next deadline (None: none)."""
        for proc in self._procs:
            t = proc.task
            if t is None:
                continue
            if t.stop is None and t.deadline is not None and now >= t.deadline:
                t.stop = (pb.ERROR_CODE_TIMED_OUT, f"timed out after {int(t.timeout * 1000)} ms")
            if t.stop is not None:
                self._restart(proc, t.stop)
        for proc in self._procs:
            if not self._pending:
                break
            if proc.ready and proc.task is None:
                self._start_next(proc, now)
        deadlines = [p.task.deadline for p in self._procs if p.task is not None and p.task.deadline is not None]
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _start_next(self, proc, now):
        t = self._pending.popleft()
        t.deadline = now + t.timeout if t.timeout is not None else None
        proc.task = t
        try:
            proc.conn.send((t.key, t.kind, t.data))
        except (OSError, EOFError):
            pass  # its death shows as EOF on the next read

    def _restart(self, proc, why):
        t = proc.task
        micros = int((time.monotonic() - (t.deadline - t.timeout)) * 1e6) if t.deadline is not None else 0
        proc.process.kill()
        proc.process.join(timeout=5)
        self._close(proc)
        code, message = why
        if code is not None:
            self._on_done(t.session, error(t.key, code, message, micros))
        self._spawn(proc)

    def _receive(self, proc):
        try:
            message = proc.conn.recv()
        except (EOFError, OSError):
            self._died(proc)
            return
        with self._lock:
            if not proc.ready:
                if message[0] == "ready":
                    proc.ready = True
                else:
                    log.error("a replacement slot process failed to start:\n%s", message[1])
                return
            t = proc.task
            if t is None or t.stop == (None, None):
                proc.task = None
                return  # its session is gone: nobody to tell
            # Reported before the slot counts as free, so a drain that sees
            # no busy slot has every result queued.
            self._on_done(t.session, self._completion(message))
            proc.task = None
            # The next task goes out now, not a loop turn later.
            if self._pending:
                self._start_next(proc, time.monotonic())

    def _completion(self, message):
        key, code, value, micros = message
        if code:
            return error(key, code, value, micros)
        if len(value) > self._max_result:
            return error(key, pb.ERROR_CODE_RESULT_TOO_LARGE,
                         f"result of {len(value)} bytes is over the {self._max_result}-byte message limit", micros)
        return wpb.Completion(key=key, output=pb.TaskOutput(custom=value), run_micros=micros)

    def _died(self, proc):
        with self._lock:
            t, proc.task = proc.task, None
            proc.process.join(timeout=5)
            exitcode = proc.process.exitcode
            self._close(proc)
            if t is not None and t.stop is None:
                self._on_done(t.session, error(
                    t.key, pb.ERROR_CODE_TASK_FAILED,
                    f"{t.kind}: the process running the task died (exit code {exitcode})"))
            if not self._stopped:
                self._spawn(proc)

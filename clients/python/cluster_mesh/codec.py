"""How Python values travel as task inputs and outputs.

Built-in kinds have typed inputs (`sum-primes` and `spin` take an int,
`noop` takes None). Every other kind carries `custom` bytes, encoded by a
codec both sides agree on:

- ``json`` (default): any JSON value; safe to decode from anyone.
- ``raw``: bytes, untouched.
- ``pickle``: any picklable value. Unpickling runs code chosen by the
  sender, so use it only between parties that trust each other.
"""
from __future__ import annotations

import io
import json
import pickle

from ._proto import tasks_pb2 as pb

BUILTIN_KINDS = ("sum-primes", "spin", "noop")
CODECS = ("json", "raw", "pickle")


def encode(codec: str, value) -> bytes:
    if codec == "json":
        return json.dumps(value, separators=(",", ":")).encode()
    if codec == "raw":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"the raw codec takes bytes, got {type(value).__name__}")
        return bytes(value)
    if codec == "pickle":
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    raise ValueError(f"unknown codec `{codec}`; one of {', '.join(CODECS)}")


def decode(codec: str, data: bytes):
    if codec == "json":
        return json.loads(data) if data else None
    if codec == "raw":
        return data
    if codec == "pickle":
        return pickle.loads(data)
    raise ValueError(f"unknown codec `{codec}`; one of {', '.join(CODECS)}")


def task(task_id: int, kind: str, value, codec: str = "json") -> pb.Task:
    """The wire task for `value` of `kind`."""
    if kind == "sum-primes":
        return pb.Task(id=task_id, kind=kind, sum_primes=pb.SumPrimesInput(n=value))
    if kind == "spin":
        return pb.Task(id=task_id, kind=kind, spin=pb.SpinInput(millis=value))
    if kind == "noop":
        return pb.Task(id=task_id, kind=kind, noop=pb.NoopInput())
    if codec == "py-call":  # already packed (pycall.pack)
        return pb.Task(id=task_id, kind=kind, custom=value)
    return pb.Task(id=task_id, kind=kind, custom=encode(codec, value))


def output(out: pb.TaskOutput, codec: str = "json", unpickle=None):
    """The Python value of a task's output."""
    which = out.WhichOneof("value")
    if which == "custom":
        if codec == "py-call":
            return (unpickle or pickle.loads)(out.custom)
        if codec == "pickle" and unpickle is not None:
            return unpickle(out.custom)
        return decode(codec, out.custom)
    if which == "sum_primes":
        return out.sum_primes
    if which == "spin_millis":
        return out.spin_millis
    return None


# What `safe_loads` lets a pickle build besides plain containers, numbers,
# strings and bytes (those need no class lookup at all).
_SAFE_GLOBALS = {
    ("builtins", name) for name in ("complex", "set", "frozenset", "bytearray", "range", "slice")
} | {("collections", "OrderedDict"), ("datetime", "datetime"), ("datetime", "date"),
     ("datetime", "time"), ("datetime", "timedelta"), ("datetime", "timezone"),
     ("decimal", "Decimal"), ("fractions", "Fraction")}


class UntrustedPickle(pickle.UnpicklingError):
    pass


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise UntrustedPickle(
            f"a worker's result holds a `{module}.{name}`, which is not unpickled by default "
            "(unpickling it could run the worker's code here); pass trust_results=True to accept it")


def safe_loads(data: bytes):
    """Unpickles plain data only: numbers, strings, bytes, lists, tuples,
    dicts, sets and a few value types; anything else raises UntrustedPickle."""
    return _SafeUnpickler(io.BytesIO(data)).load()

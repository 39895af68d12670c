"""The `py-call` kind: a Python function shipped with its task, as Parallel
Python shipped them (see proto/README.md, "Shipped code").

The input is a pickle of {"fn": name, "src": [sources], "modules": [names],
"args": tuple}: the sources of the function and of the functions it depends
on (`inspect.getsource`), the modules to import first, and the arguments.
The output is the pickled return value. Only workers started with
`--allow-code` (and a secret or mutual TLS) run it: a shipped function can
do anything the worker's user can.
"""
from __future__ import annotations

import builtins
import hashlib
import inspect
import pickle
import textwrap

KIND = "py-call"
_CACHE_SIZE = 64


def source_of(obj) -> str:
    """The source of a function or class, dedented, ready to exec."""
    if getattr(obj, "__name__", "") == "<lambda>":
        raise ValueError("a lambda cannot be shipped (its source is not its own): define it with def")
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as e:
        raise ValueError(f"cannot ship {obj!r}: its source is not available ({e}); "
                         "define it in a file, not interactively") from None


def pack(func, args=(), depfuncs=(), modules=()) -> bytes:
    """The py-call input for func(*args)."""
    sources = [source_of(f) for f in depfuncs] + [source_of(func)]
    call = {"fn": func.__name__, "src": sources, "modules": list(modules), "args": tuple(args)}
    return pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)


class Runner:
    """Runs py-call inputs in one worker process; the namespace built from a
    set of sources and modules is kept for the next call with the same ones."""

    def __init__(self):
        self._namespaces: dict[bytes, dict] = {}

    def namespace(self, sources, modules) -> dict:
        key = hashlib.sha256(pickle.dumps((sources, modules))).digest()
        ns = self._namespaces.get(key)
        if ns is None:
            # `xrange` lets Parallel Python's Python 2 examples run unchanged.
            ns = {"__builtins__": builtins, "__name__": "__pycall__", "xrange": range}
            for name in modules:
                ns[name.split(".")[0]] = __import__(name)
            for source in sources:
                exec(compile(source, "<shipped>", "exec"), ns)
            if len(self._namespaces) >= _CACHE_SIZE:
                self._namespaces.pop(next(iter(self._namespaces)))
            self._namespaces[key] = ns
        return ns

    def __call__(self, data: bytes) -> bytes:
        call = pickle.loads(data)
        ns = self.namespace(call["src"], call["modules"])
        result = ns[call["fn"]](*call["args"])
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)

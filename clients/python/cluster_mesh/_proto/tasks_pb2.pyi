from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_INPUT: _ClassVar[ErrorCode]
    ERROR_CODE_UNKNOWN_KIND: _ClassVar[ErrorCode]
    ERROR_CODE_TASK_FAILED: _ClassVar[ErrorCode]
    ERROR_CODE_TIMED_OUT: _ClassVar[ErrorCode]
    ERROR_CODE_WORKER_LOST: _ClassVar[ErrorCode]
    ERROR_CODE_CANCELLED: _ClassVar[ErrorCode]
    ERROR_CODE_RESULT_TOO_LARGE: _ClassVar[ErrorCode]
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_INVALID_INPUT: ErrorCode
ERROR_CODE_UNKNOWN_KIND: ErrorCode
ERROR_CODE_TASK_FAILED: ErrorCode
ERROR_CODE_TIMED_OUT: ErrorCode
ERROR_CODE_WORKER_LOST: ErrorCode
ERROR_CODE_CANCELLED: ErrorCode
ERROR_CODE_RESULT_TOO_LARGE: ErrorCode

class Task(_message.Message):
    __slots__ = ("id", "kind", "sum_primes", "spin", "noop", "exec", "custom")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUM_PRIMES_FIELD_NUMBER: _ClassVar[int]
    SPIN_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    EXEC_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    sum_primes: SumPrimesInput
    spin: SpinInput
    noop: NoopInput
    exec: ExecInput
    custom: bytes
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., sum_primes: _Optional[_Union[SumPrimesInput, _Mapping]] = ..., spin: _Optional[_Union[SpinInput, _Mapping]] = ..., noop: _Optional[_Union[NoopInput, _Mapping]] = ..., exec: _Optional[_Union[ExecInput, _Mapping]] = ..., custom: _Optional[bytes] = ...) -> None: ...

class SumPrimesInput(_message.Message):
    __slots__ = ("n",)
    N_FIELD_NUMBER: _ClassVar[int]
    n: int
    def __init__(self, n: _Optional[int] = ...) -> None: ...

class SpinInput(_message.Message):
    __slots__ = ("millis",)
    MILLIS_FIELD_NUMBER: _ClassVar[int]
    millis: int
    def __init__(self, millis: _Optional[int] = ...) -> None: ...

class NoopInput(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExecInput(_message.Message):
    __slots__ = ("argv", "stdin", "env", "working_dir", "max_output_bytes")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARGV_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    stdin: bytes
    env: _containers.ScalarMap[str, str]
    working_dir: str
    max_output_bytes: int
    def __init__(self, argv: _Optional[_Iterable[str]] = ..., stdin: _Optional[bytes] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., max_output_bytes: _Optional[int] = ...) -> None: ...

class ExecOutput(_message.Message):
    __slots__ = ("exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "signal")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    signal: int
    def __init__(self, exit_code: _Optional[int] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ..., signal: _Optional[int] = ...) -> None: ...

class TaskOutput(_message.Message):
    __slots__ = ("sum_primes", "spin_millis", "noop", "exec", "custom")
    SUM_PRIMES_FIELD_NUMBER: _ClassVar[int]
    SPIN_MILLIS_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    EXEC_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    sum_primes: int
    spin_millis: int
    noop: NoopOutput
    exec: ExecOutput
    custom: bytes
    def __init__(self, sum_primes: _Optional[int] = ..., spin_millis: _Optional[int] = ..., noop: _Optional[_Union[NoopOutput, _Mapping]] = ..., exec: _Optional[_Union[ExecOutput, _Mapping]] = ..., custom: _Optional[bytes] = ...) -> None: ...

class NoopOutput(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TaskError(_message.Message):
    __slots__ = ("code", "message", "exec")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXEC_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    exec: ExecOutput
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., exec: _Optional[_Union[ExecOutput, _Mapping]] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("id", "output", "error", "worker", "run_micros", "attempts")
    ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    RUN_MICROS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    id: int
    output: TaskOutput
    error: TaskError
    worker: str
    run_micros: int
    attempts: int
    def __init__(self, id: _Optional[int] = ..., output: _Optional[_Union[TaskOutput, _Mapping]] = ..., error: _Optional[_Union[TaskError, _Mapping]] = ..., worker: _Optional[str] = ..., run_micros: _Optional[int] = ..., attempts: _Optional[int] = ...) -> None: ...

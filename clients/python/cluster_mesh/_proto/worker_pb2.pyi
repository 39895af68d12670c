from cluster_mesh._proto import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("cores", "weight", "labels", "version", "name", "kinds", "worker_id", "held")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CORES_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    cores: int
    weight: float
    labels: _containers.ScalarMap[str, str]
    version: str
    name: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    worker_id: str
    held: _containers.RepeatedCompositeFieldContainer[HeldTask]
    def __init__(self, cores: _Optional[int] = ..., weight: _Optional[float] = ..., labels: _Optional[_Mapping[str, str]] = ..., version: _Optional[str] = ..., name: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., worker_id: _Optional[str] = ..., held: _Optional[_Iterable[_Union[HeldTask, _Mapping]]] = ...) -> None: ...

class HeldTask(_message.Message):
    __slots__ = ("job_id", "task_id", "completion")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    task_id: int
    completion: Completion
    def __init__(self, job_id: _Optional[int] = ..., task_id: _Optional[int] = ..., completion: _Optional[_Union[Completion, _Mapping]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("key", "task", "timeout_ms", "job_id", "task_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    key: int
    task: _tasks_pb2.Task
    timeout_ms: int
    job_id: int
    task_id: int
    def __init__(self, key: _Optional[int] = ..., task: _Optional[_Union[_tasks_pb2.Task, _Mapping]] = ..., timeout_ms: _Optional[int] = ..., job_id: _Optional[int] = ..., task_id: _Optional[int] = ...) -> None: ...

class CoordinatorMessage(_message.Message):
    __slots__ = ("assign", "revoke", "heartbeat", "cancel", "start", "adopt")
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    ADOPT_FIELD_NUMBER: _ClassVar[int]
    assign: AssignBatch
    revoke: RevokeRequest
    heartbeat: Heartbeat
    cancel: CancelTasks
    start: SessionStart
    adopt: AdoptTasks
    def __init__(self, assign: _Optional[_Union[AssignBatch, _Mapping]] = ..., revoke: _Optional[_Union[RevokeRequest, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., cancel: _Optional[_Union[CancelTasks, _Mapping]] = ..., start: _Optional[_Union[SessionStart, _Mapping]] = ..., adopt: _Optional[_Union[AdoptTasks, _Mapping]] = ...) -> None: ...

class AdoptTasks(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Adoption]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Adoption, _Mapping]]] = ...) -> None: ...

class Adoption(_message.Message):
    __slots__ = ("job_id", "task_id", "adopted", "key")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ADOPTED_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    task_id: int
    adopted: bool
    key: int
    def __init__(self, job_id: _Optional[int] = ..., task_id: _Optional[int] = ..., adopted: _Optional[bool] = ..., key: _Optional[int] = ...) -> None: ...

class SessionStart(_message.Message):
    __slots__ = ("protocol_version", "heartbeat_interval_ms", "heartbeat_timeout_ms", "durable")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    DURABLE_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    durable: bool
    def __init__(self, protocol_version: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., heartbeat_timeout_ms: _Optional[int] = ..., durable: _Optional[bool] = ...) -> None: ...

class CancelTasks(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, keys: _Optional[_Iterable[int]] = ...) -> None: ...

class AssignBatch(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class RevokeRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, keys: _Optional[_Iterable[int]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Completion(_message.Message):
    __slots__ = ("key", "output", "error", "run_micros")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RUN_MICROS_FIELD_NUMBER: _ClassVar[int]
    key: int
    output: _tasks_pb2.TaskOutput
    error: _tasks_pb2.TaskError
    run_micros: int
    def __init__(self, key: _Optional[int] = ..., output: _Optional[_Union[_tasks_pb2.TaskOutput, _Mapping]] = ..., error: _Optional[_Union[_tasks_pb2.TaskError, _Mapping]] = ..., run_micros: _Optional[int] = ...) -> None: ...

class WorkerMessage(_message.Message):
    __slots__ = ("hello", "completions", "revoked", "heartbeat", "draining")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    hello: WorkerInfo
    completions: CompletionBatch
    revoked: RevokeResponse
    heartbeat: Heartbeat
    draining: DrainNotice
    def __init__(self, hello: _Optional[_Union[WorkerInfo, _Mapping]] = ..., completions: _Optional[_Union[CompletionBatch, _Mapping]] = ..., revoked: _Optional[_Union[RevokeResponse, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., draining: _Optional[_Union[DrainNotice, _Mapping]] = ...) -> None: ...

class DrainNotice(_message.Message):
    __slots__ = ("returned",)
    RETURNED_FIELD_NUMBER: _ClassVar[int]
    returned: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, returned: _Optional[_Iterable[int]] = ...) -> None: ...

class CompletionBatch(_message.Message):
    __slots__ = ("completions",)
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[Completion]
    def __init__(self, completions: _Optional[_Iterable[_Union[Completion, _Mapping]]] = ...) -> None: ...

class RevokeResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, keys: _Optional[_Iterable[int]] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("address", "worker_id")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    address: str
    worker_id: str
    def __init__(self, address: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("cores",)
    CORES_FIELD_NUMBER: _ClassVar[int]
    cores: int
    def __init__(self, cores: _Optional[int] = ...) -> None: ...

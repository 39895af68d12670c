from cluster_mesh._proto import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKER_STATE_UNSPECIFIED: _ClassVar[WorkerState]
    WORKER_STATE_CONNECTING: _ClassVar[WorkerState]
    WORKER_STATE_ACTIVE: _ClassVar[WorkerState]
    WORKER_STATE_DRAINING: _ClassVar[WorkerState]
    WORKER_STATE_LOST: _ClassVar[WorkerState]
WORKER_STATE_UNSPECIFIED: WorkerState
WORKER_STATE_CONNECTING: WorkerState
WORKER_STATE_ACTIVE: WorkerState
WORKER_STATE_DRAINING: WorkerState
WORKER_STATE_LOST: WorkerState

class JobOptions(_message.Message):
    __slots__ = ("name", "timeout_ms", "deadline_ms", "require", "unroutable_timeout_ms")
    class RequireEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_FIELD_NUMBER: _ClassVar[int]
    UNROUTABLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout_ms: int
    deadline_ms: int
    require: _containers.ScalarMap[str, str]
    unroutable_timeout_ms: int
    def __init__(self, name: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., deadline_ms: _Optional[int] = ..., require: _Optional[_Mapping[str, str]] = ..., unroutable_timeout_ms: _Optional[int] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("options", "tasks", "resume", "end_of_input")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    END_OF_INPUT_FIELD_NUMBER: _ClassVar[int]
    options: JobOptions
    tasks: _containers.RepeatedCompositeFieldContainer[_tasks_pb2.Task]
    resume: ResumeJob
    end_of_input: bool
    def __init__(self, options: _Optional[_Union[JobOptions, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[_tasks_pb2.Task, _Mapping]]] = ..., resume: _Optional[_Union[ResumeJob, _Mapping]] = ..., end_of_input: _Optional[bool] = ...) -> None: ...

class ResumeJob(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("accepted", "results", "summary", "notice")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    accepted: JobAccepted
    results: ResultBatch
    summary: JobSummary
    notice: Notice
    def __init__(self, accepted: _Optional[_Union[JobAccepted, _Mapping]] = ..., results: _Optional[_Union[ResultBatch, _Mapping]] = ..., summary: _Optional[_Union[JobSummary, _Mapping]] = ..., notice: _Optional[_Union[Notice, _Mapping]] = ...) -> None: ...

class Notice(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class JobAccepted(_message.Message):
    __slots__ = ("job_id", "durable", "tasks_received", "stream_reusable")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DURABLE_FIELD_NUMBER: _ClassVar[int]
    TASKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    STREAM_REUSABLE_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    durable: bool
    tasks_received: int
    stream_reusable: bool
    def __init__(self, job_id: _Optional[int] = ..., durable: _Optional[bool] = ..., tasks_received: _Optional[int] = ..., stream_reusable: _Optional[bool] = ...) -> None: ...

class ResultBatch(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_tasks_pb2.TaskResult]
    def __init__(self, results: _Optional[_Iterable[_Union[_tasks_pb2.TaskResult, _Mapping]]] = ...) -> None: ...

class WorkerShare(_message.Message):
    __slots__ = ("worker", "cores", "jobs", "busy_micros")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    CORES_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    BUSY_MICROS_FIELD_NUMBER: _ClassVar[int]
    worker: str
    cores: int
    jobs: int
    busy_micros: int
    def __init__(self, worker: _Optional[str] = ..., cores: _Optional[int] = ..., jobs: _Optional[int] = ..., busy_micros: _Optional[int] = ...) -> None: ...

class JobSummary(_message.Message):
    __slots__ = ("succeeded", "failed", "workers")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    succeeded: int
    failed: int
    workers: _containers.RepeatedCompositeFieldContainer[WorkerShare]
    def __init__(self, succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., workers: _Optional[_Iterable[_Union[WorkerShare, _Mapping]]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("cancelled",)
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    cancelled: int
    def __init__(self, cancelled: _Optional[int] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "name", "submitted", "finished", "waiting_for_client", "blocked", "failed")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_CLIENT_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    name: str
    submitted: int
    finished: int
    waiting_for_client: bool
    blocked: str
    failed: int
    def __init__(self, job_id: _Optional[int] = ..., name: _Optional[str] = ..., submitted: _Optional[int] = ..., finished: _Optional[int] = ..., waiting_for_client: _Optional[bool] = ..., blocked: _Optional[str] = ..., failed: _Optional[int] = ...) -> None: ...

class FinishedJobStatus(_message.Message):
    __slots__ = ("job_id", "name", "submitted", "succeeded", "failed", "cancelled", "duration_ms")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    name: str
    submitted: int
    succeeded: int
    failed: int
    cancelled: int
    duration_ms: int
    def __init__(self, job_id: _Optional[int] = ..., name: _Optional[str] = ..., submitted: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., cancelled: _Optional[int] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("address", "cores", "weight", "state", "in_flight", "completed", "labels", "version", "last_error", "worker_id", "dial_address", "stuck_slots", "running", "prefetched", "failed")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CORES_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    DIAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STUCK_SLOTS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PREFETCHED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    address: str
    cores: int
    weight: float
    state: WorkerState
    in_flight: int
    completed: int
    labels: _containers.ScalarMap[str, str]
    version: str
    last_error: str
    worker_id: str
    dial_address: str
    stuck_slots: int
    running: int
    prefetched: int
    failed: int
    def __init__(self, address: _Optional[str] = ..., cores: _Optional[int] = ..., weight: _Optional[float] = ..., state: _Optional[_Union[WorkerState, str]] = ..., in_flight: _Optional[int] = ..., completed: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., version: _Optional[str] = ..., last_error: _Optional[str] = ..., worker_id: _Optional[str] = ..., dial_address: _Optional[str] = ..., stuck_slots: _Optional[int] = ..., running: _Optional[int] = ..., prefetched: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("workers", "queued", "active_jobs", "version", "late_results", "jobs", "omitted_rows", "recent_jobs")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_JOBS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LATE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    OMITTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    RECENT_JOBS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerStatus]
    queued: int
    active_jobs: int
    version: str
    late_results: int
    jobs: _containers.RepeatedCompositeFieldContainer[JobStatus]
    omitted_rows: int
    recent_jobs: _containers.RepeatedCompositeFieldContainer[FinishedJobStatus]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerStatus, _Mapping]]] = ..., queued: _Optional[int] = ..., active_jobs: _Optional[int] = ..., version: _Optional[str] = ..., late_results: _Optional[int] = ..., jobs: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ..., omitted_rows: _Optional[int] = ..., recent_jobs: _Optional[_Iterable[_Union[FinishedJobStatus, _Mapping]]] = ...) -> None: ...

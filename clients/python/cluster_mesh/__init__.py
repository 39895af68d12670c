"""cluster_mesh: a Python client and worker for the cluster task mesh.

- `Cluster`: submit tasks to a coordinator (`map`, `submit`, `status`).
- `Worker`: serve Python functions as task kinds (`cluster_mesh.worker`).
- `cluster_mesh.pp`: Parallel Python's `Server` API on the mesh.
"""
from .client import TLS, Cluster, ClusterError, Job, Outcome, TaskError

__all__ = ["Cluster", "ClusterError", "Job", "Outcome", "TaskError", "TLS", "Worker"]
__version__ = "0.1.0"


def __getattr__(name):
    # The worker imports more; load it only when asked for.
    if name == "Worker":
        from .worker import Worker
        return Worker
    raise AttributeError(name)

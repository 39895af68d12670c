"""python -m cluster_mesh.worker --coordinator URL --module mytasks [...]"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ..client import TLS
from . import Worker, kinds_of


def _env(name, default=None):
    return os.environ.get(f"CLUSTER_{name}", default)


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m cluster_mesh.worker",
                                description="Serve Python functions as task kinds of a cluster mesh.")
    p.add_argument("--coordinator", default=_env("COORDINATOR"), help="coordinator URL to register with")
    p.add_argument("--listen", default=_env("LISTEN", "127.0.0.1:0"), help="address to serve on (port 0: any)")
    p.add_argument("--advertise", default=_env("ADVERTISE"), help="HOST[:PORT] the coordinator dials back")
    p.add_argument("--cpus", type=int, default=int(_env("CPUS", "0")) or None, help="processes (default: all cores)")
    p.add_argument("--module", action="append", default=[], help="module whose kinds to serve (repeatable)")
    p.add_argument("--allow-code", action="store_true", default=_env("ALLOW_CODE") == "1",
                   help="also run shipped functions (kind py-call, Parallel Python's submit); needs a secret or mTLS")
    p.add_argument("--weight", type=float, default=float(_env("WEIGHT", "1.0")))
    p.add_argument("--label", action="append", default=[], help="k=v label shown in status")
    p.add_argument("--name", default=_env("NAME", ""))
    p.add_argument("--heartbeat-ms", type=int, default=int(_env("HEARTBEAT_MS", "500")))
    p.add_argument("--drain-grace-ms", type=int, default=int(_env("DRAIN_GRACE_MS", "30000")))
    p.add_argument("--secret-file", default=_env("SECRET_FILE"))
    p.add_argument("--tls-cert", default=_env("TLS_CERT"))
    p.add_argument("--tls-key", default=_env("TLS_KEY"))
    p.add_argument("--tls-client-ca", default=_env("TLS_CLIENT_CA"))
    p.add_argument("--tls-ca", default=_env("TLS_CA"))
    p.add_argument("--tls-client-cert", default=_env("TLS_CLIENT_CERT"))
    p.add_argument("--tls-client-key", default=_env("TLS_CLIENT_KEY"))
    p.add_argument("--tls-domain", default=_env("TLS_DOMAIN"))
    p.add_argument("--server-name", action="append", default=[],
                   help="HOST:PORT callers dial to reach this worker (repeatable; default: the advertised address)")
    p.add_argument("--insecure", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    logging.basicConfig(level=os.environ.get("CLUSTER_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.path.insert(0, os.getcwd())
    worker = Worker(args.coordinator, args.listen, args.cpus, advertise=args.advertise,
                    secret_file=args.secret_file,
                    tls=TLS(args.tls_ca, args.tls_client_cert, args.tls_client_key, args.tls_domain),
                    tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
                    weight=args.weight, labels=dict(kv.split("=", 1) for kv in args.label), name=args.name,
                    modules=args.module, allow_code=args.allow_code, heartbeat_ms=args.heartbeat_ms,
                    drain_grace_ms=args.drain_grace_ms, insecure=args.insecure,
                    server_names=args.server_name)
    for name in args.module:
        for kind, (func, codec) in kinds_of(importlib.import_module(name)).items():
            worker.kinds[kind] = (func, codec)
    worker.run()


if __name__ == "__main__":
    main()

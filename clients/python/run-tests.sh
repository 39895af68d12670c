#!/usr/bin/env bash
# The Python package's tests, as CI runs them (README.md's test command):
# a fresh virtual environment with the package and pytest, a check that the
# checked-in stubs are what proto/ generates, then pytest against the real
# binaries in target/debug (build them first: cargo build --workspace --bins).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${CLUSTER_PY_VENV:-$repo/target/python-venv}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# The stubs were generated with this grpcio-tools; the check needs the same.
# cryptography makes the TLS tests' certificates (a test dependency only).
"$venv/bin/python" -m pip install --quiet "$here" pytest grpcio-tools==1.85.1 cryptography

echo "== python stubs match proto/"
"$venv/bin/python" "$here/gen_stubs.py" --check

echo "== python tests"
cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"

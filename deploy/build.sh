#!/usr/bin/env bash
# Builds statically linked release binaries and the `cluster:latest` image
# (FROM scratch: nothing in it but the three binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$target" \
    --bin cluster-coordinator --bin cluster-worker --bin cluster-submit
mkdir -p deploy/bin
cp "target/$target/release/cluster-coordinator" "target/$target/release/cluster-worker" \
    "target/$target/release/cluster-submit" deploy/bin/
docker build -t cluster:latest deploy

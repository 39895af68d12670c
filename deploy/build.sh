#!/usr/bin/env bash
# Builds statically linked, stripped release binaries and the image
# (FROM scratch: nothing in it but the four binaries). The image's name is
# $CLUSTER_IMAGE, cluster:latest by default.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
bins=(cluster-coordinator cluster-worker cluster-submit cluster-health)
RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --target "$target" "${bins[@]/#/--bin=}"
mkdir -p deploy/bin
for bin in "${bins[@]}"; do
    cp "target/$target/release/$bin" deploy/bin/
done
docker build -q -t "${CLUSTER_IMAGE:-cluster:latest}" deploy

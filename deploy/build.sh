#!/usr/bin/env bash
# Builds the statically linked, stripped release binary `cluster` (all four
# commands, chosen by the name it is called by) and the image (FROM
# scratch: that file and four links to it). The image's name is
# $CLUSTER_IMAGE, cluster:latest by default.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --target "$target" --bin cluster
rm -rf deploy/bin
mkdir -p deploy/bin
cp "target/$target/release/cluster" deploy/bin/
for name in cluster-coordinator cluster-worker cluster-submit cluster-health; do
    ln -s cluster "deploy/bin/$name"
done
docker build -q -t "${CLUSTER_IMAGE:-cluster:latest}" deploy

#!/bin/bash
# Fair share, measured: a 1-task job submitted behind a 100,000-task job on
# two 1-core workers with 20 ms tasks. Prints each small job's total time
# (its own 20 ms run included). Needs `cargo build --release --bins`.
set -e
T=$(mktemp -d)
trap 'kill $BIG $C $W1 $W2 2>/dev/null; rm -rf "$T"' EXIT
B="$(cd "$(dirname "$0")/.." && pwd)/target/release"
$B/cluster-worker --listen 127.0.0.1:0 --cpus 1 > "$T/w1" 2>/dev/null &
W1=$!
$B/cluster-worker --listen 127.0.0.1:0 --cpus 1 > "$T/w2" 2>/dev/null &
W2=$!
sleep 0.5
A1=$(awk '{print $NF}' "$T/w1"); A2=$(awk '{print $NF}' "$T/w2")
$B/cluster-coordinator --listen 127.0.0.1:0 --worker $A1 --worker $A2 > "$T/c" 2>/dev/null &
C=$!
sleep 0.5
URL=http://$(awk '{print $NF}' "$T/c")
$B/cluster-submit spin --ms 20 --count 100000 --coordinator $URL > /dev/null 2>&1 &
BIG=$!
sleep 2
for i in 1 2 3 4 5; do
  s=$(date +%s%N); $B/cluster-submit spin --ms 20 --count 1 --coordinator $URL --json | head -1 | tr -d '\n'; e=$(date +%s%N)
  echo "  total $(( (e-s)/1000000 )) ms"
done

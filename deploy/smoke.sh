#!/usr/bin/env bash
# The docker rig's smoke test: builds the image, brings the rig up under its
# own compose project (it never touches other containers), and checks, each
# step timed:
#   1. the seed's 16-input sum-primes batch, exact sums;
#   2. a 200-task `spin --ms 50` batch while a worker is `docker kill`ed;
#   3. the same while a worker is cut off the network for 10 s, then back;
#   4. the same while a worker is `docker pause`d for 5 s, then unpaused;
#   after each fault the worker (or its restart) rejoins and runs tasks;
#   5. `--scale worker=4`, and `status` lists 4 active workers.
# Every batch must deliver every task exactly once. Everything is torn down
# on every exit path. Without a Docker daemon it says so and exits 0
# (skipped). CLUSTER_SMOKE_BUILD=0 skips the build and uses deploy/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
    echo "== smoke: SKIPPED: no Docker daemon answers (docker info failed)"
    exit 0
fi

export CLUSTER_IMAGE=cluster:smoke
export CLUSTER_SECRET="smoke-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
export CLUSTER_PUBLISH=127.0.0.1:   # a free host port
export CLUSTER_WORKER_CPUS=1
project="cluster-smoke-$$"
compose=(docker-compose -p "$project" -f deploy/docker-compose.yml)
submit=deploy/bin/cluster-submit

teardown() {
    local status=$?
    if [[ $status -ne 0 ]]; then
        echo "== smoke: FAILED (exit $status); coordinator log:" >&2
        "${compose[@]}" logs --no-color --tail 40 coordinator >&2 2>/dev/null || true
    fi
    "${compose[@]}" down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1 || true
    exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

step_started=0
total_started=$(date +%s.%N)
step() {
    step_started=$(date +%s.%N)
    echo "== smoke: $*"
}
done_step() {
    awk -v a="$step_started" -v b="$(date +%s.%N)" 'BEGIN { printf "   ok in %.1f s\n", b - a }'
}
fail() {
    echo "smoke: $*" >&2
    exit 1
}

# Polls `$@` until it succeeds, for at most $1 seconds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local until=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < until)) || fail "no $what within ${seconds} s"
        sleep 0.2
    done
}

active_workers() {
    "$submit" status --json --coordinator "$url" 2>/dev/null | grep -o '"state":"active"' | wc -l || true
}
has_active() { [[ $(active_workers) -eq $1 ]]; }

# Runs a spin batch of $1 tasks, --json into $2; checks every task came
# back exactly once, successfully.
check_batch() {
    local count=$1 out=$2
    local indexes errors
    indexes=$(grep -o '"index":[0-9]*' "$out" | sort -u | wc -l)
    errors=$(grep -c '"error"' "$out" || true)
    [[ $indexes -eq $count && $(grep -c '"index"' "$out") -eq $count ]] ||
        fail "$indexes distinct of $(grep -c '"index"' "$out") results for $count tasks"
    [[ $errors -eq 0 ]] || fail "$errors tasks failed: $(grep '"error"' "$out" | head -3)"
}

# A 200-task spin batch with `fault` done to one worker a second in.
spin_with_fault() {
    local out="$workdir/$1.json"
    shift
    "$submit" spin --ms 50 --count 200 --json --coordinator "$url" >"$out" &
    local batch=$!
    sleep 1
    "$@"
    wait "$batch" || fail "the batch failed (exit $?)"
    check_batch 200 "$out"
}

# The worker `$1` is active again and takes tasks: a small batch runs on it.
rejoins() {
    local cid=$1
    wait_for 60 "2 active workers" has_active 2
    local out="$workdir/rejoin.json"
    "$submit" spin --ms 50 --count 20 --json --coordinator "$url" >"$out"
    check_batch 20 "$out"
    grep -q "\"worker\":\"${cid:0:12}:35000\"" "$out" || fail "worker ${cid:0:12} took no task: $(tail -1 "$out")"
}

workdir=$(mktemp -d)

step "build (release, static, stripped) and image $CLUSTER_IMAGE"
if [[ ${CLUSTER_SMOKE_BUILD:-1} != 0 ]]; then
    deploy/build.sh >/dev/null
fi
size=$(docker image inspect -f '{{.Size}}' "$CLUSTER_IMAGE")
echo "   image size: $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')"
((size < 20000000)) || fail "the image is over 20 MB"
done_step

step "up: coordinator + 2 workers (project $project)"
"${compose[@]}" up -d --scale worker=2 >/dev/null 2>&1
url="http://$("${compose[@]}" port coordinator 7700)"
wait_for 60 "2 active workers" has_active 2
done_step

step "the seed's 16 inputs, exact sums"
inputs=500000,500100,500200,500300,500400,500500,500600,500700
declare -A sums=([500000]=9914236195 [500100]=9917236483 [500200]=9922237979 [500300]=9926740220
    [500400]=9930743046 [500500]=9934746636 [500600]=9938250425 [500700]=9941254397)
"$submit" sum-primes --inputs "$inputs,$inputs" --coordinator "$url" >"$workdir/seed.txt"
expected=$(for n in ${inputs//,/ } ${inputs//,/ }; do echo "Sum of primes below $n is ${sums[$n]}"; done)
diff <(echo "$expected") <(grep '^Sum of primes' "$workdir/seed.txt") || fail "wrong sums"
done_step

workers=($("${compose[@]}" ps -q worker))
network="${project}_default"

step "200 x spin 50 ms; docker kill a worker"
victim=${workers[0]}
spin_with_fault kill docker kill "$victim" >/dev/null
# A killed container is a manual stop: its restart policy leaves it down.
echo "   killed worker restarted by docker: $(docker inspect -f '{{.State.Running}}' "$victim")"
docker start "$victim" >/dev/null
rejoins "$victim"
done_step

step "200 x spin 50 ms; a worker off the network for 10 s"
victim=${workers[1]}
spin_with_fault partition bash -c "docker network disconnect $network $victim && sleep 10 &&
    docker network connect $network $victim"
rejoins "$victim"
done_step

step "200 x spin 50 ms; docker pause a worker for 5 s"
victim=${workers[0]}
spin_with_fault pause bash -c "docker pause $victim >/dev/null && sleep 5 && docker unpause $victim >/dev/null"
rejoins "$victim"
done_step

step "--scale worker=4: status lists 4 active workers; every container healthy"
"${compose[@]}" up -d --scale worker=4 >/dev/null 2>&1
wait_for 60 "4 active workers" has_active 4
listed=$("$submit" status --coordinator "$url" | grep -cE ' active +[0-9]' || true)
[[ $listed -eq 4 ]] || fail "status lists $listed active workers, not 4"
healthy() { [[ $(docker inspect -f '{{.State.Health.Status}}' "$1") == healthy ]]; }
for container in $("${compose[@]}" ps -q); do
    wait_for 30 "healthy $container (HEALTHCHECK by cluster-health)" healthy "$container"
done
echo "   user: $(docker inspect -f '{{.Config.User}}' "$("${compose[@]}" ps -q coordinator)"), all healthy"
done_step

awk -v a="$total_started" -v b="$(date +%s.%N)" 'BEGIN { printf "== smoke: passed in %.1f s\n", b - a }'

#!/usr/bin/env bash
# Instructions per request: `users(first: 50)` under callgrind (valgrind).
#
#   benches/instructions.sh DATABASE_URL [REQUESTS] [BINARY...]
#
# Counts the CPU instructions the server executes per request, which unlike
# requests/s does not move with whatever else the machine is doing: the way
# to compare two builds on a shared, noisy machine. Each binary (default: a
# `dist` build (fat LTO) of this checkout) serves DATABASE_URL (already seeded, e.g.
# by `headcount seed --users 100000 --changes 1000000`) under callgrind; after
# 20 warm-up requests the counters are zeroed, REQUESTS requests (default
# 200) are sent four at a time with curl, and the total is divided by
# REQUESTS. Instructions are not time (atomics, cache misses and system calls
# weigh differently), so confirm a gain with http_load.sh as well.
set -euo pipefail

url=${1:?usage: benches/instructions.sh DATABASE_URL [REQUESTS] [BINARY...]}
requests=${2:-200}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")/.." && pwd)
port=${HEADCOUNT_BENCH_PORT:-18482}

command -v valgrind >/dev/null || { echo "install valgrind: apt-get install valgrind" >&2; exit 1; }
if [ $# -eq 0 ]; then
    cargo build --profile dist --quiet --manifest-path "$here/Cargo.toml"
    set -- "$here/target/dist/headcount"
fi

query='{"query":"{ users(first: 50) { edges { cursor node { id userId email name status enabled roles realm { name } datasets { datasetName role } createdAt } } pageInfo { hasNextPage endCursor } } }"}'

for bin in "$@"; do
    work=$(mktemp -d)
    secret=$("$bin" token create --database-url "$url" --name instructions --scope USERS_READ | tail -n 1)
    printf '%s' "$query" >"$work/body.json"
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
        "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --data-dir "$work" \
        >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 240); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.5
    done
    post() {
        curl -s -o /dev/null -X POST -H "Authorization: Bearer $secret" \
            -H 'Content-Type: application/json' --data-binary @"$work/body.json" \
            "http://127.0.0.1:$port/graphql"
    }
    for _ in $(seq 20); do post; done
    callgrind_control -z "$server" >/dev/null 2>&1
    export -f post; export secret work port
    seq "$requests" | xargs -P 4 -I{} bash -c post
    callgrind_control -d "$server" >/dev/null 2>&1
    kill "$server"; wait "$server" 2>/dev/null || true
    # The dump after zeroing holds the requests (callgrind.out.1).
    total=$(awk '/^(summary|totals):/{print $2; exit}' "$work/callgrind.out.1")
    echo "$bin: $((total / requests)) instructions per request"
    rm -rf "$work"
done

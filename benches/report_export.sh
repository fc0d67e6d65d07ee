#!/usr/bin/env bash
# A changelog report of every row of a generated history, in each format,
# beside the database's own CSV export of the same table in the same run:
# wall time and peak resident memory (GNU time). Issue 11's target: CSV
# within 1.2x of the database's export, under 100 MB.
#
#   benches/report_export.sh [USERS] [CHANGES]      (default 100000 1000000)
#
# Needs a built binary (BIN, default target/dist/headcount; build it with
# `cargo build --profile dist`), sqlite3, and for PostgreSQL psql with
# HEADCOUNT_BENCH_PG (e.g. postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/dist/headcount}
USERS=${1:-100000}
CHANGES=${2:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # label command...
    local label=$1; shift
    /usr/bin/time -f "$label: %e s, %M KB peak RSS" "$@" > /dev/null 2> "$work/time" || {
        cat "$work/time" >&2; return 1; }
    tail -1 "$work/time"
}

run() { # url export-command [settle-command]
    local url=$1 export=$2 settle=${3:-}
    echo "== $url: seeding $USERS users, $CHANGES changes"
    "$BIN" --database-url "$url" seed --users "$USERS" --changes "$CHANGES" 2>/dev/null | tail -1
    # Both sides then read a settled table: on PostgreSQL, autovacuum would
    # otherwise start on the fresh rows in the middle of the runs.
    [ -z "$settle" ] || sh -c "$settle"
    measure "database export (CSV)" sh -c "$export > $work/db.csv"
    for format in csv json ndjson; do
        measure "headcount report changelog --format $format" \
            env RUST_LOG=warn "$BIN" --database-url "$url" report changelog --format "$format" \
            -o "$work/report.$format" --data-dir "$work/data"
    done
    echo "rows: report $(($(wc -l < "$work/report.ndjson"))), export $(($(wc -l < "$work/db.csv")))"
}

sqlite="$work/bench.db"
run "sqlite://$sqlite?mode=rwc" "sqlite3 -csv -header $sqlite 'SELECT * FROM user_changes ORDER BY changed_at, id'"

if [ -n "${HEADCOUNT_BENCH_PG:-}" ]; then
    db=hc_report_bench
    psql "$HEADCOUNT_BENCH_PG/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    run "$HEADCOUNT_BENCH_PG/$db" \
        "psql $HEADCOUNT_BENCH_PG/$db -qc '\\copy (SELECT * FROM user_changes ORDER BY changed_at, id) TO STDOUT CSV HEADER'" \
        "psql $HEADCOUNT_BENCH_PG/$db -qc 'VACUUM (ANALYZE)'"
    psql "$HEADCOUNT_BENCH_PG/postgres" -qc "DROP DATABASE $db"
fi

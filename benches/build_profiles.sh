#!/usr/bin/env bash
# Build cost and request cost of the release profiles, side by side.
#
#   benches/build_profiles.sh DATABASE_URL [PROFILE...]
#
# For each profile (default: release dist), builds this checkout from scratch
# into a target directory of its own and prints the build's wall time and CPU
# time (user + system: on a shared machine the wall time moves with the
# other load, the CPU time much less), then counts instructions per
# `users(first: 50)` request for every binary with instructions.sh.
# DATABASE_URL must already be seeded (`headcount seed --users 100000
# --changes 1000000`).
set -euo pipefail

url=${1:?usage: benches/build_profiles.sh DATABASE_URL [PROFILE...]}
shift
[ $# -gt 0 ] || set -- release dist
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${HEADCOUNT_BENCH_SCRATCH:-/tmp/headcount-build-profiles}

binaries=()
for profile in "$@"; do
    target="$scratch/$profile"
    rm -rf "$target"
    start=$(date +%s)
    times=$( { /usr/bin/time -f '%U %S' cargo build --quiet --locked --profile "$profile" \
        --manifest-path "$here/Cargo.toml" --target-dir "$target" --bin headcount; } 2>&1 | tail -n 1)
    wall=$(( $(date +%s) - start ))
    cpu=$(awk '{printf "%d", $1 + $2}' <<<"$times")
    size=$(stat -c %s "$target/$profile/headcount")
    echo "$profile: build ${wall}s wall, ${cpu}s CPU, binary $((size / 1024 / 1024)) MiB"
    binaries+=("$target/$profile/headcount")
done
"$here/benches/instructions.sh" "$url" 200 "${binaries[@]}"

#!/usr/bin/env bash
# The counter's /read (memory store) against the floor example's /floor: the least a session
# layer with sessionvault's safeguards does (find the cookie, check the ID, keyed hash, one map
# lookup, the two cache headers). Each against its own server's /bare, in alternating pairs.
# Shows how much of /read's cost any such layer pays on this machine, and each server's user and
# kernel CPU time per request beyond its /bare (from /proc). Not part of CI.
#
#   ./scripts/bench-floor.sh [SECONDS_PER_RUN] [CONNECTIONS]     # BENCH_ROUNDS pairs (default 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v wrk >/dev/null; then
    echo "error: wrk is needed (apt-get install wrk)" >&2
    exit 2
fi
cargo build --release --locked -p sessionvault-axum --example counter --example floor >&2
target=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
python3 scripts/bench_floor.py "$target/release/examples/counter" "$target/release/examples/floor" "${1:-1}" "${2:-32}"

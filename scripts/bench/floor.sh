#!/usr/bin/env bash
# The counter's /read against the floor example's /floor: the least a layer can do.
#
# The counter's /read (memory store) against the floor example's /floor: the least a session
# layer with sessionvault's safeguards does (find the cookie, check the ID, keyed hash, one map
# lookup, the two cache headers). Each against its own server's /bare, in alternating pairs.
# Shows how much of /read's cost any such layer pays on this machine, and each server's user and
# kernel CPU time per request beyond its /bare (from /proc). Not part of CI.
#
#   scripts/bench.sh floor [SECONDS_PER_RUN] [CONNECTIONS]     # BENCH_ROUNDS pairs (default 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
sv_bench_need wrk
cargo build --release --locked -p sessionvault-axum --example counter --example floor >&2
target=$(sv_bench_target_dir)
python3 scripts/bench/drivers/floor.py "$target/release/examples/counter" "$target/release/examples/floor" "${1:-1}" "${2:-32}"

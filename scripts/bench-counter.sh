#!/usr/bin/env bash
# The counter example under load: requests per second of /read and /incr against a bare axum
# handler (/bare) in the same run, with every store (memory, SQLite, PostgreSQL, Redis, Redis
# Cluster); the server's user and kernel CPU time per request for both (from /proc); for /incr,
# whether every increment answered 200 is in the session afterwards; and, on Redis, the
# commands each request sends. Not part of CI. Servers are found or started as
# ./scripts/test.sh does.
#
#   ./scripts/bench-counter.sh [SECONDS_PER_RUN] [CONNECTIONS]
#
# BENCH_ROUNDS (default 5) sets how many /bare-/read pairs alternate per store; on a shared,
# noisy machine many short pairs (BENCH_ROUNDS=30 with 1-second runs) give a steadier median.
# BENCH_STORES (say "memory") limits the run to some stores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "error: wrk is needed (apt-get install wrk)" >&2
        exit 2
    fi
fi
. scripts/lib/services.sh
trap sv_stop_services EXIT
sv_postgres >&2
sv_redis >&2
sv_redis_cluster >&2
cargo build --release --locked -p sessionvault-axum --example counter >&2
target=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
stores=(memory "sqlite:" "${SESSIONVAULT_POSTGRES_URL:-}" "${SESSIONVAULT_REDIS_URL:-}" "${SESSIONVAULT_REDIS_CLUSTER:-}")
if [ -n "${BENCH_STORES:-}" ]; then
    read -r -a stores <<<"$BENCH_STORES"
fi
python3 scripts/bench_counter.py "$target/release/examples/counter" "${1:-5}" "${2:-32}" "${stores[@]}"

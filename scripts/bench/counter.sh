#!/usr/bin/env bash
# The counter example's stores under wrk: /read and /incr against /bare, CPU per request.
#
# The counter example under load: requests per second of /read and /incr against a bare axum
# handler (/bare) in the same run, with every store (memory, SQLite, PostgreSQL, Redis, Redis
# Cluster); the server's user and kernel CPU time per request for both (from /proc); for /incr,
# whether every increment answered 200 is in the session afterwards; and, on Redis, the
# commands each request sends. Not part of CI. Servers are found or started as
# ./scripts/test.sh does.
#
#   scripts/bench.sh counter [SECONDS_PER_RUN] [CONNECTIONS]
#
# BENCH_ROUNDS (default 5) sets how many /bare-/read pairs alternate per store; on a shared,
# noisy machine many short pairs (BENCH_ROUNDS=30 with 1-second runs) give a steadier median.
# BENCH_STORES (say "memory") limits the run to some stores.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
sv_bench_need wrk
. scripts/lib/services.sh
trap sv_stop_services EXIT
sv_postgres >&2
sv_redis >&2
sv_redis_cluster >&2
cargo build --release --locked -p sessionvault-axum --example counter >&2
target=$(sv_bench_target_dir)
stores=(memory "sqlite:" "${SESSIONVAULT_POSTGRES_URL:-}" "${SESSIONVAULT_REDIS_URL:-}" "${SESSIONVAULT_REDIS_CLUSTER:-}")
if [ -n "${BENCH_STORES:-}" ]; then
    read -r -a stores <<<"$BENCH_STORES"
fi
python3 scripts/bench/drivers/counter.py "$target/release/examples/counter" "${1:-5}" "${2:-32}" "${stores[@]}"

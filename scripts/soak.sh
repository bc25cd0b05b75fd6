#!/usr/bin/env bash
# A soak test of the counter example: a fixed rate of mixed requests (sign-ins, reads,
# increments, sign-outs, revocations, sessions left to expire) for a while on each store, with
# p50/p99 latency and the server's memory per interval and a final audit (scripts/soak.py).
# Out of CI at full length; ./scripts/test.sh runs a short one.
#
#   ./scripts/soak.sh [--seconds 600] [--rate 100] [--interval 60] [--release] [--store STORE]...
#
# STORE is `redis` (a throwaway Redis started here), `sqlite` (a temporary file) or a
# redis://, redis+sentinel://... URL of a server used by nothing else (the audit counts every
# `sv:*` key). Default: --store redis --store sqlite.
set -euo pipefail
seconds=600 rate=100 interval=60 profile=debug stores=()
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --release) profile=release; shift ;;
        --store) stores+=("$2"); shift 2 ;;
        *) echo "usage: $0 [--seconds N] [--rate R] [--interval N] [--release] [--store STORE]..." >&2; exit 2 ;;
    esac
done
[ ${#stores[@]} -gt 0 ] || stores=(redis sqlite)
# Short runs report every tenth of the run rather than every minute.
[ "$seconds" -ge $((interval * 2)) ] || interval=$(( (seconds + 9) / 10 ))
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/services.sh
trap sv_stop_services EXIT

flags=()
[ "$profile" = release ] && flags=(--release)
cargo build -q "${flags[@]}" -p sessionvault-axum --example counter
binary=${CARGO_TARGET_DIR:-target}/$profile/examples/counter

status=0
for store in "${stores[@]}"; do
    cli=""
    case $store in
        redis)
            sv_need_redis_server || { echo "    SKIPPED: soak on Redis (no redis-server)"; continue; }
            dir=$(mktemp -d /tmp/sessionvault-soak.XXXXXX)
            SV_CLEANUPS+=("rm -rf $dir")
            port=$(sv_free_port)
            sv_start_redis "$port" "$dir"
            store="redis://127.0.0.1:$port"
            cli="redis-cli -p $port" ;;
        sqlite)
            dir=$(mktemp -d /tmp/sessionvault-soak.XXXXXX)
            SV_CLEANUPS+=("rm -rf $dir")
            store="sqlite:$dir/soak.db" ;;
        redis*) cli="redis-cli -u ${store%%\?*}" ;;
    esac
    python3 scripts/soak.py "$binary" "$seconds" "$rate" "$interval" "$store" "$cli" || status=1
done
exit $status

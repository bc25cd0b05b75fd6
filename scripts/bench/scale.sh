#!/usr/bin/env bash
# Scale: /read and /incr latency with 1,000 to 1,000,000 live sessions already in the store,
# and bytes per stored session, sessionvault beside tower-sessions, on Redis, PostgreSQL and
# SQLite (private servers on free loopback ports, so nothing else's traffic is measured).
#
#   scripts/bench.sh scale [--sizes 1000,100000,1000000] [--stores redis,postgres,sqlite]
#                          [--libraries sessionvault,tower-sessions] [--duration 5]
#                          [--rounds 2] [--connections 32] [--cookies 10000] [--bytes-only]
#                          [--no-build]
#
# For each store: for each library and size, bulk-load N sessions {"n": 0} with bench/loader
# (through the library's own store API) into a store of their own (a Redis database, a
# PostgreSQL database, an SQLite file), and measure the bytes they take. Then, in each round,
# for each library and size (in an order that rotates from round to round), start the
# library's bench server on that store and run wrk on GET /read and GET /incr, with every
# request as a random one of `--cookies` pre-loaded sessions ("many") and as one session
# ("hot"). The sizes' runs interleave, so that a p99 at a million and at a thousand come from
# the same minutes of this shared machine; the tables give medians over the rounds, and each
# p99 ratio is the median of the rounds' own. Prints Markdown tables; the raw rows go to
# $OUT_DIR/scale.tsv.
# Targets (issue 22): p99 at 1,000,000 within 10% of p99 at 1,000; at most 250 bytes of Redis
# memory per small session.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIZES=1000,100000,1000000
STORES=redis,postgres,sqlite
LIBRARIES=sessionvault,tower-sessions
DURATION=5
ROUNDS=2
CONNECTIONS=32
COOKIES=10000
BYTES_ONLY=0
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
        --sizes) SIZES=$2; shift 2 ;;
        --stores) STORES=$2; shift 2 ;;
        --libraries) LIBRARIES=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --cookies) COOKIES=$2; shift 2 ;;
        --bytes-only) BYTES_ONLY=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

# shellcheck source=../lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"
# What every benchmark request sends; the loader records it in each sessionvault session, as a
# request sending it would.
USER_AGENT=$SV_BENCH_BROWSER
BENCH_TARGET=$(cd "$ROOT" && sv_bench_target_dir bench/Cargo.toml)
BIN=$BENCH_TARGET/release
WORK=$(mktemp -d /tmp/sessionvault-scale.XXXXXX)
OUT_DIR=${OUT_DIR:-$WORK}
TSV=$OUT_DIR/scale.tsv
CLEANUPS=()
cleanup() {
    local cmd
    for cmd in "${CLEANUPS[@]}"; do eval "$cmd" >/dev/null 2>&1 || true; done
    [ "$OUT_DIR" = "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# user + system CPU of a process, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

need_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v sqlite3 >/dev/null || missing+=(sqlite3)
    ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} from Debian's packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --dir "$WORK" --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" >/dev/null
    CLEANUPS+=("redis-cli -p $REDIS_PORT shutdown nosave")
    local i
    for i in $(seq 50); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    REDIS_PID=$(cat "$WORK/redis.pid")
    echo "private Redis on 127.0.0.1:$REDIS_PORT"
}

start_postgres() {
    local bin run=()
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    bin=${bin:-$(dirname "$(command -v initdb)")}
    PG_PORT=$(free_port)
    mkdir -p "$WORK/pg"
    chmod o+x "$WORK"  # PostgreSQL runs as its own user, which must reach its data directory.
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$WORK/pg"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$WORK/pg/data" -U postgres --auth=trust >/dev/null
    # fsync off: the loads measure the client and server work, not this machine's disk.
    "${run[@]}" "$bin/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
        -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
        start >/dev/null
    CLEANUPS+=("${run[*]} $bin/pg_ctl -D $WORK/pg/data -m immediate stop")
    PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt)
    echo "private PostgreSQL on 127.0.0.1:$PG_PORT"
}

# The store of one library's sessions at one size, emptied; sets STORE_URL, and REDIS_DB,
# PG_DB or SQLITE_FILE. Each (library, size) has its own, so that all of a store's sizes are
# loaded at once and their runs can interleave.
fresh_store() {
    local store=$1 size=$2 library=$3 index=$4
    case $store in
        redis)
            REDIS_DB=$index
            redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" flushdb >/dev/null
            STORE_URL="redis://127.0.0.1:$REDIS_PORT/$REDIS_DB" ;;
        postgres)
            PG_DB="bench_${library//-/_}_$size"
            "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
            STORE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB" ;;
        sqlite)
            SQLITE_FILE="$WORK/$library-$size.db"
            rm -f "$SQLITE_FILE"*
            STORE_URL="sqlite:$SQLITE_FILE" ;;
    esac
}

# Drops a store's sessions once its runs are done, so that the next store's have the machine's
# memory and disk to themselves.
drop_store() {
    case $1 in
        redis) redis-cli -p "$REDIS_PORT" flushall >/dev/null ;;
        postgres)
            local db
            for db in $("${PSQL[@]}" -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'bench\_%'"); do
                "${PSQL[@]}" -d postgres -c "DROP DATABASE $db"
            done ;;
        sqlite) rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm ;;
    esac
}

redis_used_memory() {
    redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'
}

# Bytes per session: "delta/N sample" (Redis: used_memory delta / N, and the mean MEMORY USAGE
# of up to 200 keys), "total table index" (PostgreSQL, / N), "file" (SQLite, / N).
measure_bytes() {
    local store=$1 size=$2 before=$3
    case $store in
        redis)
            local after sample
            after=$(redis_used_memory)
            # head closes the scan early; that is not a failure.
            sample=$({ redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" --scan || true; } | head -n 200 |
                while read -r key; do redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" memory usage "$key" samples 0; done |
                awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 0 }')
            BYTES="$(( (after - before) / size ))"
            BYTES_DETAIL="used_memory delta/N $BYTES; MEMORY USAGE mean $sample; keys $(redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" dbsize)"
            ;;
        postgres)
            local row
            "${PSQL[@]}" -d "$PG_DB" -c "VACUUM ANALYZE" >/dev/null
            row=$("${PSQL[@]}" -d "$PG_DB" -F ' ' -c "
                SELECT sum(pg_total_relation_size(c.oid)), sum(pg_table_size(c.oid)),
                       sum(pg_indexes_size(c.oid))
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')")
            read -r total table index <<<"$row"
            BYTES=$(( total / size ))
            BYTES_DETAIL="total/N $BYTES; table/N $(( table / size )); indexes/N $(( index / size ))"
            ;;
        sqlite)
            sqlite3 "$SQLITE_FILE" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
            local bytes
            bytes=$(stat -c %s "$SQLITE_FILE")
            BYTES=$(( bytes / size ))
            BYTES_DETAIL="file/N $BYTES (file $bytes bytes)"
            ;;
    esac
}

start_server() {
    local library=$1 log=$WORK/server.log
    local args=(--listen 127.0.0.1:0 --store "$STORE_URL")
    [ "$library" = sessionvault ] && args+=(--secret-file "$WORK/secret")
    "$BIN/$library-axum" "${args[@]}" >"$WORK/server.out" 2>"$log" &
    SERVER_PID=$!
    CLEANUPS+=("kill $SERVER_PID")
    local i
    for i in $(seq 100); do
        SERVER_URL=$(sed -n 's|^listening on \(http://[0-9.:]*\).*|\1|p' "$WORK/server.out")
        [ -n "$SERVER_URL" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the $library server did not start:" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# One wrk run; appends a row to the TSV.
run_wrk() {
    local size=$1 store=$2 library=$3 endpoint=$4 workload=$5 round=$6
    local server0 store0 out
    server0=$(cpu_ticks "$SERVER_PID")
    store0=$([ "$store" = redis ] && cpu_ticks "$REDIS_PID" || echo 0)
    out=$(SCALE_COOKIES=$WORK/cookies-$library-$size SCALE_WORKLOAD=$workload SCALE_USER_AGENT=$USER_AGENT \
        wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$ROOT/scripts/bench/scale.lua" \
        "$SERVER_URL/$endpoint" | grep '^SCALE ')
    local server1 store1 tick
    server1=$(cpu_ticks "$SERVER_PID")
    store1=$([ "$store" = redis ] && cpu_ticks "$REDIS_PID" || echo 0)
    tick=$(getconf CLK_TCK)
    eval "${out#SCALE }"  # requests seconds p50_us p99_us errors non2xx
    local server_us store_us
    server_us=$(awk -v d=$((server1 - server0)) -v t="$tick" -v r="$requests" 'BEGIN { printf "%.1f", r ? d * 1e6 / t / r : 0 }')
    store_us=$(awk -v d=$((store1 - store0)) -v t="$tick" -v r="$requests" 'BEGIN { printf "%.1f", r ? d * 1e6 / t / r : 0 }')
    [ "$store" = redis ] || store_us="—"
    printf 'latency\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$store" "$library" \
        "$endpoint" "$workload" "$(awk -v r="$requests" -v s="$seconds" 'BEGIN { print r / s }')" \
        "$p50_us" "$p99_us" "$server_us" "$store_us" "$((errors + non2xx))" "$round" >>"$TSV"
    printf '  %-5s %-4s  p50 %6s µs  p99 %6s µs  server %6s µs/req  store %5s µs/req  errors+non2xx %s\n' \
        "/$endpoint" "$workload" "$p50_us" "$p99_us" "$server_us" "$store_us" "$((errors + non2xx))"
}

main() {
    need_tools
    local started=$SECONDS
    [ "$BUILD" = 1 ] && echo "building the bench workspace (release) in $BENCH_TARGET" &&
    CARGO_TARGET_DIR=$BENCH_TARGET cargo build --release --locked --quiet \
        --manifest-path "$ROOT/bench/Cargo.toml" -p bench-loader -p bench-servers \
        --bin loader --bin sessionvault-axum --bin tower-sessions-axum
    if [ "$BYTES_ONLY" = 0 ]; then
        local library
        IFS=, read -r -a libraries <<<"$LIBRARIES"
        for library in "${libraries[@]}"; do
            [ -x "$BIN/$library-axum" ] || {
                echo "no $BIN/$library-axum: bench/servers must provide it (or use --bytes-only)" >&2
                exit 1
            }
        done
    fi
    declare -A URLS
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/secret"
    : >"$TSV"
    IFS=, read -r -a sizes <<<"$SIZES"
    IFS=, read -r -a stores <<<"$STORES"
    IFS=, read -r -a libraries <<<"$LIBRARIES"
    local store
    for store in "${stores[@]}"; do
        case $store in
            redis) start_redis ;;
            postgres) start_postgres ;;
            sqlite) ;;
            *) echo "unknown store: $store" >&2; exit 2 ;;
        esac
    done
    local size library store_index
    for store in "${stores[@]}"; do
        # Every library's sessions at every size, each in a store of its own.
        store_index=0
        for library in "${libraries[@]}"; do
            for size in "${sizes[@]}"; do
                store_index=$((store_index + 1))
                echo "== loading $size sessions, $store, $library"
                fresh_store "$store" "$size" "$library" "$store_index"
                URLS["$library-$size"]=$STORE_URL
                local before=0 t0 t1 load_s rate
                [ "$store" = redis ] && before=$(redis_used_memory)
                # SQLite takes one writer at a time: more in flight only wait on its lock and
                # starve the WAL checkpoints.
                local in_flight=512
                [ "$store" = sqlite ] && in_flight=4
                t0=$(date +%s.%N)
                "$BIN/loader" --library "$library" --store "$STORE_URL" --count "$size" \
                    --concurrency "$in_flight" \
                    --secret-file "$WORK/secret" --user-agent "$USER_AGENT" \
                    --print-cookies "$COOKIES" --cookies-file "$WORK/cookies-$library-$size"
                t1=$(date +%s.%N)
                load_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
                rate=$(awk -v n="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
                measure_bytes "$store" "$size" "$before"
                echo "  loaded in $load_s s ($rate/s); bytes per session: $BYTES_DETAIL"
                printf 'bytes\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$store" "$library" \
                    "$load_s" "$rate" "$BYTES" "$BYTES_DETAIL" >>"$TSV"
            done
        done
        if [ "$BYTES_ONLY" = 0 ]; then
            local round offset order endpoint workload
            for round in $(seq "$ROUNDS"); do
                # The sizes' order rotates, so that no size always runs first or last.
                offset=$(( (round - 1) % ${#sizes[@]} ))
                order=("${sizes[@]:offset}" "${sizes[@]:0:offset}")
                for library in "${libraries[@]}"; do
                    for size in "${order[@]}"; do
                        echo "== round $round of $ROUNDS: $size sessions, $store, $library"
                        STORE_URL=${URLS["$library-$size"]}
                        start_server "$library"
                        for endpoint in read incr; do
                            for workload in many hot; do
                                run_wrk "$size" "$store" "$library" "$endpoint" "$workload" "$round"
                            done
                        done
                        stop_server
                    done
                done
            done
        fi
        drop_store "$store"
    done
    report
    echo
    echo "raw rows: $TSV; wall time $(( SECONDS - started )) s"
}

report() {
    echo
    echo "### Loading and bytes per stored session"
    echo
    echo "| sessions | store | library | load s | sessions/s | bytes per session | detail |"
    echo "|---:|---|---|---:|---:|---:|---|"
    awk -F'\t' '$1 == "bytes" { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, $7, $8 }' "$TSV"
    [ "$BYTES_ONLY" = 1 ] && return 0
    echo
    echo "### Latency by live sessions ($ROUNDS interleaved rounds: medians; p99 ratio: the median of each round's ratio to the smallest size's, with their range)"
    echo
    echo "| sessions | store | library | endpoint | workload | req/s | p50 µs | p99 µs | p99 / smallest | server µs/req | Redis µs/req | errors |"
    echo "|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    python3 - "$TSV" "${SIZES%%,*}" <<'PY'
import statistics, sys
from collections import defaultdict

tsv, smallest = sys.argv[1], sys.argv[2]
runs = defaultdict(list)  # (size, store, library, endpoint, workload) -> rows
for line in open(tsv):
    f = line.rstrip("\n").split("\t")
    if f[0] == "latency":
        runs[tuple(f[1:6])].append(f)
p99 = {(key, f[12]): float(f[8]) for key, rows in runs.items() for f in rows}

def median(values, digits=0):
    values = [float(v) for v in values if v not in ("", "—")]
    return f"{statistics.median(values):.{digits}f}" if values else "—"

first_seen = {}
for key in runs:
    for i, part in enumerate(key):
        first_seen.setdefault((i, part), len(first_seen))

def order(key):
    size, *rest = key
    return (first_seen[(1, key[1])], first_seen[(2, key[2])], int(size),
            first_seen[(3, key[3])], first_seen[(4, key[4])])

for key in sorted(runs, key=order):
    rows = runs[key]
    size, store, library, endpoint, workload = key
    small = (smallest, store, library, endpoint, workload)
    ratios = [float(f[8]) / p99[(small, f[12])] for f in rows if p99.get((small, f[12]))]
    ratio = "—"
    if ratios:
        ratio = f"{statistics.median(ratios):.2f}"
        if len(ratios) > 1 and size != smallest:
            ratio += f" ({min(ratios):.2f}–{max(ratios):.2f})"
    print(f"| {size} | {store} | {library} | /{endpoint} | {workload} | {median(f[6] for f in rows)} "
          f"| {median(f[7] for f in rows)} | {median(f[8] for f in rows)} | {ratio} "
          f"| {median((f[9] for f in rows), 1)} | {median((f[10] for f in rows), 1)} "
          f"| {sum(int(f[11]) for f in rows)} |")
PY
}

main

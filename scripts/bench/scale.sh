#!/usr/bin/env bash
# Scale: /read and /incr latency with 1,000 to 1,000,000 live sessions already in the store,
# and bytes per stored session, sessionvault beside tower-sessions, on Redis, PostgreSQL and
# SQLite (private servers on free loopback ports, so nothing else's traffic is measured).
#
#   scripts/bench.sh scale [--sizes 1000,100000,1000000] [--stores redis,postgres,sqlite]
#                          [--libraries sessionvault,tower-sessions] [--duration 5]
#                          [--connections 32] [--cookies 10000] [--bytes-only] [--no-build]
#
# For each size, store and library: empty the store, bulk-load N sessions {"n": 0} with
# bench/loader (through the library's own store API), measure the bytes they take, start the
# library's bench server on that store and run wrk on GET /read and GET /incr, with every
# request as a random one of `--cookies` pre-loaded sessions ("many") and as one session
# ("hot"). Prints Markdown tables; the raw rows go to $OUT_DIR/scale.tsv.
# Targets (issue 22): p99 at 1,000,000 within 10% of p99 at 1,000; at most 250 bytes of Redis
# memory per small session.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIZES=1000,100000,1000000
STORES=redis,postgres,sqlite
LIBRARIES=sessionvault,tower-sessions
DURATION=5
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
        --connections) CONNECTIONS=$2; shift 2 ;;
        --cookies) COOKIES=$2; shift 2 ;;
        --bytes-only) BYTES_ONLY=1; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
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

# An empty store for one run; sets STORE_URL.
fresh_store() {
    local store=$1 size=$2 library=$3
    case $store in
        redis)
            redis-cli -p "$REDIS_PORT" flushall >/dev/null
            STORE_URL="redis://127.0.0.1:$REDIS_PORT/0" ;;
        postgres)
            "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
            STORE_URL="postgres://postgres@127.0.0.1:$PG_PORT/bench" ;;
        sqlite)
            SQLITE_FILE="$WORK/$library-$size.db"
            rm -f "$SQLITE_FILE"*
            STORE_URL="sqlite:$SQLITE_FILE" ;;
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
            sample=$({ redis-cli -p "$REDIS_PORT" --scan || true; } | head -n 200 |
                while read -r key; do redis-cli -p "$REDIS_PORT" memory usage "$key" samples 0; done |
                awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 0 }')
            BYTES="$(( (after - before) / size ))"
            BYTES_DETAIL="used_memory delta/N $BYTES; MEMORY USAGE mean $sample; keys $(redis-cli -p "$REDIS_PORT" dbsize)"
            ;;
        postgres)
            local row
            "${PSQL[@]}" -d bench -c "VACUUM ANALYZE" >/dev/null
            row=$("${PSQL[@]}" -d bench -F ' ' -c "
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
    local size=$1 store=$2 library=$3 endpoint=$4 workload=$5
    local server0 store0 out
    server0=$(cpu_ticks "$SERVER_PID")
    store0=$([ "$store" = redis ] && cpu_ticks "$REDIS_PID" || echo 0)
    out=$(SCALE_COOKIES=$WORK/cookies SCALE_WORKLOAD=$workload SCALE_USER_AGENT=$USER_AGENT \
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
    printf 'latency\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\n' "$size" "$store" "$library" \
        "$endpoint" "$workload" "$(awk -v r="$requests" -v s="$seconds" 'BEGIN { print r / s }')" \
        "$p50_us" "$p99_us" "$server_us" "$store_us" "$((errors + non2xx))" >>"$TSV"
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
    local size library
    for size in "${sizes[@]}"; do
        for store in "${stores[@]}"; do
            for library in "${libraries[@]}"; do
                echo "== $size sessions, $store, $library"
                fresh_store "$store" "$size" "$library"
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
                    --print-cookies "$COOKIES" --cookies-file "$WORK/cookies"
                t1=$(date +%s.%N)
                load_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
                rate=$(awk -v n="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
                measure_bytes "$store" "$size" "$before"
                echo "  loaded in $load_s s ($rate/s); bytes per session: $BYTES_DETAIL"
                printf 'bytes\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$store" "$library" \
                    "$load_s" "$rate" "$BYTES" "$BYTES_DETAIL" >>"$TSV"
                [ "$BYTES_ONLY" = 1 ] && continue
                start_server "$library"
                local endpoint workload
                for endpoint in read incr; do
                    for workload in many hot; do
                        run_wrk "$size" "$store" "$library" "$endpoint" "$workload"
                    done
                done
                stop_server
            done
        done
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
    echo "### Latency by live sessions (p99 ratio: to the smallest size's, same row otherwise)"
    echo
    echo "| sessions | store | library | endpoint | workload | req/s | p50 µs | p99 µs | p99 / smallest | server µs/req | Redis µs/req | errors |"
    echo "|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v small="${SIZES%%,*}" '
        $1 == "latency" { key = $3 "|" $4 "|" $5 "|" $6; if ($2 == small) base[key] = $9; rows[++n] = $0 }
        END {
            for (i = 1; i <= n; i++) {
                split(rows[i], f, "\t"); key = f[3] "|" f[4] "|" f[5] "|" f[6]
                ratio = (key in base && base[key] > 0) ? sprintf("%.2f", f[9] / base[key]) : "—"
                printf "| %s | %s | %s | /%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], ratio, f[10], f[11], f[12]
            }
        }' "$TSV"
}

main

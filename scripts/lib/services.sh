# Sourced by scripts/test.sh: makes sure the servers the tests need answer on loopback, starting
# throwaway ones when nothing does, and stops what it started. A service that can be neither
# found nor started is added to SESSIONVAULT_SKIP_SERVICES and its tests are named as skipped.

SV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SV_STARTED_PIDS=()
SV_CLEANUPS=()
SV_SKIPPED=()

sv_stop_services() {
    local cmd
    for cmd in "${SV_CLEANUPS[@]}"; do
        eval "$cmd" >/dev/null 2>&1 || true
    done
}

# True when something accepts TCP connections on HOST:PORT.
sv_port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

sv_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sv_skip() {
    SV_SKIPPED+=("$1")
    export SESSIONVAULT_SKIP_SERVICES=$(IFS=,; echo "${SV_SKIPPED[*]}")
}

sv_postgres() {
    local url=${SESSIONVAULT_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
    local hostport=${url#*@}
    hostport=${hostport%%/*}
    if sv_port_open "${hostport%:*}" "${hostport#*:}"; then
        export SESSIONVAULT_POSTGRES_URL=$url
        echo "    PostgreSQL answers at $hostport"
        SV_CLEANUPS+=("sv_postgres_drop_test_schemas")
        return 0
    fi
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "    installing postgresql from Debian's packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
    if [ -z "$bin" ]; then
        # Not installed, and not root to install it.
        sv_skip postgres
        return 0
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        # PostgreSQL refuses to run as root, and there is no postgres user to run it as.
        sv_skip postgres
        return 0
    fi
    # A throwaway cluster in a temporary directory, on a free loopback port. PostgreSQL will
    # not run as root, so as root it runs as the postgres user the package created; anyone else
    # runs it as themselves.
    local dir port run
    dir=$(mktemp -d /tmp/sessionvault-pg.XXXXXX)
    port=$(sv_free_port)
    run=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    SV_CLEANUPS+=("${run[*]} $bin/pg_ctl -D $dir/data -m immediate stop; rm -rf $dir")
    export SESSIONVAULT_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "    started a throwaway PostgreSQL on 127.0.0.1:$port"
}

# The conformance tests make a schema each; on a server we did not start, remove them.
sv_postgres_drop_test_schemas() {
    command -v psql >/dev/null || return 0
    psql "$SESSIONVAULT_POSTGRES_URL" -qAt -c \
        "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace WHERE nspname LIKE 'sv\_test\_%'" \
        | psql "$SESSIONVAULT_POSTGRES_URL" -q >/dev/null
}

sv_report_skips() {
    [ ${#SV_SKIPPED[@]} -eq 0 ] && return 0
    echo
    echo "!!! SKIPPED: no ${SV_SKIPPED[*]} server could be found or started (run as root to install"
    echo "!!! and start one, or set SESSIONVAULT_POSTGRES_URL / SESSIONVAULT_REDIS_URL /"
    echo "!!! SESSIONVAULT_REDIS_CLUSTER / SESSIONVAULT_REDIS_SENTINEL to a running server). Not run:"
    local s
    for s in "${SV_SKIPPED[@]}"; do
        case $s in
            postgres) echo "!!!   sessionvault-sqlx tests/postgres.rs: every store conformance test and"
                      echo "!!!   migrations_run_concurrently_without_conflict; the counter example with --store postgres" ;;
            redis) echo "!!!   sessionvault-redis tests/redis.rs: single_server::* and braces_in_the_prefix_are_refused;"
                   echo "!!!   the counter example with --store redis" ;;
            redis-cluster) echo "!!!   sessionvault-redis tests/redis.rs: cluster_of_three::*; the counter example with --store redis-cluster" ;;
            redis-sentinel) echo "!!!   sessionvault-redis tests/redis.rs: sentinel::*; the counter example with --store redis+sentinel" ;;
            fault-redis) echo "!!!   sessionvault-axum tests/http faults::redis_outage_gives_503_and_loses_nothing" ;;
            fault-sentinel) echo "!!!   sessionvault-axum tests/http faults::sentinel_failover_*" ;;
            fault-cluster) echo "!!!   sessionvault-axum tests/http faults::cluster_failover_*" ;;
            fault-postgres) echo "!!!   sessionvault-axum tests/http faults::postgres_outage_gives_503_and_loses_nothing,"
                            echo "!!!   faults::postgres_connections_dropped_lose_nothing" ;;
            browser) echo "!!!   sessionvault-demo tests/browser.rs: every test (install chromium and chromium-driver)" ;;
        esac
    done
    echo
}

# A free loopback port in [20000, 30000) whose cluster bus port (+10000) is free too.
sv_free_cluster_port() {
    python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randrange(20000, 30000)
    ok = True
    for p in (port, port + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(port)
        break
PY
}

sv_need_redis_server() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "    installing redis-server from Debian's packages"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
        fi
    fi
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null
}

# Starts one throwaway Redis on PORT in DIR; extra arguments go to redis-server.
sv_start_redis() {
    local port=$1 dir=$2
    shift 2
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis-$port.pid" --logfile "$dir/redis-$port.log" "$@" >/dev/null
    SV_CLEANUPS+=("redis-cli -p $port shutdown nosave")
    local i
    for i in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

sv_redis() {
    local url=${SESSIONVAULT_REDIS_URL:-redis://127.0.0.1:6379}
    local hostport=${url#redis://}
    hostport=${hostport%%/*}
    if sv_port_open "${hostport%:*}" "${hostport#*:}"; then
        export SESSIONVAULT_REDIS_URL=$url
        echo "    Redis answers at $hostport"
        return 0
    fi
    if ! sv_need_redis_server; then
        sv_skip redis
        return 0
    fi
    local dir port
    dir=$(mktemp -d /tmp/sessionvault-redis.XXXXXX)
    SV_CLEANUPS+=("rm -rf $dir")
    port=$(sv_free_port)
    sv_start_redis "$port" "$dir"
    export SESSIONVAULT_REDIS_URL="redis://127.0.0.1:$port"
    echo "    started a throwaway Redis on 127.0.0.1:$port"
}

sv_redis_cluster() {
    if [ -n "${SESSIONVAULT_REDIS_CLUSTER:-}" ]; then
        local first=${SESSIONVAULT_REDIS_CLUSTER#redis-cluster://}
        first=${first%%,*}
        if sv_port_open "${first%:*}" "${first#*:}"; then
            echo "    Redis Cluster answers at $first"
            return 0
        fi
    fi
    if ! sv_need_redis_server; then
        sv_skip redis-cluster
        return 0
    fi
    local dir port ports=() seeds=()
    dir=$(mktemp -d /tmp/sessionvault-cluster.XXXXXX)
    SV_CLEANUPS+=("rm -rf $dir")
    for _ in 1 2 3; do
        port=$(sv_free_cluster_port)
        sv_start_redis "$port" "$dir" --cluster-enabled yes \
            --cluster-config-file "$dir/nodes-$port.conf" --cluster-node-timeout 2000
        ports+=("$port")
        seeds+=("127.0.0.1:$port")
    done
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
    local i
    for i in $(seq 100); do
        redis-cli -p "${ports[0]}" cluster info 2>/dev/null | grep -q "cluster_state:ok" && break
        sleep 0.1
    done
    export SESSIONVAULT_REDIS_CLUSTER="redis-cluster://$(IFS=,; echo "${seeds[*]}")"
    echo "    started a throwaway Redis Cluster of three masters on ${seeds[*]}"
}

# N distinct free loopback ports (cluster ports when the first argument is `cluster`).
sv_free_ports() {
    local kind=$1 n=$2 port ports=()
    while [ ${#ports[@]} -lt "$n" ]; do
        if [ "$kind" = cluster ]; then port=$(sv_free_cluster_port); else port=$(sv_free_port); fi
        [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
    done
    echo "${ports[@]}"
}

# One master, one replica and three Sentinels in a new directory on free ports; sets SV_DIR
# and SV_URL (the store URL).
sv_start_sentinel_topology() {
    local ports
    SV_DIR=$(mktemp -d "/tmp/sessionvault-$1.XXXXXX")
    ports=($(sv_free_ports plain 5))
    SV_CLEANUPS+=("for p in ${ports[*]}; do redis-cli -p \$p shutdown nosave; done; rm -rf $SV_DIR")
    "$SV_ROOT/scripts/lib/redis-ha.sh" sentinel-start "$SV_DIR" "${ports[@]}" >/dev/null || return 1
    SV_URL="redis+sentinel://127.0.0.1:${ports[2]},127.0.0.1:${ports[3]},127.0.0.1:${ports[4]}/svmaster"
}

# Three masters with a replica each, likewise.
sv_start_replicated_cluster() {
    local ports
    SV_DIR=$(mktemp -d "/tmp/sessionvault-$1.XXXXXX")
    ports=($(sv_free_ports cluster 6))
    SV_CLEANUPS+=("for p in ${ports[*]}; do redis-cli -p \$p shutdown nosave; done; rm -rf $SV_DIR")
    "$SV_ROOT/scripts/lib/redis-ha.sh" cluster-start "$SV_DIR" "${ports[@]}" >/dev/null || return 1
    SV_URL="redis-cluster://$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')"
}

# A Sentinel-watched master and replica for the store tests (the failover tests get their own).
sv_redis_sentinel() {
    if [ -n "${SESSIONVAULT_REDIS_SENTINEL:-}" ]; then
        echo "    Redis Sentinel given: ${SESSIONVAULT_REDIS_SENTINEL%%/*}..."
        return 0
    fi
    if ! sv_need_redis_server || ! sv_start_sentinel_topology sentinel; then
        sv_skip redis-sentinel
        return 0
    fi
    export SESSIONVAULT_REDIS_SENTINEL=$SV_URL
    echo "    started a throwaway master, replica and three Sentinels: $SV_URL"
}

# The topologies the failover tests kill masters of, with the command that drives each
# (`scripts/lib/redis-ha.sh KIND DIR ACTION`, less its ACTION).
sv_fault_redis_sentinel() {
    if ! sv_need_redis_server || ! sv_start_sentinel_topology fault-sentinel; then
        sv_skip fault-sentinel
        return 0
    fi
    export SESSIONVAULT_FAULT_SENTINEL_URL=$SV_URL
    export SESSIONVAULT_FAULT_SENTINEL_CTL="$SV_ROOT/scripts/lib/redis-ha.sh sentinel $SV_DIR"
    echo "    started a master, replica and three Sentinels to fail over: $SV_URL"
}

sv_fault_redis_cluster() {
    if ! sv_need_redis_server || ! sv_start_replicated_cluster fault-cluster; then
        sv_skip fault-cluster
        return 0
    fi
    export SESSIONVAULT_FAULT_CLUSTER_URL=$SV_URL
    export SESSIONVAULT_FAULT_CLUSTER_CTL="$SV_ROOT/scripts/lib/redis-ha.sh cluster $SV_DIR"
    echo "    started a Redis Cluster of three masters and three replicas to fail over: ${SV_URL#redis-cluster://}"
}

# Servers for the fault tests, which kill and restart them: never the shared ones above.
sv_fault_redis() {
    if ! sv_need_redis_server; then
        sv_skip fault-redis
        return 0
    fi
    local dir port
    dir=$(mktemp -d /tmp/sessionvault-fault-redis.XXXXXX)
    SV_CLEANUPS+=("rm -rf $dir")
    port=$(sv_free_port)
    # Every write fsynced before it is acknowledged: what Redis said it stored survives a crash.
    local args="--port $port --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always"
    args="$args --daemonize yes --dir $dir --pidfile $dir/redis.pid --logfile $dir/redis.log"
    eval "redis-server $args" >/dev/null
    SV_CLEANUPS+=("redis-cli -p $port shutdown nosave")
    export SESSIONVAULT_FAULT_REDIS_URL="redis://127.0.0.1:$port"
    export SESSIONVAULT_FAULT_REDIS_STOP="kill -9 \$(cat $dir/redis.pid); sleep 0.2"
    export SESSIONVAULT_FAULT_REDIS_START="redis-server $args >/dev/null; for i in \$(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done"
    echo "    started a Redis to kill for the fault tests on 127.0.0.1:$port"
}

sv_fault_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || { [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; }; then
        sv_skip fault-postgres
        return 0
    fi
    local dir port run=""
    dir=$(mktemp -d /tmp/sessionvault-fault-pg.XXXXXX)
    port=$(sv_free_port)
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        run="runuser -u postgres --"
    fi
    $run "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    local ctl="$run $bin/pg_ctl -D $dir/data -l $dir/log -w -o '-p $port -k $dir -c listen_addresses=127.0.0.1'"
    eval "$ctl start" >/dev/null
    SV_CLEANUPS+=("$run $bin/pg_ctl -D $dir/data -m immediate stop; rm -rf $dir")
    export SESSIONVAULT_FAULT_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export SESSIONVAULT_FAULT_POSTGRES_STOP="$run $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null"
    export SESSIONVAULT_FAULT_POSTGRES_START="$ctl start >/dev/null"
    echo "    started a PostgreSQL to kill for the fault tests on 127.0.0.1:$port"
}

# Debian's Chromium and chromedriver for the demo's browser tests.
sv_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
        echo "    Chromium $(chromium --version 2>/dev/null | awk '{print $2}') with chromedriver"
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "    installing chromium and chromium-driver from Debian's packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        sv_skip browser
    fi
}

# Sourced by scripts/test.sh: makes sure the servers the tests need answer on loopback, starting
# throwaway ones when nothing does, and stops what it started. A service that can be neither
# found nor started is added to SESSIONVAULT_SKIP_SERVICES and its tests are named as skipped.

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
    echo "!!! SKIPPED: no ${SV_SKIPPED[*]} server could be found or started (run as root to"
    echo "!!! install and start one, or point SESSIONVAULT_POSTGRES_URL at a server). Not run:"
    local s
    for s in "${SV_SKIPPED[@]}"; do
        case $s in
            postgres) echo "!!!   sessionvault-sqlx tests/postgres.rs: every store conformance test and"
                      echo "!!!   migrations_run_concurrently_without_conflict; the counter example with --store postgres" ;;
        esac
    done
    echo
}

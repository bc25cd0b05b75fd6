# Sourced by the benchmarks in scripts/bench/: what they share. Functions only; nothing runs
# when this file is sourced.

# A desktop browser's user agent, sent on every benchmark request: the session layer compares
# it on every load, so a request without one would be cheaper than a real one.
SV_BENCH_BROWSER="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

# The cargo target directory of the workspace at MANIFEST (default: the repository's root
# Cargo.toml): for the bench workspace BENCH_TARGET_DIR when set; else CARGO_TARGET_DIR when set
# (for the bench workspace $CARGO_TARGET_DIR/bench, so the two lockfiles' builds do not
# overwrite each other's); else what cargo metadata says.
sv_bench_target_dir() {
    local manifest=${1:-Cargo.toml}
    if [[ $manifest == bench/* && -n ${BENCH_TARGET_DIR:-} ]]; then
        echo "$BENCH_TARGET_DIR"
        return
    fi
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        case "$manifest" in
            bench/*) echo "$CARGO_TARGET_DIR/bench" ;;
            *) echo "$CARGO_TARGET_DIR" ;;
        esac
        return
    fi
    cargo metadata --format-version 1 --no-deps --locked --manifest-path "$manifest" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# Makes sure TOOL (default wrk) is on PATH, installing Debian's PACKAGE (default: TOOL) with
# apt-get when running as root; fails with a message otherwise.
sv_bench_need() {
    local tool=${1:-wrk} package=${2:-${1:-wrk}}
    command -v "$tool" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "    installing $package from Debian's packages" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    fi
    command -v "$tool" >/dev/null && return 0
    echo "error: $tool is needed (apt-get install $package)" >&2
    return 2
}

# User plus system CPU time of the processes PID..., in clock ticks (see `getconf CLK_TCK`).
sv_bench_cpu_ticks() {
    local pid total=0 fields
    for pid in "$@"; do
        # Fields 14 and 15 of /proc/PID/stat, counted after the parenthesised command name.
        fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        set -- $fields
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# The sv_bench_private_* functions answer in SV_BENCH_OUT, not on stdout: run in a command
# substitution, the cleanups they register would not reach the caller's sv_stop_services
# (scripts/lib/services.sh), and the servers would outlive the benchmark.

# A private Redis on a free loopback port in DIR, so that its CPU time and commands are the
# benchmark's alone; its port in SV_BENCH_OUT.
sv_bench_private_redis() {
    local dir=$1 port
    sv_need_redis_server >&2 || { echo "error: redis-server is needed" >&2; return 2; }
    port=$(sv_free_port)
    sv_start_redis "$port" "$dir" >&2 || { echo "error: redis on $port did not start" >&2; return 1; }
    SV_BENCH_OUT=$port
}

# A private three-master Redis Cluster in DIR on free ports; its seed list
# (HOST:PORT,HOST:PORT,HOST:PORT) in SV_BENCH_OUT.
sv_bench_private_redis_cluster() {
    local dir=$1 ports p seeds=()
    read -r -a ports <<<"$(sv_free_ports cluster 3)"
    for p in "${ports[@]}"; do
        mkdir -p "$dir/cluster-$p"
        sv_start_redis "$p" "$dir/cluster-$p" --cluster-enabled yes \
            --cluster-config-file "$dir/cluster-$p/nodes.conf" >&2 || return 1
        seeds+=("127.0.0.1:$p")
    done
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >/dev/null 2>&1 || return 1
    local i
    for i in $(seq 100); do
        redis-cli -p "${ports[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
        sleep 0.1
    done
    SV_BENCH_OUT=$(IFS=,; echo "${seeds[*]}")
}

# A private PostgreSQL cluster in DIR on a free loopback port (trust auth, database `bench`,
# pg_stat_statements loaded when the server has it); its URL in SV_BENCH_OUT.
sv_bench_private_postgres() {
    local dir=$1 port bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "error: PostgreSQL's server binaries are needed (apt-get install postgresql)" >&2
        return 2
    fi
    port=$(sv_free_port)
    local run=("$bin/initdb" -D "$dir/pg" -U postgres --auth=trust)
    local owner=()
    # initdb and postgres refuse to run as root: run them as the postgres user.
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres "$dir" 2>/dev/null || return 1
        owner=(runuser -u postgres --)
    fi
    "${owner[@]}" "${run[@]}" >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    local preload=()
    [ -f "$(dirname "$bin")/lib/pg_stat_statements.so" ] &&
        preload=(-c shared_preload_libraries=pg_stat_statements)
    "${owner[@]}" "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -o \
        "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off ${preload[*]}" start >/dev/null ||
        { cat "$dir/pg.log" >&2; return 1; }
    SV_CLEANUPS+=("${owner[*]} $bin/pg_ctl -D $dir/pg -m immediate stop")
    psql -h 127.0.0.1 -p "$port" -U postgres -qc 'CREATE DATABASE bench' >/dev/null || return 1
    [ ${#preload[@]} -gt 0 ] &&
        psql -h 127.0.0.1 -p "$port" -U postgres -d bench -qc 'CREATE EXTENSION pg_stat_statements' >/dev/null
    SV_BENCH_OUT="postgres://postgres@127.0.0.1:$port/bench"
}

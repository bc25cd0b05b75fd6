#!/usr/bin/env bash
# sessionvault against tower-sessions and actix-session: identical servers, one run (issue 22).
#
# Builds bench/servers in release mode, starts a private Redis, Redis Cluster and PostgreSQL on
# free loopback ports (so that their CPU time and commands are the benchmark's alone), and
# drives every server with wrk (scripts/bench/drivers/peers.py): GET /read and GET /incr, one
# hot session and many sessions, every variant in every round, interleaved with bare axum.
# Then the Flask rows (scripts/bench/flask-app.sh, unless --no-flask) and the chart
# (docs/bench-cpu.svg, by bench/chart). Writes bench/results/peers-latest.json and .md.
#
#   scripts/bench.sh peers [--pin] [--duration S] [--rounds R] [--connections C]
#                          [--no-flask] [--baseline REV] [--only VARIANT...]
#
# --baseline REV also builds bench/servers from the tree at REV and runs each sessionvault
# variant from both builds in the same rounds: a change against the code it replaces. Such a
# run writes bench/results/peers-baseline.json and .md instead, with no Flask rows or chart.
#
# Defaults: 5 s per run, 2 rounds, 32 connections, unpinned: about 20 minutes on 2 cores. With
# --pin the servers and store servers run on CPU 0 and wrk on CPU 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
. scripts/lib/services.sh

pin=0 duration=5 rounds=2 connections=32 flask=1 baseline="" only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --pin) pin=1 ;;
        --duration) duration=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --connections) connections=$2; shift ;;
        --no-flask) flask=0 ;;
        --baseline) baseline=$2; shift ;;
        --only) shift; only=("$@"); break ;;
        *) echo "error: unknown argument $1 (see scripts/bench/peers.sh)" >&2; exit 2 ;;
    esac
    shift
done
command="scripts/bench.sh peers"
[ "$pin" = 0 ] || command+=" --pin"
[ "$duration" = 5 ] || command+=" --duration $duration"
[ "$rounds" = 2 ] || command+=" --rounds $rounds"
[ "$connections" = 32 ] || command+=" --connections $connections"
[ "$flask" = 1 ] || command+=" --no-flask"
[ -z "$baseline" ] || command+=" --baseline $baseline"
[ ${#only[@]} = 0 ] || command+=" --only ${only[*]}"
started=$(date +%s)

sv_bench_need wrk
sv_bench_need psql postgresql-client
target=$(sv_bench_target_dir bench/Cargo.toml)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-peers.XXXXXX")
chmod 755 "$work"
trap 'sv_stop_services; rm -rf "$work"' EXIT
baseline_args=() out=bench/results/peers-latest
if [ -n "$baseline" ]; then
    baseline_rev=$(git rev-parse --short --verify --quiet "$baseline^{commit}") ||
        { echo "error: --baseline $baseline names no commit" >&2; exit 2; }
    echo "==> building bench/ at $baseline_rev in release mode into $target" >&2
    mkdir "$work/baseline-src" "$work/baseline-bin"
    git archive "$baseline_rev" | tar -x -C "$work/baseline-src"
    # The same target directory: the dependencies are built once; the binaries are copied out
    # before this tree's build replaces them.
    CARGO_TARGET_DIR=$target cargo build --release --locked \
        --manifest-path "$work/baseline-src/bench/Cargo.toml" -p bench-servers >&2
    cp "$target/release/sessionvault-axum" "$work/baseline-bin/"
    baseline_args=(--baseline-bin "$work/baseline-bin" --baseline-rev "$baseline_rev")
    out=bench/results/peers-baseline flask=0
fi
echo "==> building bench/ in release mode into $target" >&2
CARGO_TARGET_DIR=$target cargo build --release --locked --manifest-path bench/Cargo.toml \
    -p bench-servers -p bench-chart >&2

sv_bench_private_redis "$work"
redis_port=$SV_BENCH_OUT
sv_bench_private_redis_cluster "$work"
cluster_seeds=$SV_BENCH_OUT
cluster_pids=$(for s in ${cluster_seeds//,/ }; do cat "$work/cluster-${s##*:}/redis-${s##*:}.pid"; done | paste -sd,)
mkdir -p "$work/postgres"
sv_bench_private_postgres "$work/postgres"
postgres_url=$SV_BENCH_OUT
postgres_pid=$(head -1 "$work/postgres/pg/postmaster.pid")
# A fixed key, so that every server of a library accepts the sessions it made in a warm-up.
head -c 48 /dev/urandom | base64 -w0 >"$work/secret.key"

mkdir -p bench/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Built from a tree whose code has changes not yet committed: the label says so (the results
# the runs write are not code).
if [ -n "$(git status --porcelain --untracked-files=no -- crates bindings bench scripts Cargo.toml Cargo.lock .cargo ':!bench/results' 2>/dev/null)" ]; then
    commit="$commit with uncommitted changes"
fi
pin_flag=()
[ "$pin" = 0 ] || pin_flag=(--pin)
python3 scripts/bench/drivers/peers.py --bin "$target/release" \
    --redis-url "redis://127.0.0.1:$redis_port" --redis-pid "$(cat "$work/redis-$redis_port.pid")" \
    --cluster-seeds "$cluster_seeds" --cluster-pids "$cluster_pids" \
    --postgres-url "$postgres_url" --postgres-pid "$postgres_pid" \
    --work "$work" --secret-file "$work/secret.key" --seconds "$duration" --rounds "$rounds" \
    --connections "$connections" "${pin_flag[@]}" --commit "$commit" --command "$command" \
    --json "$out.json" --markdown "$out.md" "${baseline_args[@]}" \
    ${only:+--only "${only[@]}"}

if [ "$flask" = 1 ]; then
    echo "==> the Flask rows (scripts/bench/flask-app.sh)" >&2
    BENCH_ROUNDS=$rounds BENCH_PIN=$pin bash scripts/bench/flask-app.sh "$duration" "$connections" |
        tee bench/results/flask-latest.md
fi
if [ -n "$baseline" ]; then
    echo "wrote $out.{json,md}; wall time $(( $(date +%s) - started )) s" >&2
    exit 0
fi
"$target/release/bench-chart" "$out.json" docs/bench-cpu.svg
echo "wrote $out.{json,md} and docs/bench-cpu.svg; wall time $(( $(date +%s) - started )) s" >&2

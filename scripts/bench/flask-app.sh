#!/usr/bin/env bash
# Flask under gunicorn: no sessions, default cookie, Flask-Session, sessionvault.
#
# The Flask benchmark: one small app (bench/flask/app.py: /read reads a session key, /incr
# increments a counter in the session) under gunicorn with two sync workers, without sessions
# (bare), with Flask's default cookie sessions, Flask-Session 0.8.0 on Redis, and sessionvault's
# extension on Redis and on SQLite (skipped with a message while sessionvault.flask cannot be
# imported). Requests per second and server CPU per request (gunicorn master and workers plus
# the Redis server), as overhead over the bare app, Redis commands per request, and the
# increments of one session kept under concurrency; a markdown table for BENCHMARKS.md. Not
# part of CI.
#
#   scripts/bench.sh flask-app [SECONDS_PER_RUN] [CONNECTIONS]
#
# BENCH_ROUNDS (default 3, at least 2) sets how many times every row runs, interleaved;
# BENCH_ROWS (say "bare cookie flask-session") limits the rows; BENCH_PIN=0 leaves processes
# unpinned. Redis is a server of its own started here on a free loopback port, so that its CPU
# time is the benchmark's alone. The venv is .venv-bench-flask (FLASK_HARNESS_PYTHON: see
# scripts/lib/flask-harness.sh). See bench/flask/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
seconds=${1:-5}
connections=${2:-8}
sv_bench_need wrk
. scripts/lib/flask-harness.sh
. scripts/lib/services.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-flask.XXXXXX")
trap 'sv_stop_services; rm -rf "$tmp"' EXIT

sv_harness_venv "$root/.venv-bench-flask" "$root/bench/flask/requirements.txt"
if ! sv_need_redis_server; then
    echo "error: redis-server is needed (apt-get install redis-server)" >&2
    exit 2
fi
port=$(sv_free_port)
sv_start_redis "$port" "$tmp"

read -r -a rows <<<"${BENCH_ROWS:-bare cookie flask-session sessionvault-redis sessionvault-sqlite}"
skipped=()
if [[ " ${rows[*]} " == *" sessionvault-"* ]] && ! why=$(sv_harness_sessionvault "$root"); then
    skipped+=(--skipped "$why (rows sessionvault-redis and sessionvault-sqlite)")
    kept=()
    for r in "${rows[@]}"; do [[ $r == sessionvault-* ]] || kept+=("$r"); done
    rows=("${kept[@]}")
fi
command="scripts/bench.sh flask-app $seconds $connections"
# The command as run: the settings that change the figures are part of it.
[ -z "${BENCH_ROWS:-}" ] || command="BENCH_ROWS=\"$BENCH_ROWS\" $command"
[ "${BENCH_PIN:-1}" != 0 ] || command="BENCH_PIN=0 $command"
[ "${BENCH_ROUNDS:-3}" = 3 ] || command="BENCH_ROUNDS=$BENCH_ROUNDS $command"
"$HARNESS_PYTHON" bench/flask/bench.py --redis-url "redis://127.0.0.1:$port" \
    --redis-pid "$(cat "$tmp/redis-$port.pid")" --sqlite-dir "$tmp" --seconds "$seconds" \
    --connections "$connections" --rounds "${BENCH_ROUNDS:-3}" --command "$command" \
    "${skipped[@]}" "${rows[@]}"

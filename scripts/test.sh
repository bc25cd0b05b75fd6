#!/usr/bin/env bash
# The one test command: sets up everything the tests need on a fresh machine, then runs every
# test and check. Run from anywhere; exits non-zero on the first failure.
#
#   ./scripts/test.sh [--store URL]...
#
# --store points the store tests at a server you run instead of the one found or started here:
# postgres://USER@HOST:PORT/DB, redis://HOST:PORT[/DB], redis-cluster://HOST:PORT[,HOST:PORT...],
# redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME (the same URLs the counter example
# takes; the Sentinel one must name a master with at least one replica).
set -euo pipefail
while [ $# -gt 0 ]; do
    case $1 in
        --store)
            [ $# -ge 2 ] || { echo "usage: $0 [--store URL]..." >&2; exit 2; }
            case $2 in
                postgres://*|postgresql://*) export SESSIONVAULT_POSTGRES_URL=$2 ;;
                redis-cluster://*) export SESSIONVAULT_REDIS_CLUSTER=$2 ;;
                redis+sentinel://*) export SESSIONVAULT_REDIS_SENTINEL=$2 ;;
                redis://*) export SESSIONVAULT_REDIS_URL=$2 ;;
                *) echo "unsupported --store $2" >&2; exit 2 ;;
            esac
            shift 2 ;;
        *) echo "usage: $0 [--store URL]..." >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/python-venv.sh
. scripts/lib/services.sh
trap sv_stop_services EXIT

echo "==> set-up"
sv_python_venv "$root"
sv_postgres
sv_redis
sv_redis_cluster
sv_redis_sentinel
sv_fault_redis
sv_fault_redis_sentinel
sv_fault_redis_cluster
sv_fault_postgres
sv_browser
"$SESSIONVAULT_FLASK_PYTHON" -c 'from importlib.metadata import version as v; print("    Flask", v("flask"), "/ itsdangerous", v("itsdangerous"))'

echo "==> cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
# Every log line the suite writes is captured here and checked for secrets afterwards.
export SESSIONVAULT_LOG_DIR
SESSIONVAULT_LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sessionvault-logs.XXXXXX")
cargo test --workspace --locked

echo "==> Python extension (bindings/python): build, then pytest"
sv_python_extension "$root"
# The counter example, for the test that shares a store between Flask and axum.
cargo build --locked --quiet --example counter -p sessionvault-axum
export SESSIONVAULT_COUNTER_BIN=${CARGO_TARGET_DIR:-$root/target}/debug/examples/counter
status=0
"$SESSIONVAULT_FLASK_PYTHON" -m pytest -q -p no:cacheprovider bindings/python/tests || status=$?
if [ "$status" -ne 0 ]; then
    # 5 is pytest's "no tests ran": a suite that found nothing has not passed.
    echo "error: the Python tests failed (pytest exit $status)" >&2
    exit 1
fi

echo "==> Flask 3.1.3's own session tests, with each session layer"
FLASK_HARNESS_PYTHON=$SESSIONVAULT_FLASK_PYTHON ./scripts/flask-suite.sh | sed 's/^/    /'
echo "==> concurrent writes of one session: Flask-Session against sessionvault"
"$SESSIONVAULT_FLASK_PYTHON" -m pytest -q -p no:cacheprovider \
    bindings/python/flask_suite/test_flask_session_loses_writes.py

echo "==> log hygiene"
hygiene=$SESSIONVAULT_LOG_DIR.result
if ! cargo test -p sessionvault-testkit --test log_hygiene --locked -- --ignored --nocapture \
    >"$hygiene" 2>&1; then
    cat "$hygiene" >&2
    exit 1
fi
grep 'log lines' "$hygiene" | sed 's/^/    /'
rm -rf "$SESSIONVAULT_LOG_DIR" "$hygiene"

echo "==> fuzz smoke (libFuzzer, 10 s per target)"
./scripts/fuzz.sh --seconds 10

echo "==> soak (60 s on Redis and SQLite)"
./scripts/soak.sh --seconds 30 --store redis --store sqlite

echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

sv_report_skips
echo "==> all checks passed"

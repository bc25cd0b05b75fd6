#!/usr/bin/env bash
# The one test command: sets up everything the tests need on a fresh machine, then runs every
# test and check. Run from anywhere; exits non-zero on the first failure.
set -euo pipefail
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
"$SESSIONVAULT_FLASK_PYTHON" -c 'from importlib.metadata import version as v; print("    Flask", v("flask"), "/ itsdangerous", v("itsdangerous"))'

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked

echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

sv_report_skips
echo "==> all checks passed"

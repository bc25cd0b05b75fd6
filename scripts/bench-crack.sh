#!/usr/bin/env bash
# Secret-key cracking: `sessionvault crack` against flask-unsign on the same cookie and the
# same kind of wordlist, in one run, and the ratio. Not part of CI (it takes about a minute).
#
#   ./scripts/bench-crack.sh [SESSIONVAULT_LINES] [FLASK_UNSIGN_LINES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$root/.venv-bench
if [ ! -x "$venv/bin/flask-unsign" ]; then
    base=/usr/bin/python3
    [ -x "$base" ] || base=python3
    "$base" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check flask-unsign==1.2.1
fi
cargo build --release --locked -p sessionvault-cli >&2
target=$(cargo metadata --format-version 1 --no-deps --locked | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
"$venv/bin/python" scripts/bench_crack.py "$target/release/sessionvault" "$venv/bin/flask-unsign" "${1:-20000000}" "${2:-100000}"

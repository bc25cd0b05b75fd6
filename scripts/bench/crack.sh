#!/usr/bin/env bash
# Secret-key cracking: sessionvault crack against flask-unsign, same cookie and wordlist.
#
# Secret-key cracking: `sessionvault crack` against flask-unsign on the same cookie and the
# same kind of wordlist, in one run, and the ratio. Not part of CI (it takes about a minute).
#
#   scripts/bench.sh crack [SESSIONVAULT_LINES] [FLASK_UNSIGN_LINES]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
venv=$root/.venv-bench
if [ ! -x "$venv/bin/flask-unsign" ]; then
    base=/usr/bin/python3
    [ -x "$base" ] || base=python3
    "$base" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check flask-unsign==1.2.1
fi
cargo build --release --locked -p sessionvault-cli >&2
target=$(sv_bench_target_dir)
"$venv/bin/python" scripts/bench/drivers/crack.py "$target/release/sessionvault" "$venv/bin/flask-unsign" "${1:-20000000}" "${2:-100000}"

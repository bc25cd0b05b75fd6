#!/usr/bin/env bash
# Flask cookie sign and verify: sessionvault against itsdangerous (criterion).
#
# Flask cookie sign and verify: sessionvault against itsdangerous on the same sessions, key and
# machine, in one run, and the ratios. Not part of CI (it takes a couple of minutes).
#
#   scripts/bench.sh flask-codec [SECONDS_PER_MEASUREMENT]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
. scripts/lib/python-venv.sh
sv_python_venv "$root" >&2
seconds=${1:-5}
cargo bench -p sessionvault --bench flask_codec --locked -- \
    --warm-up-time 2 --measurement-time "$seconds" --noplot >&2
target=$(sv_bench_target_dir)
"$SESSIONVAULT_FLASK_PYTHON" scripts/bench/drivers/flask_codec.py "$target/criterion"

#!/usr/bin/env bash
# Criterion micro-benchmarks of the cookie codecs: Flask sign and verify (flask_codec) and
# sealed seal and open (sealed_codec), on the realistic and large sessions of
# crates/sessionvault/benches/data/sessions.json. Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench.sh micro [--quick]      (--quick: 1 s warm-up, 3 s measurement per benchmark)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CRITERION_ARGS=()
case ${1:-} in
    --quick) CRITERION_ARGS=(--warm-up-time 1 --measurement-time 3) ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

cd "$ROOT"
started=$SECONDS
cargo bench --locked --quiet -p sessionvault --bench flask_codec --bench sealed_codec -- \
    "${CRITERION_ARGS[@]}" >/dev/null

echo "| operation | realistic session | large session |"
echo "|---|---:|---:|"
python3 - "$TARGET/criterion" <<'PY'
import json, sys, os
root = sys.argv[1]
def median_us(name):
    with open(os.path.join(root, name, "new", "estimates.json")) as f:
        return json.load(f)["median"]["point_estimate"] / 1000
rows = [("Flask sign", "sign"), ("Flask verify", "verify"),
        ("sealed seal", "seal"), ("sealed open", "open")]
for label, bench in rows:
    cells = [f"{median_us(f'{bench}_{size}'):.2f} µs" for size in ("realistic", "large")]
    print(f"| {label} | {cells[0]} | {cells[1]} |")
PY
echo
echo "criterion medians; $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(nproc) cores, $(( SECONDS - started )) s"

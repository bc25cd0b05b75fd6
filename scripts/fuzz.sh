#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer, on the stable toolchain.
#
#   ./scripts/fuzz.sh [--seconds N] [TARGET]...
#
# Builds the targets in fuzz/ with LLVM's SanitizerCoverage instrumentation (the flags
# cargo-fuzz passes, less the sanitizer, which needs a nightly compiler), then runs each
# target for N seconds (default 10) from the committed seed corpus in fuzz/corpus/TARGET.
# New inputs the fuzzer finds go to a scratch directory, so the committed corpus only grows
# when someone copies them in on purpose. A crash leaves its input in fuzz/artifacts/TARGET/
# and makes the script fail. Targets: flask_cookie sealed_cookie cookie_header tagged_json
# store_record.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=10
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
        -*) echo "usage: $0 [--seconds N] [TARGET]..." >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(flask_cookie sealed_cookie cookie_header tagged_json store_record)

# Its own target directory: these flags would otherwise force the workspace to rebuild.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/fuzz"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the flags off build scripts, which must not be instrumented.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --manifest-path "$root/fuzz/Cargo.toml" --release --locked --quiet --target "$host" \
    $(printf -- '--bin %s ' "${targets[@]}")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "$root/fuzz/artifacts/$target"
    log="$scratch/$target.log"
    if ! "$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$seconds" -max_len=8192 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/artifacts/$target/" \
        "$scratch/$target" "$root/fuzz/corpus/$target" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "    $target: ${runs:-?} runs in ${seconds}s, $cov, no crash"
done

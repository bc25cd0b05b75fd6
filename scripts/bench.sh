#!/usr/bin/env bash
# The one entry point of the benchmark suite: `scripts/bench.sh NAME [ARGS]` runs
# scripts/bench/NAME.sh (or NAME.py) with ARGS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 NAME [ARGS]   (NAME: $(cd "$here/bench" && ls | sed 's/\.[a-z]*$//' | sort -u | tr '\n' ' '))" >&2
    exit 2
fi
name=$1
shift
if [ -x "$here/bench/$name.sh" ]; then
    exec "$here/bench/$name.sh" "$@"
elif [ -f "$here/bench/$name.py" ]; then
    exec python3 "$here/bench/$name.py" "$@"
fi
echo "$0: no benchmark named $name in $here/bench" >&2
exit 2

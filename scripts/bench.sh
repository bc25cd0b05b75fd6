#!/usr/bin/env bash
# The one entry point of the benchmarks: `scripts/bench.sh NAME [ARGS...]` runs
# scripts/bench/NAME.sh; without a name, lists them with the first line of each one's
# description. None is part of CI. Results and how to read them: BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
list() {
    local script name
    echo "usage: scripts/bench.sh NAME [ARGS...]"
    echo
    for script in scripts/bench/*.sh; do
        name=$(basename "$script" .sh)
        # The description is the comment block under the shebang; its first sentence is enough.
        printf '  %-14s %s\n' "$name" "$(sed -n '2s/^# //p' "$script")"
    done
}
if [ $# = 0 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    list
    exit 0
fi
name=$1
shift
if [[ ! $name =~ ^[a-z0-9-]+$ ]] || [ ! -f "scripts/bench/$name.sh" ]; then
    echo "error: no benchmark named '$name'" >&2
    list >&2
    exit 2
fi
exec bash "scripts/bench/$name.sh" "$@"

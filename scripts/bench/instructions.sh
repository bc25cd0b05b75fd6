#!/usr/bin/env bash
# Instructions per request of the counter and floor examples (callgrind).
#
# The counter example's own CPU instructions per request over HTTP, counted by callgrind: for
# /bare (no session layer), /read (a session loaded from the memory store) and /incr (loaded
# and saved by compare-and-set); then the floor example's /bare and /floor (the least a session
# layer with these safeguards does, see examples/floor.rs). Instruction counts do not depend on
# what else the machine is doing, so they show changes of a few percent that wrk's requests per
# second, on a shared machine, cannot. Kernel time is not counted. Not part of CI.
#
#   scripts/bench.sh instructions [COUNTER_BINARY [FLOOR_BINARY]]
#
# valgrind hides the CPU's SHA extensions, so the ID hash runs sha2's portable code here; its
# share is printed separately, since on the real CPU it costs a small fraction of that.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
for tool in valgrind callgrind_control callgrind_annotate wrk curl; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool is needed (apt-get install valgrind wrk curl)" >&2
        exit 2
    fi
done
counter=${1:-}
floor=${2:-}
if [ -z "$counter" ]; then
    cargo build --release --locked -p sessionvault-axum --example counter --example floor >&2
    target=$(sv_bench_target_dir)
    counter="$target/release/examples/counter"
    floor="$target/release/examples/floor"
fi
work=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
# A desktop browser's user agent on every request, as in counter.sh: the session compares
# it on every load.
browser="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

# Starts BINARY ARGS... under callgrind on a free port; sets $server and $port.
start() {
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
        --callgrind-out-file="$work/out.%p" \
        "$@" --listen "127.0.0.1:$port" >"$work/stdout" 2>"$work/valgrind.log" &
    server=$!
    for _ in $(seq 100); do
        curl -s "http://127.0.0.1:$port/bare" >/dev/null && return
        sleep 0.2
    done
    echo "error: $1 did not answer under valgrind" >&2
    exit 1
}

# Counts PATH... with COOKIE on the running server.
count() {
    local cookie=$1 path requests dump total sha
    shift
    for path in "$@"; do
        callgrind_control -z "$server" >/dev/null 2>&1
        requests=$(wrk -t1 -c8 -d4s -H "Cookie: session=$cookie" -H "User-Agent: $browser" "http://127.0.0.1:$port$path" |
            awk '/requests in/ {print $1}')
        callgrind_control -d "${path#/}" "$server" >/dev/null 2>&1
        dump=$(ls -t "$work"/out.* | head -1)
        callgrind_annotate --threshold=100 "$dump" >"$work/annotated"
        total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$work/annotated")
        sha=$(awk '/sha2::sha256::soft::/ {gsub(",", "", $1); s += $1} END {print s + 0}' "$work/annotated")
        printf '%-14s %8d requests  %7d instructions each, of which portable SHA-256 %d\n' \
            "$label $path" "$requests" $((total / requests)) $((sha / requests))
    done
}

echo "instructions per request in the server process (callgrind; kernel not counted)"
start "$counter" --store memory --insecure-dev
cookie=$(curl -si -A "$browser" "http://127.0.0.1:$port/incr" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: session=\([^;]*\).*/\1/p')
label=counter
count "$cookie" /bare /read /incr
kill "$server"
wait "$server" 2>/dev/null || true
if [ -n "$floor" ]; then
    rm -f "$work"/out.*
    start "$floor"
    # The floor prints its one session's ID at the end of its first line.
    cookie=$(awk 'NR == 1 {print $NF}' "$work/stdout")
    label=floor
    count "$cookie" /bare /floor
fi

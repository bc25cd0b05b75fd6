#!/usr/bin/env bash
# What replica_acks=1 costs per /incr through Sentinel.
#
# What `replica_acks=1` costs per /incr: the counter example (release build) on a throwaway
# master with one replica behind three Sentinels, one client sending /incr one after another,
# with and without the WAIT, in alternating rounds.
#
#   scripts/bench.sh replica-acks [REQUESTS_PER_ROUND]     (PROFILE=debug for the debug build)
set -euo pipefail
requests=${1:-2000}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib/bench.sh
. scripts/lib/services.sh
trap sv_stop_services EXIT
sv_need_redis_server || { echo "no redis-server" >&2; exit 1; }
sv_start_sentinel_topology bench-sentinel
profile=${PROFILE:-release}
flags=()
[ "$profile" = release ] && flags=(--release)
cargo build -q "${flags[@]}" -p sessionvault-axum --example counter
binary=$(sv_bench_target_dir)/$profile/examples/counter
echo "($profile build)"
python3 - "$binary" "$SV_URL" "$requests" <<'PY'
import http.client, statistics, subprocess, sys, time
binary, url, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])

def round_of(store):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--insecure-dev", "--store", store],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = next(w for w in proc.stdout.readline().split() if w.startswith("http://"))
        host, port = base[7:].split(":")
        conn = http.client.HTTPConnection(host, int(port))
        cookie, times = None, []
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("GET", "/incr", headers={"Cookie": f"session={cookie}"} if cookie else {})
            r = conn.getresponse(); r.read()
            times.append(time.perf_counter() - start)
            assert r.status == 200, r.status
            c = r.getheader("set-cookie")
            if c:
                cookie = c.split(";")[0].split("=", 1)[1]
        return statistics.median(times[100:]) * 1e6
    finally:
        proc.terminate(); proc.wait()

results = {"without": [], "with": []}
for _ in range(3):
    results["without"].append(round_of(url))
    results["with"].append(round_of(url + "?replica_acks=1"))
w, a = statistics.median(results["without"]), statistics.median(results["with"])
print(f"/incr through Sentinel, {requests} sequential requests x 3 rounds each, median latency:")
print(f"  without replica_acks: {w:.0f} us   with replica_acks=1: {a:.0f} us   WAIT costs {a - w:.0f} us ({a / w:.2f}x)")
PY

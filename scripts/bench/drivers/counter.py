"""Drives the counter example with wrk; see scripts/bench/counter.sh.

Usage: counter.py COUNTER_BINARY SECONDS CONNECTIONS STORE...
(an empty STORE is skipped; `sqlite:` gets a temporary file)
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


# The server and the load generator on separate cores, so that wrk does not take CPU from the
# server under test (the machine has two).
PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
SERVER_CPU = ["taskset", "-c", "0"] if PIN else []
WRK_CPU = ["taskset", "-c", "1"] if PIN else []
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
# Every request says it comes from a desktop browser, as a session's requests do: the session
# records the user agent and compares it on every load, a cost that a load without one hides.
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")


def launch(binary, *args):
    """Starts an example server on a free port: the process, its base URL, and the words of
    the line it printed on start."""
    proc = subprocess.Popen(
        SERVER_CPU + [binary, "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    words = proc.stdout.readline().split()
    base = next((w for w in words if w.startswith("http://")), None)
    if base is None:
        proc.kill()
        sys.exit(f"error: {binary} did not start (exit status {proc.wait()})")
    return proc, base, words


def start(binary, store):
    proc, base, _ = launch(binary, "--store", store, "--insecure-dev")
    return proc, base


def get(base, path, cookie=None):
    req = urllib.request.Request(base + path, headers={"User-Agent": BROWSER})
    if cookie:
        req.add_header("Cookie", f"session={cookie}")
    with urllib.request.urlopen(req) as resp:
        set_cookie = resp.headers.get("Set-Cookie")
        body = resp.read().decode()
    if set_cookie:
        cookie = set_cookie.split(";")[0].split("=", 1)[1]
    return body, cookie


def wrk(base, path, cookie, seconds, connections):
    out = subprocess.run(
        WRK_CPU + ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-H",
                   f"Cookie: session={cookie}", "-H", f"User-Agent: {BROWSER}", base + path],
        capture_output=True, text=True, check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, total, int(non2xx.group(1)) if non2xx else 0


def cpu_seconds(pid):
    """The process's user and kernel CPU seconds so far, or None without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def loaded_run(proc, base, path, cookie, seconds, connections):
    """wrk's requests per second, and the server's user and kernel CPU microseconds per request
    (None without /proc): where the time goes, which the rate alone does not say."""
    before = cpu_seconds(proc.pid)
    rate, total, _ = wrk(base, path, cookie, seconds, connections)
    after = cpu_seconds(proc.pid)
    if before is None or after is None or total == 0:
        return rate, None
    return rate, tuple((a - b) / total * 1e6 for a, b in zip(after, before))


def redis_calls(url):
    """Commands a single Redis has run so far, by name (INFO commandstats)."""
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    out = subprocess.run(["redis-cli", "-h", host, "-p", port, "info", "commandstats"],
                         capture_output=True, text=True, check=True).stdout
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_(\w+):calls=(\d+)", out)}


def round_trips(base, cookie, url):
    """Redis commands per request, over 200 sequential requests of each kind."""
    n = 200
    result = {}
    for path in ["/bare", "/read", "/incr"]:
        before = redis_calls(url)
        for _ in range(n):
            get(base, path, cookie)
        after = redis_calls(url)
        used = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        result[path] = {k: v / n for k, v in used.items() if v and k not in ("info",)}
    return result


def main():
    binary, seconds, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stores = [s for s in sys.argv[4:] if s]
    where = "server on CPU 0, wrk on CPU 1" if PIN else "unpinned"
    print(f"wrk -t1 -c{connections}, {seconds} s per run, a browser's User-Agent, {where}; "
          f"/bare and /read interleaved "
          f"{ROUNDS} times; req/s are medians, /read vs bare the median of the {ROUNDS} "
          f"back-to-back pairs' ratios (their quartiles in brackets)")
    print(f"{'store':<8} {'endpoint':<7} {'req/s':>10} {'vs bare':>8}  notes")
    print("(redis-cluster: the same requests against a three-master cluster)")
    with tempfile.TemporaryDirectory() as tmp:
        for store in stores:
            if store == "sqlite:":
                store = f"sqlite:{tmp}/bench.db"
            proc, base = start(binary, store)
            try:
                _, cookie = get(base, "/incr")
                rates = {"/bare": [], "/read": []}
                cpu = {"/bare": [], "/read": []}
                for _ in range(ROUNDS):
                    for path in rates:
                        rate, used = loaded_run(proc, base, path, cookie, seconds, connections)
                        rates[path].append(rate)
                        if used is not None:
                            cpu[path].append(used)
                bare = statistics.median(rates["/bare"])
                read = statistics.median(rates["/read"])
                ratios = [r / b for r, b in zip(rates["/read"], rates["/bare"])]
                label = store.split(":")[0].replace("postgresql", "postgres")
                print(f"{label:<8} {'/bare':<7} {bare:>10,.0f} {'1.00x':>8}")
                # A pair's two runs are seconds apart, the pairs minutes apart: a shared
                # machine's speed drifts more between pairs than within one.
                quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
                print(f"{label:<8} {'/read':<7} {read:>10,.0f} {statistics.median(ratios):>7.2f}x  "
                      f"[{quartiles[0]:.2f} to {quartiles[2]:.2f}] with a session loaded each "
                      f"request")
                if all(cpu.values()):
                    # Medians of the runs. The kernel splits user from kernel time by sampling at its
                    # tick, so each run's split is approximate; the median steadies it.
                    shown = "; ".join(
                        f"{path} user {statistics.median(u for u, _ in runs):.2f} µs, kernel "
                        f"{statistics.median(k for _, k in runs):.2f} µs"
                        for path, runs in cpu.items())
                    print(f"{'':<8} {'':<7} server CPU per request: {shown}")
                before = int(get(base, "/read", cookie)[0])
                rate, total, failed = wrk(base, "/incr", cookie, seconds, connections)
                after = int(get(base, "/read", cookie)[0])
                ok = total - failed
                kept = after - before
                # wrk stops at its deadline and drops responses still in flight, so up to one per
                # connection may be saved without being counted; fewer than answered is a loss.
                if kept < ok:
                    verdict = f"LOST {ok - kept} increments"
                elif kept - ok <= connections:
                    verdict = "none lost" + (f" ({kept - ok} in flight at the end)" if kept > ok else "")
                else:
                    verdict = f"{kept - ok} more than answered: investigate"
                print(f"{label:<8} {'/incr':<7} {rate:>10,.0f} {rate / bare:>7.2f}x  "
                      f"{ok:,} answered 200, {failed:,} answered 409, {kept:,} in the "
                      f"session: {verdict}")
                if store.startswith("redis://"):
                    for path, used in round_trips(base, cookie, store).items():
                        shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(used.items())) or "none"
                        print(f"{'':<8} {path:<7} Redis commands per request: {shown}")
            finally:
                proc.terminate()
                proc.wait()
            time.sleep(0.5)


if __name__ == "__main__":
    main()

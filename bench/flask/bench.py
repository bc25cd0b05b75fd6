"""Drives the Flask benchmark with wrk; see scripts/bench/flask-app.sh.

Usage: bench.py --redis-url URL --redis-pid PID --sqlite-dir DIR [--seconds S]
                [--connections C] [--rounds R] [--skipped MESSAGE] ROW...

ROW is bare, cookie, flask-session, sessionvault-redis or sessionvault-sqlite. Every row is a
gunicorn with two sync workers serving app.py, all started first and kept running, so that the
rounds interleave the rows: each round runs every row's /read and /incr once, in an order that
rotates from round to round, and a row's ratios to bare are taken within the round.

Server CPU per request is the user and system time of the gunicorn master and all its
descendants, those that exited included (a parent's cutime and cstime hold the children it
reaped), plus the Redis server's for the rows that use it, from /proc, divided by the requests
wrk completed. Exits 1 when a sessionvault row writes to the store on /read.
"""

import argparse
import contextlib
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ("bare", "cookie", "flask-session", "sessionvault-redis", "sessionvault-sqlite")
TITLES = {"bare": "Flask, no sessions (bare)", "cookie": "Flask's default cookie sessions",
          "flask-session": "Flask-Session 0.8.0, Redis", "sessionvault-redis": "sessionvault, Redis",
          "sessionvault-sqlite": "sessionvault, SQLite"}
ROUTES = ("/read", "/incr")
# The server side (gunicorn and the store) on CPU 0, wrk on CPU 1, so that the load generator
# does not take CPU from what it measures (the machine has two cores).
PIN = (os.environ.get("BENCH_PIN", "1") == "1" and shutil.which("taskset") is not None
       and (os.cpu_count() or 1) >= 2)
SERVER_CPU = ["taskset", "-c", "0"] if PIN else []
WRK_CPU = ["taskset", "-c", "1"] if PIN else []
# A desktop browser's User-Agent on every request, as a real session's requests carry one.
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base, path, cookie=None):
    """The body and the `name=value` of the Set-Cookie of one request, if any."""
    req = urllib.request.Request(base + path, headers={"User-Agent": BROWSER})
    if cookie:
        req.add_header("Cookie", cookie)
    with urllib.request.urlopen(req, timeout=10) as resp:
        set_cookie = resp.headers.get("Set-Cookie")
        return resp.read().decode(), set_cookie.split(";", 1)[0] if set_cookie else None


def sqlite_file(args):
    """Where the SQLite row's store lives."""
    return os.path.join(os.path.abspath(args.sqlite_dir), "bench.db")


class Server:
    """One row's gunicorn: two sync workers on a free loopback port."""

    def __init__(self, row, args, secret):
        self.row = row
        self.port = free_port()
        self.sqlite_path = None
        self.base = f"http://127.0.0.1:{self.port}"
        variant, _, store = row.partition("-")
        if row == "flask-session":
            variant, store = "flask-session", args.redis_url
        elif store == "redis":
            store = args.redis_url.rstrip("/") + "/0"
        elif store == "sqlite":
            self.sqlite_path = sqlite_file(args)
            store = "sqlite:///" + self.sqlite_path
        self.uses_redis = row in ("flask-session", "sessionvault-redis")
        env = dict(os.environ, BENCH_FLASK_VARIANT=variant, BENCH_FLASK_STORE=store,
                   BENCH_FLASK_SECRET=secret)
        self.proc = subprocess.Popen(
            SERVER_CPU + [sys.executable, "-m", "gunicorn", "--workers", "2",
                          "--worker-class", "sync", "--bind", f"127.0.0.1:{self.port}",
                          "--chdir", HERE, "--log-level", "warning", "app:create_app()"],
            env=env, stdin=subprocess.DEVNULL)
        self.cookie = None

    def wait_ready(self):
        for _ in range(200):
            if self.proc.poll() is not None:
                sys.exit(f"error: gunicorn for {self.row} exited with {self.proc.returncode}")
            try:
                get(self.base, "/read")
                return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"error: gunicorn for {self.row} did not answer")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def proc_stat(pid):
    """(ppid, utime + stime + cutime + cstime in seconds) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / TICK


def tree_cpu(root):
    """User and system CPU seconds of a process and all its descendants, living or reaped."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = proc_stat(int(name))
            if s is not None:
                stats[int(name)] = s
    children = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def redis_cli(url, *args):
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    return subprocess.run(["redis-cli", "-h", host, "-p", port, *args],
                          capture_output=True, text=True, check=True).stdout


def redis_calls(url):
    """Commands Redis has run so far, by name (INFO commandstats)."""
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"cmdstat_([\w|]+):calls=(\d+)", redis_cli(url, "info", "commandstats"))}


def redis_writes(url, names):
    """Those of the commands that can change data: flagged `write` by Redis, or scripts and
    functions that may (`may_replicate`: EVAL, EVALSHA, FCALL; their _RO forms are not)."""
    writes = set()
    for name in names:
        out = redis_cli(url, "command", "info", name.replace("|", " ").split()[0])
        if re.search(r"^(write|may_replicate)$", out, re.M):
            writes.add(name)
    return writes


def wrk(base, path, cookie, seconds, connections):
    cmd = WRK_CPU + ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                     "-H", f"User-Agent: {BROWSER}"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd + [base + path], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return rate, total, int(non2xx.group(1)) if non2xx else 0, errors.group(1) if errors else ""


def timed_run(server, path, args):
    """One wrk run: req/s, server CPU µs per request (gunicorn and store), the store's part,
    Redis commands per request, and for /incr the increments answered and kept."""
    counter_before = int(get(server.base, "/read", server.cookie)[0]) if path == "/incr" else 0
    calls_before = redis_calls(args.redis_url) if server.uses_redis else {}
    store_before = proc_stat(args.redis_pid)[1] if server.uses_redis else 0.0
    cpu_before = tree_cpu(server.proc.pid)
    rate, total, non2xx, errors = wrk(server.base, path, server.cookie, args.seconds,
                                      args.connections)
    cpu_after = tree_cpu(server.proc.pid)
    store_after = proc_stat(args.redis_pid)[1] if server.uses_redis else 0.0
    calls_after = redis_calls(args.redis_url) if server.uses_redis else {}
    counter_after = int(get(server.base, "/read", server.cookie)[0]) if path == "/incr" else 0
    n = max(total, 1)
    store_us = (store_after - store_before) / n * 1e6
    calls = {k: (v - calls_before.get(k, 0)) / n for k, v in calls_after.items()
             if v - calls_before.get(k, 0) and not k.startswith(("info", "command"))}
    return {"rate": rate, "cpu": (cpu_after - cpu_before) / n * 1e6 + store_us,
            "store": store_us, "calls": calls, "ok": total - non2xx, "non2xx": non2xx,
            "kept": counter_after - counter_before, "errors": errors}


def under_load(runs):
    """Redis commands per request over timed runs, weighted by their requests, or a dash for a
    row that uses no Redis."""
    n = sum(x["ok"] + x["non2xx"] for x in runs)
    names = sorted({k for x in runs for k in x["calls"]})
    if not n or not names:
        return "–"
    return ", ".join(
        f"{k.upper()} {sum(x['calls'].get(k, 0) * (x['ok'] + x['non2xx']) for x in runs) / n:.2f}"
        for k in names)


def exact_calls(server, args, n=200):
    """Redis commands per request over n sequential requests of each route (no run's edges)."""
    result = {}
    for path in ROUTES:
        before = redis_calls(args.redis_url)
        for _ in range(n):
            get(server.base, path, server.cookie)
        after = redis_calls(args.redis_url)
        result[path] = {k: (v - before.get(k, 0)) / n for k, v in after.items()
                        if v - before.get(k, 0) and not k.startswith(("info", "command"))}
    return result


def sqlite_writes(server, n=200):
    """Of n sequential requests of each route, the fraction after which the SQLite file had a
    new commit: `PRAGMA data_version` on a connection of our own changes when another
    connection commits."""
    if not os.path.exists(server.sqlite_path):
        return None
    result = {}
    with contextlib.closing(sqlite3.connect(f"file:{server.sqlite_path}?mode=ro", uri=True)) as db:
        for path in ROUTES:
            wrote = 0
            version = db.execute("PRAGMA data_version").fetchone()[0]
            for _ in range(n):
                get(server.base, path, server.cookie)
                now = db.execute("PRAGMA data_version").fetchone()[0]
                wrote += now != version
                version = now
            result[path] = wrote / n
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--redis-pid", type=int, required=True)
    parser.add_argument("--sqlite-dir", required=True)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skipped", action="append", default=[])
    parser.add_argument("--command", default="scripts/bench.sh flask-app")
    parser.add_argument("rows", nargs="+", choices=ROWS)
    args = parser.parse_args()
    rows = [r for r in ROWS if r in args.rows]
    if args.rounds < 2:
        sys.exit("error: at least two rounds: on a shared machine one run of a row proves little")
    if "bare" not in rows:
        sys.exit("error: the bare row is the baseline of every ratio")
    if PIN:
        subprocess.run(["taskset", "-a", "-cp", "0", str(args.redis_pid)], check=True,
                       capture_output=True)
    secret = os.urandom(32).hex()
    servers = {row: Server(row, args, secret) for row in rows}
    try:
        for s in servers.values():
            s.wait_ready()
        for row, s in servers.items():
            if row != "bare":
                s.cookie = get(s.base, "/incr")[1]
                if s.cookie is None:
                    sys.exit(f"error: {row} set no cookie on /incr")
        # The bare app parses no cookie, but gets a header of the same size as the others.
        servers["bare"].cookie = (servers.get("cookie") or next(iter(servers.values()))).cookie
        for s in servers.values():  # warm-up: imports, connections, the first allocations
            for path in ROUTES:
                wrk(s.base, path, s.cookie, 1, args.connections)
        results = {(row, path): [] for row in rows for path in ROUTES}
        for r in range(args.rounds):
            order = rows[r % len(rows):] + rows[:r % len(rows)]
            for row in order:
                for path in ROUTES:
                    results[row, path].append(timed_run(servers[row], path, args))
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
        exact = {row: exact_calls(s, args) for row, s in servers.items() if s.uses_redis}
        committed = {row: sqlite_writes(s) for row, s in servers.items() if s.sqlite_path}
    finally:
        for s in servers.values():
            s.stop()
    return report(args, rows, results, exact, committed)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def report(args, rows, results, exact, committed):
    load = open("/proc/loadavg").read().split()[:3]
    print(f"`{args.command}` on {time.strftime('%Y-%m-%d')}: gunicorn {version('gunicorn')} with "
          f"two sync workers, Flask {version('flask')}, Flask-Session {version('flask-session')}, "
          f"Python {platform.python_version()}, {os.cpu_count()} cores (load average "
          f"{' '.join(load)} at the end); wrk -t1 -c{args.connections}, {args.seconds} s per run, "
          f"one session cookie on every connection and a browser's User-Agent; "
          f"{'server and store on CPU 0, wrk on CPU 1' if PIN else 'unpinned'}; {args.rounds} "
          f"rounds interleaving the rows, medians, ratios to bare within each round. Server CPU "
          f"is user+system of gunicorn's master and workers plus the Redis server's.")
    print()
    print("| app | route | req/s | req/s vs bare | server CPU µs/req | of which Redis | "
          "overhead over bare, µs | CPU vs bare | Redis commands/req | store writes/req |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    failed = []
    for row in rows:
        for path in ROUTES:
            runs, base = results[row, path], results["bare", path]
            rate = median([x["rate"] for x in runs])
            cpu = median([x["cpu"] for x in runs])
            rate_ratio = median([x["rate"] / b["rate"] for x, b in zip(runs, base)])
            cpu_ratio = median([x["cpu"] / b["cpu"] for x, b in zip(runs, base)])
            overhead = median([x["cpu"] - b["cpu"] for x, b in zip(runs, base)])
            store = f"{median([x['store'] for x in runs]):.0f}" if row in exact else "–"
            calls = writes = "–"
            if row in exact:
                used = exact[row][path]
                calls = ", ".join(f"{k.upper()} {v:.2f}" for k, v in sorted(used.items())) or "none"
                write_names = redis_writes(args.redis_url, used)
                wrote = sum(v for k, v in used.items() if k in write_names)
                writes = f"{wrote:.2f}"
                # Under load too: the timed runs' commands, counted the same way.
                timed = {k for x in runs for k, v in x["calls"].items() if v}
                if path == "/read" and row.startswith("sessionvault") and (
                        wrote or redis_writes(args.redis_url, timed)):
                    failed.append(f"{row} wrote to the store on /read ({calls}; under load: "
                                  f"{', '.join(sorted(timed))})")
            elif row in committed and committed[row] is None:
                writes = "no file"
                if path == "/read":
                    failed.append(f"{row} left no SQLite file at {sqlite_file(args)}")
            elif row in committed:
                writes = f"{committed[row][path]:.2f} commits"
                if path == "/read" and committed[row][path]:
                    failed.append(f"{row} committed to the SQLite file on /read")
            shown_overhead = "–" if row == "bare" else f"{overhead:+.0f}"
            print(f"| {TITLES[row]} | `{path}` | {rate:,.0f} | {rate_ratio:.2f}x | {cpu:.0f} | "
                  f"{store} | {shown_overhead} | {cpu_ratio:.2f}x | {calls} | {writes} |")
    print()
    print(f"`/incr` with one cookie from {args.connections} concurrent connections, all rounds "
          f"added up: increments answered 200 and found in the session afterwards (wrk drops "
          f"responses still in flight at its deadline, so up to {args.connections} per run may "
          f"be kept without being counted). Redis commands per request under load are those "
          f"of the timed runs, where a save that lost to the other worker is retried.")
    print()
    print("| app | answered 200 | other answers | in the session | kept | "
          "Redis commands/req under load |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        if row in ("bare", "cookie"):
            continue
        runs = results[row, "/incr"]
        ok, other = sum(x["ok"] for x in runs), sum(x["non2xx"] for x in runs)
        kept = sum(x["kept"] for x in runs)
        shown_kept = f"{kept / ok:.0%}" if ok else "–"
        print(f"| {TITLES[row]} | {ok:,} | {other:,} | {kept:,} | {shown_kept} | "
              f"{under_load(runs)} |")
    print()
    print("(Flask's cookie sessions keep nothing server-side: every connection resends the one "
          "cookie it started with, so each increment starts again from the same value.)")
    errors = sorted({f"{row} {path}: {x['errors']}" for (row, path), runs in results.items()
                     for x in runs if x["errors"]})
    for e in errors:
        print(f"- wrk socket errors, {e}")
    for message in args.skipped:
        print(f"- {message}")
    for f in failed:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

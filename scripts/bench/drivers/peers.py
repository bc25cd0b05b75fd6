"""Drives the peer servers of bench/servers with wrk; see scripts/bench/peers.sh.

Usage: peers.py --bin DIR --redis-url URL --redis-pid PID --cluster-seeds H:P,... --cluster-pids
       PID,... --postgres-url URL --postgres-pid PID --work DIR --secret-file PATH [--seconds S]
       [--rounds R] [--connections C] [--pin] [--baseline-bin DIR --baseline-rev REV]
       [--only VARIANT...] [--json PATH] [--command CMD]

Every round runs every variant's GET /read and GET /incr under two workloads (one hot session:
every connection sends the same cookie; many sessions: one session per connection, each request
taking the next session in turn), in an order that rotates between rounds, with bare axum at
the start and in the middle of each round; ratios to bare come from the same round. For each
run: requests per second, p50 and p99 latency, server CPU and store CPU per request (user +
system from /proc, over the measured window only), store commands per request, non-2xx
responses, and for /incr the increments answered 200 against those found in the sessions after.

With --baseline-bin, every sessionvault variant measured also runs from the servers built at
another revision (NAME@base, "LABEL, at REV"), in the same rounds: a change against what it
replaces, side by side.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")
TICK = os.sysconf("SC_CLK_TCK")
WARMUP_SECONDS = 1
SETTLE_SECONDS = 0.5

# name: (binary, store kind, extra arguments, library label). Store kinds say which store
# server's CPU and commands are counted; "cookie" variants keep the session in the cookie, so
# increments kept is not theirs to report.
VARIANTS = {
    "bare-axum": ("bare-axum", None, [], "bare axum"),
    "actix-bare": ("actix-bare", None, [], "bare actix-web"),
    "sessionvault-memory": ("sessionvault-axum", "memory", ["--store", "memory"], "sessionvault, memory"),
    "tower-sessions-memory": ("tower-sessions-axum", "memory", ["--store", "memory"], "tower-sessions, memory"),
    "sessionvault-sealed": ("sessionvault-axum", "cookie", ["--cookie-mode", "sealed", "--store", "none"], "sessionvault, sealed cookie"),
    "sessionvault-flask": ("sessionvault-axum", "cookie", ["--cookie-mode", "flask", "--store", "none"], "sessionvault, Flask cookie"),
    "actix-session-cookie": ("actix-session", "cookie", ["--store", "cookie"], "actix-session, cookie"),
    "sessionvault-redis": ("sessionvault-axum", "redis", ["--store", "{redis}"], "sessionvault, Redis"),
    "tower-sessions-redis": ("tower-sessions-axum", "redis", ["--store", "{redis}"], "tower-sessions, Redis"),
    "actix-session-redis": ("actix-session", "redis", ["--store", "{redis}"], "actix-session, Redis"),
    "sessionvault-redis-cluster": ("sessionvault-axum", "cluster", ["--store", "{cluster}"], "sessionvault, Redis Cluster"),
    "sessionvault-sqlite": ("sessionvault-axum", "sqlite", ["--store", "sqlite:{work}/sessionvault.db"], "sessionvault, SQLite"),
    "tower-sessions-sqlite": ("tower-sessions-axum", "sqlite", ["--store", "sqlite:{work}/tower-sessions.db"], "tower-sessions, SQLite"),
    "sessionvault-postgres": ("sessionvault-axum", "postgres", ["--store", "{postgres}"], "sessionvault, PostgreSQL"),
    "tower-sessions-postgres": ("tower-sessions-axum", "postgres", ["--store", "{postgres}"], "tower-sessions, PostgreSQL"),
}
BARE = {"bare-axum", "actix-bare"}
BASELINE = "@base"
# Where each variant's binary is: --bin, or --baseline-bin for the NAME@base variants.
BIN_DIRS = {}
ENDPOINTS = ("/read", "/incr")
WORKLOADS = ("hot", "many")

MANY_LUA = """
local cookies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
end
function request()
  i = i % #cookies + 1
  return wrk.format(nil, nil, {["Host"] = wrk.headers["Host"], ["User-Agent"] = "@BROWSER@",
                               ["Cookie"] = "session=" .. cookies[i]})
end
""".replace("@BROWSER@", BROWSER)


def cpu_ticks(pids, reaper=None):
    """User + system ticks of PIDS; for REAPER (PostgreSQL's postmaster), its reaped children's
    too, so that a backend that exits during the window still counts."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
        if pid == reaper:
            total += int(fields[13]) + int(fields[14])
    return total


def children(pid):
    """The processes whose parent is PID (PostgreSQL's backends and helpers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def redis_calls(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "commandstats"],
                         capture_output=True, text=True, check=True).stdout
    calls = 0
    for name, n in re.findall(r"cmdstat_([^:]+):calls=(\d+)", out):
        if name not in ("info", "ping", "cluster|slots", "cluster|nodes", "cluster", "client|setinfo", "hello"):
            calls += int(n)
    return calls


class Stores:
    def __init__(self, a):
        self.redis_url = a.redis_url
        self.redis_port = int(a.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.redis_pids = [a.redis_pid]
        self.cluster = "redis-cluster://" + a.cluster_seeds if a.cluster_seeds else None
        self.cluster_ports = [int(s.rsplit(":", 1)[1]) for s in a.cluster_seeds.split(",")] if a.cluster_seeds else []
        self.cluster_pids = [int(p) for p in a.cluster_pids.split(",")] if a.cluster_pids else []
        self.postgres = a.postgres_url
        self.postgres_pid = a.postgres_pid
        self.pg_statements = False
        if self.postgres:
            self.pg_statements = self.psql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") == "1"

    def psql(self, sql):
        return subprocess.run(["psql", self.postgres, "-Atqc", sql], capture_output=True,
                              text=True, check=True).stdout.strip()

    def pids(self, kind):
        if kind == "redis":
            return self.redis_pids
        if kind == "cluster":
            return self.cluster_pids
        if kind == "postgres":
            return [self.postgres_pid] + children(self.postgres_pid)
        return []

    def commands(self, kind):
        """A running count of the store's commands (Redis) or statements (PostgreSQL)."""
        if kind == "redis":
            return redis_calls(self.redis_port)
        if kind == "cluster":
            return sum(redis_calls(p) for p in self.cluster_ports)
        if kind == "postgres":
            if self.pg_statements:
                return int(self.psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                     "WHERE query NOT ILIKE '%pg_stat%'"))
            # Without pg_stat_statements: transactions committed or rolled back, which for
            # these stores is one per statement.
            return int(self.psql("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                 "WHERE datname = current_database()"))
        return None

    @property
    def commands_source(self):
        if not self.postgres:
            return None
        return "pg_stat_statements calls" if self.pg_statements else "pg_stat_database transactions"


def get(url, cookie=None):
    headers = {"User-Agent": BROWSER}
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        body = r.read().decode()
        set_cookie = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
    for c in set_cookie:
        name, _, rest = c.partition("=")
        if name.strip() == "session":
            return body, rest.split(";")[0]
    return body, None


class Server:
    def __init__(self, binary, args, pin):
        cmd = [binary, "--listen", "127.0.0.1:0"] + args
        if pin:
            cmd = ["taskset", "-c", "0"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://"):
            self.proc.kill()
            raise RuntimeError(f"{binary} {' '.join(args)} did not start: {line!r}")
        self.base = line.split()[-1]
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(url, seconds, connections, pin, cookie=None, script=None, cookies_file=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"User-Agent: {BROWSER}"]
    if cookie:
        cmd += ["-H", f"Cookie: session={cookie}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if cookies_file:
        cmd += ["--", cookies_file]
    if pin:
        cmd = ["taskset", "-c", "1"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if not m:
            return None
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]

    m = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": int(m.group(1)) if m else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "p50_ms": latency(50),
        "p99_ms": latency(99),
    }


def measure(server, stores, kind, path, workload, a, lua):
    """One wrk run on SERVER; returns the run's figures."""
    url = server.base + path
    cookie = cookies_file = None
    if workload == "hot":
        _, cookie = get(server.base + "/incr")
        sessions = [cookie] if cookie else []
    else:
        sessions = [get(server.base + "/incr")[1] for _ in range(a.connections)]
        sessions = [s for s in sessions if s]
        if len(sessions) == a.connections:
            fd, cookies_file = tempfile.mkstemp(dir=a.work, suffix=".cookies")
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(sessions) + "\n")
    if not sessions and path != "/bare" and kind is not None:
        raise RuntimeError(f"{server.base}/incr set no session cookie")
    # The same load, unmeasured first: connection pools fill, caches warm.
    wrk(url, WARMUP_SECONDS, a.connections, a.pin, cookie, lua if cookies_file else None, cookies_file)
    # wrk leaves requests in flight at its deadline; let them land before counting from here.
    time.sleep(SETTLE_SECONDS)
    before = {s: read_n(server, s) for s in sessions} if path == "/incr" else {}
    store_pids = stores.pids(kind)
    reaper = stores.postgres_pid if kind == "postgres" else None
    c0 = stores.commands(kind)
    t0, s0 = cpu_ticks([server.pid]), cpu_ticks(store_pids, reaper)
    r = wrk(url, a.seconds, a.connections, a.pin, cookie, lua if cookies_file else None, cookies_file)
    t1, s1 = cpu_ticks([server.pid]), cpu_ticks(stores.pids(kind), reaper)
    c1 = stores.commands(kind)
    n = max(r["requests"], 1)
    r["rps"] = r["requests"] / a.seconds
    r["server_us"] = (t1 - t0) / TICK * 1e6 / n
    r["store_us"] = (s1 - s0) / TICK * 1e6 / n if store_pids else None
    r["commands"] = (c1 - c0) / n if c0 is not None else None
    if path == "/incr" and kind not in (None, "cookie"):
        r["answered"] = r["requests"] - r["non2xx"]
        r["stored"] = sum(read_n(server, s) - before[s] for s in sessions)
    if cookies_file:
        os.unlink(cookies_file)
    return r


def read_n(server, cookie):
    body, _ = get(server.base + "/read", cookie)
    return int(body)


def fill(arg, stores, work):
    return arg.format(redis=stores.redis_url, cluster=stores.cluster, postgres=stores.postgres, work=work)


def run_variant(name, stores, a, lua, results, round_no):
    binary, kind, args, _ = VARIANTS[name]
    args = [fill(x, stores, a.work) for x in args]
    if "--store" in args and args[args.index("--store") + 1] in ("None", ""):
        print(f"  {name}: skipped (its store is not running)", file=sys.stderr)
        return
    if binary in ("sessionvault-axum", "actix-session") and kind != "memory":
        args += ["--secret-file", a.secret_file]
    server = Server(os.path.join(BIN_DIRS.get(name, a.bin), binary), args, a.pin)
    try:
        for path in ENDPOINTS:
            for workload in (("hot",) if name in BARE else WORKLOADS):
                r = measure(server, stores, kind, path, workload, a, lua)
                r.update(variant=name, endpoint=path, workload=workload, round=round_no)
                results.append(r)
                print(f"  round {round_no} {name:27} {path:5} {workload:4} {r['rps']:9.0f} req/s  "
                      f"server {r['server_us']:6.1f} us" +
                      (f"  store {r['store_us']:6.1f} us" if r["store_us"] is not None else "") +
                      (f"  {r['commands']:.2f} cmds" if r["commands"] is not None else "") +
                      (f"  kept {r['stored']}/{r['answered']}" if "answered" in r else "") +
                      (f"  non-2xx {r['non2xx']}" if r["non2xx"] else ""), file=sys.stderr)
    finally:
        server.stop()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(results, variants):
    """Per variant, endpoint and workload: medians over rounds, sums of counts, and the ratio
    of server + store CPU to bare axum's on the same endpoint in the same round."""
    bare = {}
    for r in results:
        if r["variant"] == "bare-axum":
            bare.setdefault((r["round"], r["endpoint"]), []).append(r["server_us"])
    rows = []
    for name in variants:
        for path in ENDPOINTS:
            for workload in (("hot",) if name in BARE else WORKLOADS):
                runs = [r for r in results if (r["variant"], r["endpoint"], r["workload"]) == (name, path, workload)]
                if not runs:
                    continue
                ratios, overheads = [], []
                for r in runs:
                    base = bare.get((r["round"], path))
                    if base:
                        total = r["server_us"] + (r["store_us"] or 0)
                        ratios.append(total / statistics.mean(base))
                        overheads.append(total - statistics.mean(base))
                row = {
                    "variant": name, "label": VARIANTS[name][3], "endpoint": path, "workload": workload,
                    "runs": len(runs),
                    "rps": median(r["rps"] for r in runs),
                    "p50_ms": median(r["p50_ms"] for r in runs),
                    "p99_ms": median(r["p99_ms"] for r in runs),
                    "server_us": median(r["server_us"] for r in runs),
                    "store_us": median(r["store_us"] for r in runs),
                    "commands": median(r["commands"] for r in runs),
                    "non2xx": sum(r["non2xx"] for r in runs),
                    "socket_errors": sum(r["socket_errors"] for r in runs),
                    "cpu_ratio_to_bare": median(ratios),
                    "cpu_over_bare_us": median(overheads),
                }
                if "answered" in runs[0]:
                    row["answered"] = sum(r["answered"] for r in runs)
                    row["stored"] = sum(r["stored"] for r in runs)
                rows.append(row)
    return rows


def fmt(x, spec="{:.1f}"):
    return "—" if x is None else spec.format(x)


def markdown(rows, meta):
    lines = [f"Peers, {meta['date']} at {meta['commit']}: `{meta['command']}` "
             f"({meta['seconds']} s per run, {meta['rounds']} rounds, {meta['connections']} connections, "
             f"{'pinned' if meta['pin'] else 'unpinned'}; wall time {meta['wall_seconds']:.0f} s). "
             "CPU is µs per request: server (store server in parentheses); ratio is server + store "
             "CPU over bare axum's on the same endpoint in the same round." +
             (f" Rows \"at {meta['baseline']}\" are the same servers built at {meta['baseline']}, "
              "in the same rounds." if meta.get("baseline") else ""), ""]
    for workload, title in (("hot", "One hot session (every connection sends the same cookie)"),
                            ("many", "Many sessions (one per connection)")):
        lines += [f"**{title}**", "",
                  "| variant | /read CPU µs | /read ratio | /read req/s | /read p99 ms | /read store cmds "
                  "| /incr CPU µs | /incr ratio | /incr req/s | /incr p99 ms | /incr store cmds | increments kept | non-2xx |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        seen = []
        for row in rows:
            if row["variant"] not in seen:
                seen.append(row["variant"])
        for name in seen:
            wl = "hot" if name in BARE else workload
            cells = {p: next((r for r in rows if (r["variant"], r["endpoint"], r["workload"]) == (name, p, wl)), None)
                     for p in ENDPOINTS}
            parts = [VARIANTS[name][3]]
            non2xx = 0
            for p in ENDPOINTS:
                r = cells[p]
                if r is None:
                    parts += ["—"] * 5
                    continue
                cpu = fmt(r["server_us"]) + (f" ({fmt(r['store_us'])})" if r["store_us"] is not None else "")
                parts += [cpu, fmt(r["cpu_ratio_to_bare"], "{:.2f}x"), fmt(r["rps"], "{:,.0f}"),
                          fmt(r["p99_ms"], "{:.2f}"), fmt(r["commands"], "{:.2f}")]
                non2xx += r["non2xx"] + r["socket_errors"]
            inc = cells["/incr"]
            if inc and "answered" in inc and inc["answered"]:
                parts.append(f"{100 * inc['stored'] / inc['answered']:.1f}% ({inc['stored']:,}/{inc['answered']:,})")
            else:
                parts.append("—")
            parts.append(str(non2xx))
            lines.append("| " + " | ".join(parts) + " |")
        lines.append("")
    if meta.get("commands_source"):
        lines.append(f"Store commands: Redis `INFO commandstats` calls; PostgreSQL {meta['commands_source']}.")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--redis-url", required=True)
    p.add_argument("--redis-pid", type=int, required=True)
    p.add_argument("--cluster-seeds", default="")
    p.add_argument("--cluster-pids", default="")
    p.add_argument("--postgres-url", default="")
    p.add_argument("--postgres-pid", type=int, default=0)
    p.add_argument("--work", required=True)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--pin", action="store_true")
    p.add_argument("--baseline-bin", default="")
    p.add_argument("--baseline-rev", default="")
    p.add_argument("--only", nargs="*", default=[])
    p.add_argument("--json", required=True)
    p.add_argument("--markdown")
    p.add_argument("--command", default="scripts/bench.sh peers")
    p.add_argument("--commit", default="")
    a = p.parse_args()
    if a.rounds < 2:
        p.error("--rounds must be at least 2: ratios need bare axum in every round")
    unknown = [v for v in a.only if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {' '.join(VARIANTS)}")
    started = time.monotonic()
    stores = Stores(a)
    if a.pin:
        for pid in stores.redis_pids + stores.cluster_pids + ([stores.postgres_pid] if stores.postgres_pid else []):
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], capture_output=True, check=False)
    lua = os.path.join(a.work, "many-sessions.lua")
    with open(lua, "w") as f:
        f.write(MANY_LUA)
    measured = [v for v in VARIANTS if v not in ("bare-axum",) and (not a.only or v in a.only)]
    if a.baseline_bin:
        for name in [v for v in measured if VARIANTS[v][0] == "sessionvault-axum"]:
            binary, kind, args, label = VARIANTS[name]
            VARIANTS[name + BASELINE] = (binary, kind, args, f"{label}, at {a.baseline_rev}")
            BIN_DIRS[name + BASELINE] = a.baseline_bin
            measured.insert(measured.index(name) + 1, name + BASELINE)
    results = []
    for round_no in range(1, a.rounds + 1):
        shift = (round_no - 1) % len(measured)
        order = measured[shift:] + measured[:shift]
        half = len(order) // 2
        for name in ["bare-axum"] + order[:half] + ["bare-axum"] + order[half:]:
            run_variant(name, stores, a, lua, results, round_no)
    rows = summarize(results, ["bare-axum"] + measured)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": a.commit,
        "command": a.command, "seconds": a.seconds, "rounds": a.rounds,
        "connections": a.connections, "pin": a.pin, "wall_seconds": time.monotonic() - started,
        "cpus": os.cpu_count(), "commands_source": stores.commands_source,
        "baseline": a.baseline_rev or None,
        "wrk": "wrk -t1, one thread, browser User-Agent on every request",
    }
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "rows": rows, "runs": results}, f, indent=1)
    md = markdown(rows, meta)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md + "\n")
    print(md)


if __name__ == "__main__":
    main()

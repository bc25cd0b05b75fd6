"""A soak test of the counter example; see soak.sh.

Usage: soak.py COUNTER_BINARY SECONDS RATE INTERVAL STORE [REDIS_CLI_URL]

Drives a fixed rate of mixed requests (sign-ins, reads, increments, sign-outs, revocations,
sessions left to expire) at the counter for SECONDS, then reports per INTERVAL seconds the
p50/p99 latency and the server's resident memory, and audits: every increment answered 200 is
in its session's count, every ended session is refused, and once every session's absolute
lifetime has passed the store holds no entry. Exits 1 when any check fails.
"""

import http.client
import random
import sqlite3
import subprocess
import sys
import threading
import time

IDLE = 4  # seconds: --idle-timeout
ABSOLUTE = 12  # seconds: --absolute-timeout; a session here lives at most 8
SWEEP = 2  # seconds: --sweep-interval
ACTORS = 8
# RSS may grow this much after the first interval (warm-up) before the soak fails.
RSS_BOUND_KIB = 16 * 1024


class Run:
    def __init__(self, host, port, rate):
        self.host, self.port = host, port
        self.interval = ACTORS / rate  # seconds between one actor's requests
        self.lock = threading.Lock()
        self.samples = []  # (time, latency in seconds)
        self.failures = []
        self.counted = 0  # increments answered 200
        self.ended = []  # cookies of sessions ended by logout or revocation
        self.abandoned = 0

    def fail(self, text):
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(text)


class Client:
    """One browser: its own connection and cookie, requests paced to the run's rate."""

    def __init__(self, run, pace):
        self.run, self.pace = run, pace
        self.conn = http.client.HTTPConnection(run.host, run.port, timeout=10)
        self.cookie = None

    def send(self, method, path, cookie=None):
        self.pace.wait()
        headers = {}
        own = cookie is None
        cookie = self.cookie if own else cookie
        if cookie:
            headers["Cookie"] = f"session={cookie}"
        start = time.monotonic()
        try:
            self.conn.request(method, path, headers=headers)
            response = self.conn.getresponse()
            body = response.read().decode()
        except OSError as e:
            self.run.fail(f"{method} {path}: {e}")
            self.conn.close()
            return 0, ""
        now = time.monotonic()
        with self.run.lock:
            self.run.samples.append((now, now - start))
        for name, value in response.getheaders():
            if own and name.lower() == "set-cookie":
                value = value.split(";", 1)[0].split("=", 1)[1]
                self.cookie = value or None
        return response.status, body


class Pace:
    """Fixed rate: request k of an actor is due at start + k * interval, whatever came before."""

    def __init__(self, interval, start):
        self.interval, self.next = interval, start

    def wait(self):
        delay = self.next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next += self.interval


def actor(run, index, deadline):
    rng = random.Random(index)
    pace = Pace(run.interval, time.monotonic() + rng.random() * run.interval)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        user = f"u{index}-{n}"
        client = Client(run, pace)
        status, _ = client.send("POST", f"/login?user={user}")
        if status != 200:
            run.fail(f"login: {status}")
            continue
        started = time.monotonic()
        count = 0
        # A session of 5 to 40 requests, well inside its absolute lifetime.
        for _ in range(rng.randrange(5, 40)):
            if time.monotonic() - started > ABSOLUTE - 5:
                break
            if rng.random() < 0.6:
                status, body = client.send("GET", "/incr")
                if status == 200:
                    count += 1
                    with run.lock:
                        run.counted += 1
                    if body.strip() != str(count):
                        run.fail(f"incr answered {body.strip()}, expected {count}")
                else:
                    run.fail(f"incr: {status}")
            else:
                status, body = client.send("GET", "/read")
                if status != 200 or body.strip() != str(count):
                    run.fail(f"read: {status} {body.strip()}, expected {count}")
        ending = rng.random()
        if ending < 0.4:
            old = client.cookie
            status, _ = client.send("POST", "/logout")
            if status != 200:
                run.fail(f"logout: {status}")
            ended = [old]
        elif ending < 0.7:
            # Another device of the same user signs out every other session, then itself.
            other = Client(run, pace)
            other.send("POST", f"/login?user={user}")
            status, body = other.send("POST", "/sessions/revoke-others")
            if status != 200 or body.strip() != "1":
                run.fail(f"revoke-others: {status} {body.strip()}")
            old_other = other.cookie
            other.send("POST", "/logout")
            ended = [client.cookie, old_other]
        else:
            with run.lock:
                run.abandoned += 1
            ended = []
        for cookie in ended:
            probe = Client(run, pace)
            status, body = probe.send("GET", "/whoami", cookie=cookie)
            if body.strip() != "anonymous":
                run.fail(f"an ended session was served: {status} {body.strip()}")
        with run.lock:
            run.ended.extend(ended)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def store_entries(store, redis_cli):
    if store.startswith("sqlite:"):
        with sqlite3.connect(store[len("sqlite:"):]) as db:
            return db.execute("SELECT count(*) FROM sessionvault_sessions").fetchone()[0]
    out = subprocess.run(redis_cli + ["--scan", "--pattern", "sv:*"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.split())


def main():
    binary, seconds, rate, interval, store = sys.argv[1:6]
    redis_cli = sys.argv[6].split() if len(sys.argv) > 6 else []
    seconds, rate, interval = int(seconds), float(rate), int(interval)
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--insecure-dev", "--store", store,
         "--idle-timeout", f"{IDLE}s", "--absolute-timeout", f"{ABSOLUTE}s",
         "--sweep-interval", f"{SWEEP}s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        words = proc.stdout.readline().split()
        base = next(w for w in words if w.startswith("http://"))
        host, port = base[len("http://"):].split(":")
        run = Run(host, int(port), rate)
        start = time.monotonic()
        deadline = start + seconds
        threads = [threading.Thread(target=actor, args=(run, i, deadline)) for i in range(ACTORS)]
        for t in threads:
            t.start()
        rss = []  # (time, KiB)
        while any(t.is_alive() for t in threads):
            rss.append((time.monotonic(), rss_kib(proc.pid)))
            time.sleep(1)
        for t in threads:
            t.join()

        print(f"  {store.split('?')[0]}: {rate:g} requests/s for {seconds} s")
        print(f"  {'interval':>10} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}")
        rows = []
        for k in range(max(1, -(-seconds // interval))):
            lo, hi = start + k * interval, start + (k + 1) * interval
            lat = [l for t, l in run.samples if lo <= t < hi]
            mem = [m for t, m in rss if lo <= t < hi] or [0]
            rows.append(max(mem))
            print(f"  {k * interval:>4}-{(k + 1) * interval:<5} {len(lat):>9} "
                  f"{percentile(lat, 0.5) * 1000:>8.2f} {percentile(lat, 0.99) * 1000:>8.2f} "
                  f"{max(mem) / 1024:>8.1f}")
        growth = rows[-1] - rows[0] if len(rows) > 1 else 0
        if growth > RSS_BOUND_KIB:
            run.fail(f"RSS grew {growth} KiB after warm-up (bound {RSS_BOUND_KIB} KiB)")

        # Every ended session is still refused at the end.
        probe = Client(run, Pace(0, 0))
        for cookie in run.ended:
            status, body = probe.send("GET", "/whoami", cookie=cookie)
            if body.strip() != "anonymous":
                run.fail(f"an ended session was served at the end: {status}")
        # Once every session's absolute lifetime and a sweep have passed, nothing is left.
        time.sleep(ABSOLUTE + 2 * SWEEP + 1)
        left = store_entries(store, redis_cli)
        if left:
            run.fail(f"{left} store entries left after every session's lifetime")
        print(f"  audit: {run.counted} increments answered 200, all in their counts; "
              f"{len(run.ended)} ended sessions refused; {run.abandoned} left to expire; "
              f"{left} store entries left after {ABSOLUTE} s; RSS growth after warm-up "
              f"{growth / 1024:.1f} MiB (bound {RSS_BOUND_KIB // 1024} MiB)")
        for f in run.failures:
            print(f"  FAILED: {f}")
        return 1 if run.failures else 0
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())

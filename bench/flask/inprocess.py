"""CPU per `/read` of each session layer in one process, through Flask's test client: what the
layer costs without gunicorn, wrk or the scheduling between them.

    .venv-bench-flask/bin/python bench/flask/inprocess.py --redis redis://127.0.0.1:6379/15

The venv is the one `scripts/bench.sh flask-app` makes. Each variant runs in a fresh
interpreter: one `/incr` to start a session, warm-up reads, then the timed reads, over HTTPS
so that the `__Host-` cookie goes back. CPU is user + system of the whole process. The Redis
rows write a few sessions into the database the URL names. `--one VARIANT STORE` times one
variant in this process alone, for a profiler:

    perf record -e cpu-clock -- .venv-bench-flask/bin/python bench/flask/inprocess.py \
        --requests 20000 --one sessionvault redis://127.0.0.1:6379/15
"""

import argparse
import os
import resource
import secrets
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")


def variants(redis_url):
    return [("Flask, no sessions (bare)", "bare", ""),
            ("Flask's default cookie sessions", "cookie", ""),
            ("sessionvault, memory", "sessionvault", "memory"),
            ("sessionvault, Redis", "sessionvault", redis_url),
            ("Flask-Session 0.8.0, Redis", "flask-session", redis_url)]


def measure(variant, store, requests, warmup):
    """CPU µs per `/read` of one variant, in this process."""
    os.environ.update(BENCH_FLASK_VARIANT=variant, BENCH_FLASK_STORE=store,
                      BENCH_FLASK_SECRET=secrets.token_hex(32))
    sys.path.insert(0, HERE)
    from app import create_app

    client = create_app().test_client()
    headers = {"User-Agent": BROWSER}

    def get(path):
        response = client.get(path, headers=headers, base_url="https://localhost")
        if response.status_code != 200:
            raise SystemExit(f"{variant} {store}: {path} answered {response.status_code}")

    get("/incr")
    for _ in range(warmup):
        get("/read")
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(requests):
        get("/read")
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / requests * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="redis://HOST:PORT/DB for the Redis rows (required "
                                         "unless --one)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "STORE"),
                        help="time one variant in this process and print its figure alone "
                             "(for perf or strace): bare, cookie, sessionvault or "
                             "flask-session, and its store (memory, a URL, or '')")
    args = parser.parse_args()
    if args.one:
        print(f"{measure(*args.one, args.requests, args.warmup):.1f}")
        return
    if not args.redis:
        parser.error("--redis is required")

    print(f"`.venv-bench-flask/bin/python bench/flask/inprocess.py --redis {args.redis} "
          f"--requests {args.requests} --runs {args.runs}`: CPU µs per `/read` of the whole "
          f"process, Flask's test client, {args.warmup} reads to warm up\n")
    print("| app | " + " | ".join(f"run {i + 1}" for i in range(args.runs)) + " |")
    print("|---|" + "---:|" * args.runs)
    for name, variant, store in variants(args.redis):
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--requests",
                 str(args.requests), "--warmup", str(args.warmup), "--one", variant, store],
                capture_output=True, text=True)
            if out.returncode != 0:
                last = (out.stderr.strip().splitlines() or ["failed"])[-1]
                sys.exit(f"{name}: {last}")
            runs.append(out.stdout.strip())
        print(f"| {name} | " + " | ".join(runs) + " |")


if __name__ == "__main__":
    main()

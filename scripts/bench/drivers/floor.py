"""Runs the counter's /read and the floor example's /floor under wrk; see scripts/bench/floor.sh.

Usage: floor.py COUNTER_BINARY FLOOR_BINARY SECONDS CONNECTIONS
"""

import statistics
import sys

from counter import ROUNDS, get, launch, loaded_run, start


def main():
    counter, floor = sys.argv[1], sys.argv[2]
    seconds, connections = int(sys.argv[3]), int(sys.argv[4])
    counter_proc, counter_base = start(counter, "memory")
    procs = [counter_proc]
    try:
        # The floor prints its one session's ID at the end of its first line.
        floor_proc, floor_base, words = launch(floor)
        procs.append(floor_proc)
        floor_id = words[-1]
        _, cookie = get(counter_base, "/incr")
        # Both must find their session, or the comparison means nothing.
        for base, path, value in [(counter_base, "/read", cookie), (floor_base, "/floor", floor_id)]:
            body, _ = get(base, path, value)
            if body != "1":
                sys.exit(f"error: {path} answered {body!r} with its session cookie, not 1")
        runs = {"counter": [], "floor": []}
        # Per pair, the server's user and kernel CPU microseconds per request beyond its /bare.
        extra = {"counter": [], "floor": []}
        for _ in range(ROUNDS):
            for name, proc, base, path, value in [
                    ("counter", counter_proc, counter_base, "/read", cookie),
                    ("floor", floor_proc, floor_base, "/floor", floor_id)]:
                bare, bare_cpu = loaded_run(proc, base, "/bare", value, seconds, connections)
                loaded, loaded_cpu = loaded_run(proc, base, path, value, seconds, connections)
                runs[name].append((bare, loaded))
                if bare_cpu is not None and loaded_cpu is not None:
                    extra[name].append(tuple(l - b for l, b in zip(loaded_cpu, bare_cpu)))
        print(f"wrk -t1 -c{connections}, {seconds} s per run, {ROUNDS} rounds; each server's own "
              f"/bare alternates with its loaded route; medians of the pairs' ratios, quartiles "
              f"in brackets")
        for name, path in [("counter", "/read"), ("floor", "/floor")]:
            ratios = [loaded / bare for bare, loaded in runs[name]]
            q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            bare = statistics.median(b for b, _ in runs[name])
            loaded = statistics.median(rate for _, rate in runs[name])
            print(f"{name:<8} /bare {bare:>9,.0f} req/s  {path:<6} {loaded:>9,.0f} req/s  "
                  f"{statistics.median(ratios):.2f}x [{q[0]:.2f} to {q[2]:.2f}]")
        for name, path in [("counter", "/read"), ("floor", "/floor")]:
            if extra[name]:
                # Where a ratio's loss goes: the route's own work is user time; kernel time
                # beyond /bare is the same system calls costing more (waking wrk more often).
                user = statistics.median(u for u, _ in extra[name])
                kernel = statistics.median(k for _, k in extra[name])
                print(f"{name:<8} {path} beyond /bare, server CPU per request (medians of the "
                      f"pairs): user {user:+.2f} µs, kernel {kernel:+.2f} µs")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()

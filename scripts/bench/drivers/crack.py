"""Times `sessionvault crack` and flask-unsign on one cookie whose key is in neither wordlist,
so both try every line; rates are lines per second of wall time.

Usage: crack.py SESSIONVAULT FLASK_UNSIGN SV_LINES FU_LINES   (see scripts/bench/crack.sh)
"""

import os
import subprocess
import sys
import tempfile
import time


def make_wordlist(path, lines):
    with open(path, "w") as f:
        for i in range(lines):
            f.write(f"candidate-{i:09d}\n")


def timed(cmd):
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return time.perf_counter() - start, result


def main():
    sv, fu, sv_lines, fu_lines = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    session = '{"user_id": 48213, "csrf_token": "9f2c4e1a7b3d5f608e2a4c6b8d0f1e3a5c7b9d2f", "roles": ["admin"]}'
    cookie = subprocess.run(
        [sv, "sign", "--secret", "a-key-in-no-wordlist", "--allow-weak-secret", session],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        sv_list, fu_list = os.path.join(tmp, "sv.txt"), os.path.join(tmp, "fu.txt")
        make_wordlist(sv_list, sv_lines)
        make_wordlist(fu_list, fu_lines)
        fu_time, fu_result = timed(
            [fu, "--unsign", "--cookie", cookie, "--wordlist", fu_list, "--no-literal-eval"]
        )
        sv_time, sv_result = timed([sv, "crack", "--quiet", "--wordlist", sv_list, cookie])
    if sv_result.returncode != 1:
        sys.exit(f"sessionvault crack exited {sv_result.returncode}: {sv_result.stderr!r}")
    fu_rate, sv_rate = fu_lines / fu_time, sv_lines / sv_time
    cores = os.cpu_count()
    print(f"cookie: {len(cookie)} bytes; machine: {cores} cores")
    print(f"{'tool':<22} {'lines':>12} {'seconds':>9} {'guesses/s':>13}")
    print(f"{'flask-unsign 1.2.1':<22} {fu_lines:>12,} {fu_time:>9.2f} {fu_rate:>13,.0f}")
    print(f"{'sessionvault crack':<22} {sv_lines:>12,} {sv_time:>9.2f} {sv_rate:>13,.0f}")
    print(f"ratio: {sv_rate / fu_rate:,.0f}x")


if __name__ == "__main__":
    main()

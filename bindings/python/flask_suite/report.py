"""Renders the results of scripts/flask-suite.sh as markdown for docs/FLASK.md.

Usage: report.py RESULTS.json... (one per variant, written by variant_plugin.py)

Exits 1 when the run cannot be trusted or sessionvault missed its target: the control
(Flask's own sessions) not passing every test, a selection other than the expected 27 tests,
or a sessionvault failure outside NEEDS_DATA_IN_COOKIE.
"""

import json
import sys

EXPECTED_COUNT = 27
# The tests sessionvault fails, each with the reason (docs/FLASK.md). A failure of any other
# test fails the run.
NEEDS_DATA_IN_COOKIE = {
    "tests/test_basic.py::test_session_refresh_vary": (
        "refreshes a permanent session's cookie on a request that never touches the session; "
        "whether a session is permanent is stored with its data, and sessionvault makes no "
        "store read for a request that never uses its session"
    ),
    "tests/test_basic.py::test_session_secret_key_fallbacks": (
        "serves one request under an unrelated key, then rotates back; under the unrelated "
        "key the cookie names no session and sessionvault deletes it, so the later rotation "
        "finds no cookie (keeping it would report the unknown ID on every request and count "
        "it towards the guessing limit: docs/FLASK.md)"
    ),
}
TITLES = {"default": "Flask's cookies (control)", "flask-session": "Flask-Session 0.8.0",
          "sessionvault": "sessionvault"}


def title(run):
    extra = run["label"][len(run["variant"]):].strip()
    base = TITLES.get(run["variant"], run["variant"])
    return f"{base}, {extra}" if extra else base


def cell(entry):
    if entry is None:
        return "not run"
    if entry["outcome"] == "passed":
        return "pass"
    where = f" (line {entry['line']})" if entry.get("line") else ""
    return f"**{entry['outcome'].upper()}**{where}"


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    tests = list(dict.fromkeys(t for run in runs for t in run["tests"]))
    print("| test | " + " | ".join(title(r) for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for test in tests:
        print(f"| `{test.removeprefix('tests/')}` | "
              + " | ".join(cell(r["tests"].get(test)) for r in runs) + " |")
    totals = []
    for run in runs:
        passed = sum(e["outcome"] == "passed" for e in run["tests"].values())
        totals.append(f"{passed} of {len(run['tests'])} pass")
    print("| **total** | " + " | ".join(totals) + " |")
    print()
    for run in runs:
        failed = {t: e for t, e in run["tests"].items() if e["outcome"] != "passed"}
        if not failed:
            continue
        print(f"{title(run)}, first failure of each test:")
        print()
        for test, entry in failed.items():
            message = entry["message"]
            message = message if len(message) <= 160 else message[:157] + "..."
            print(f"- `{test.split('::', 1)[1]}` (line {entry.get('line')}): `{message}`")
        print()
    problems = []
    for run in runs:
        if len(run["tests"]) != EXPECTED_COUNT:
            problems.append(f"{title(run)} ran {len(run['tests'])} tests, not {EXPECTED_COUNT}")
        bad = [t for t, e in run["tests"].items() if e["outcome"] != "passed"]
        if run["variant"] == "default" and bad:
            problems.append(f"the control failed {len(bad)}: the run cannot be trusted")
        if run["variant"] == "sessionvault":
            missed = [t for t in bad if t not in NEEDS_DATA_IN_COOKIE]
            if missed:
                problems.append(f"sessionvault failed {len(missed)} tests that do not need the "
                                f"data in the cookie: {', '.join(missed)}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Times itsdangerous (through Flask's own session serializer) on the sessions the criterion
benchmark uses, reads criterion's medians, and prints a table of throughputs and ratios.

Usage: flask_codec.py CRITERION_DIR   (called by scripts/bench/flask-codec.sh)
"""

import json
import pathlib
import statistics
import sys
import timeit

from flask import Flask

ROOT = pathlib.Path(__file__).resolve().parent.parent
SESSIONS = json.loads((ROOT / "crates/sessionvault/benches/data/sessions.json").read_text())
SECRET = "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f"


def python_seconds(fn, number):
    """Median seconds per call over seven repeats."""
    return statistics.median(timeit.repeat(fn, number=number, repeat=7)) / number


def rust_seconds(criterion_dir, name):
    estimates = json.loads((criterion_dir / name / "new" / "estimates.json").read_text())
    return estimates["median"]["point_estimate"] / 1e9


def main():
    criterion_dir = pathlib.Path(sys.argv[1])
    app = Flask("bench")
    app.secret_key = SECRET
    print(f"{'operation':<18} {'itsdangerous/s':>15} {'sessionvault/s':>15} {'ratio':>8}")
    with app.app_context():
        signer = app.session_interface.get_signing_serializer(app)
        for name, tagged in SESSIONS.items():
            session = app.session_interface.serializer.loads(tagged)
            cookie = signer.dumps(session)
            rows = [
                ("sign", lambda: signer.dumps(session)),
                ("verify", lambda: signer.loads(cookie, max_age=2678400)),
            ]
            for op, fn in rows:
                py = python_seconds(fn, 2000)
                rs = rust_seconds(criterion_dir, f"{op}_{name}")
                label = f"{op}/{name}"
                print(f"{label:<18} {1 / py:>15,.0f} {1 / rs:>15,.0f} {py / rs:>7.1f}x")
            print(f"{'':<18} ({name}: {len(tagged)} bytes of JSON, cookie {len(cookie)} bytes, "
                  f"{'compressed' if cookie.startswith('.') else 'not compressed'})")


if __name__ == "__main__":
    main()

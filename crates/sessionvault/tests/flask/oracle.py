"""Real Flask on the other side of the interop tests.

  oracle.py generate --count N --seed S [--fixed]   Flask makes cookies; one JSON object per line.
  oracle.py check                                   Reads Rust-made cookies (JSON lines) on stdin
                                                    and reports what Flask makes of each.

Every cookie comes from, or goes through, Flask's own SecureCookieSessionInterface inside a real
app and request, with itsdangerous' clock pinned so runs are reproducible.
"""

import argparse
import datetime
import json
import random
import sys
import uuid
from contextlib import contextmanager

import itsdangerous.timed
from flask import Flask, session
from markupsafe import Markup

TAG_KEYS = [" di", " t", " b", " m", " u", " d"]


@contextmanager
def frozen_clock(ts):
    original = itsdangerous.timed.TimestampSigner.get_timestamp
    itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: ts
    try:
        yield
    finally:
        itsdangerous.timed.TimestampSigner.get_timestamp = original


def make_app(secret, fallbacks, max_age):
    app = Flask("oracle")
    app.secret_key = secret
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)
    app.config["PERMANENT_SESSION_LIFETIME"] = datetime.timedelta(seconds=max_age)
    return app


def key_from(spec):
    """Secrets travel as {"text": ...} or {"hex": ...} (Flask accepts str or bytes)."""
    return spec["text"] if "text" in spec else bytes.fromhex(spec["hex"])


# ---------------------------------------------------------------- random sessions, Flask side

def rand_str(rng, max_len=12):
    alphabet = (
        "abcxyzABC019 _-\"\\/\n\t\x01\x7f\u00e9\u00df\u4e2d\u6587\U0001f600\U0001f9e1\u2028"
    )
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def rand_leaf(rng):
    kind = rng.randrange(13)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == 3:
        return rng.choice([2**64 + rng.randint(0, 999), -(2**70), 10**30 + 7])
    if kind == 4:
        return rng.choice(
            [rng.uniform(-1e6, 1e6), rng.random() * 1e-7, 1e16, 1e300 * rng.random(),
             float("inf"), float("-inf"), -0.0, 0.1, 2.5e-5]
        )
    if kind == 5:
        return rand_str(rng)
    if kind == 6:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
    if kind == 7:
        return Markup(rand_str(rng) + "<b>&amp;</b>")
    if kind == 8:
        return uuid.UUID(int=rng.getrandbits(128))
    if kind == 9:
        # Years from 100: email.utils reads two-digit years as 19xx/20xx.
        seconds = rng.randint(-58_000_000_000, 253_402_300_799)
        base = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return base + datetime.timedelta(seconds=seconds, microseconds=rng.randint(0, 999_999))
    if kind == 10:
        # Large and compressible.
        return rng.choice(["abc", "session ", "\u00e9t\u00e9 "]) * rng.randint(50, 400)
    if kind == 11:
        return rng.randint(-5, 5)
    return rand_str(rng, 3)


def rand_value(rng, depth=0):
    if depth >= 3 or rng.random() < 0.5:
        return rand_leaf(rng)
    kind = rng.randrange(4)
    items = [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 0:
        return items
    if kind == 1:
        return tuple(items)
    if kind == 2:
        # A one-key dict whose key is a tag: Flask escapes it with " di".
        return {rng.choice(TAG_KEYS): rand_value(rng, depth + 1)}
    return {rand_str(rng, 6): v for v in items}


def rand_session(rng):
    return {rand_str(rng, 8) or "k": rand_value(rng) for _ in range(rng.randint(1, 6))}


def strong_secret(rng):
    if rng.random() < 0.3:
        return {"hex": "%064x" % rng.getrandbits(256)}
    return {"text": "%064x" % rng.getrandbits(256)}


def generate(count, seed, fixed):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        current = strong_secret(rng)
        old = strong_secret(rng)
        ts = 1_700_000_000 + rng.randint(0, 10_000_000)
        max_age = rng.choice([2678400, 3600, 60])
        permanent = rng.random() < 0.3
        # One cookie in four is signed by the previous key, which is now a fallback.
        signed_by_fallback = rng.random() < 0.25
        data = rand_session(rng)
        if fixed and i == 0:
            data = {"user_id": 42, "csrf_token": "f" * 40, "roles": ["admin", "user"], "fresh": True}

        signer = old if signed_by_fallback else current
        app = make_app(key_from(signer), [], max_age)

        captured = {}

        @app.post("/set")
        def set_session():
            session.update(data)
            session.permanent = permanent
            # What Flask itself will serialize, as the session interface sees it.
            captured["json"] = app.session_interface.serializer.dumps(dict(session))
            return "ok"

        with frozen_clock(ts), app.test_client() as client:
            response = client.post("/set")
            set_cookie = response.headers.get("Set-Cookie", "")
        cookie = set_cookie.split(";", 1)[0].split("=", 1)[1] if set_cookie else ""
        expected = captured["json"]
        out.append(
            {
                "cookie": cookie,
                "tagged_json": expected,
                "current": current,
                "fallbacks": [old],
                "signed_by_fallback": signed_by_fallback,
                "timestamp": ts,
                "max_age": max_age,
                "permanent": permanent,
            }
        )
    for item in out:
        print(json.dumps(item, sort_keys=True))


# ---------------------------------------------------------------- Rust-made cookies, Flask side

def load(app, cookie, now):
    """What Flask's session interface makes of a request carrying this cookie at time now."""
    with frozen_clock(now), app.test_request_context(headers={"Cookie": "session=" + cookie}):
        loaded = app.session_interface.open_session(app, __import__("flask").request)
        return dict(loaded)


def check():
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        app = make_app(key_from(item["current"]), [key_from(k) for k in item["fallbacks"]],
                       item["max_age"])
        ts, max_age = item["timestamp"], item["max_age"]
        result = {"id": item["id"]}
        with app.app_context():
            serializer = app.session_interface.serializer
            expected = serializer.loads(item["tagged_json"])
            result["flask_dumps_equal"] = serializer.dumps(expected) == item["tagged_json"]
            with frozen_clock(ts):
                resigned = app.session_interface.get_signing_serializer(app).dumps(expected)
            result["resigned_equal"] = resigned == item["cookie"]
        loaded = load(app, item["cookie"], ts)
        result["loaded_equal"] = loaded == expected and (loaded != {} or expected == {})
        result["loaded_json"] = None
        with app.app_context():
            result["loaded_json"] = serializer.dumps(loaded)
        # Expiry edges: age == max_age loads, one second more or a clock one second behind does not.
        result["at_max_age_loads"] = load(app, item["cookie"], ts + max_age) == expected
        result["past_max_age_rejected"] = load(app, item["cookie"], ts + max_age + 1) == {}
        result["future_rejected"] = load(app, item["cookie"], ts - 1) == {}
        print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--count", type=int, default=100)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--fixed", action="store_true")
    sub.add_parser("check")
    args = parser.parse_args()
    if args.cmd == "generate":
        generate(args.count, args.seed, args.fixed)
    else:
        check()


if __name__ == "__main__":
    main()

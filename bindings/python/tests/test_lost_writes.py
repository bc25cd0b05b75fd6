"""The lost write Flask-Session 0.8.0 is known for, reproduced step by step: a read-only request
that loaded the session before a writer saved, and saves after it. Flask-Session loses the
write; sessionvault keeps it, since a request that changed nothing saves nothing."""

from __future__ import annotations

import secrets
import threading

from flask import Flask, session


def race(app: Flask, cookie_name: str) -> dict:
    loaded, written = threading.Event(), threading.Event()

    @app.get("/start")
    def start():
        session["start"] = "1"
        return ""

    @app.get("/slow-read")
    def slow_read():
        value = session.get("start")
        loaded.set()
        assert written.wait(10)
        return str(value)

    @app.get("/write")
    def write():
        session["written"] = "yes"
        return ""

    @app.get("/all")
    def all_():
        return dict(session)

    first = app.test_client()
    first.get("/start")
    cookie = first.get_cookie(cookie_name).value

    def reader():
        c = app.test_client()
        c.set_cookie(cookie_name, cookie)
        c.get("/slow-read")

    thread = threading.Thread(target=reader)
    thread.start()
    assert loaded.wait(10)
    writer = app.test_client()
    writer.set_cookie(cookie_name, cookie)
    writer.get("/write")
    written.set()
    thread.join(10)
    check = app.test_client()
    check.set_cookie(cookie_name, cookie)
    return check.get("/all").json


def test_a_read_only_request_does_not_wipe_a_concurrent_write(make_app):
    app = make_app(SESSION_REFRESH_EACH_REQUEST=True)
    assert race(app, "__Host-session") == {"start": "1", "written": "yes"}


def test_flask_session_loses_that_write(redis_url):
    import redis
    from flask_session import Session

    app = Flask("flask_session_baseline")
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis.from_url(redis_url),
        SESSION_KEY_PREFIX=f"fs-race-{secrets.token_hex(4)}:",
    )
    Session(app)
    after = race(app, "session")
    assert after["start"] == "1" and "written" not in after

"""Zero-logout migration: legacy Flask signed cookies, and Flask-Session's Redis sessions."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from unittest import mock

import pytest
from flask import Flask, session

from conftest import Client, free_port, start_server, stop
from sessionvault.flask import SessionVault


def legacy_cookie(secret: str, data: dict, fallbacks=(), at: float | None = None) -> str:
    """A cookie exactly as Flask's default session interface signs it."""
    app = Flask("legacy")
    app.config.update(SECRET_KEY=secret, SECRET_KEY_FALLBACKS=list(fallbacks))
    serializer = app.session_interface.get_signing_serializer(app)
    with app.app_context():
        if at is None:
            return serializer.dumps(data)
        with mock.patch("time.time", return_value=at):
            return serializer.dumps(data)


def vault_app(make_app, **config) -> Flask:
    app = make_app(**config)

    @app.get("/show")
    def show():
        return repr(sorted(session.items()))

    return app


def test_a_valid_legacy_cookie_becomes_a_server_side_session(make_app, secret):
    app = vault_app(make_app)
    cookie = legacy_cookie(secret, {"user": "ada", "cart": (1, 2), "_permanent": True})
    client = app.test_client()
    client.set_cookie("session", cookie)
    rv = client.get("/show")
    assert rv.text == "[('_permanent', True), ('cart', (1, 2)), ('user', 'ada')]"
    headers = rv.headers.get_all("Set-Cookie")
    # The legacy cookie is deleted and a server-side session ID replaces it.
    assert any(h.startswith("session=;") for h in headers)
    assert any(h.startswith("__Host-session=") and "Expires" in h for h in headers)
    assert client.get_cookie("session") is None
    assert client.get("/show").text.endswith("('user', 'ada')]")


def test_a_legacy_cookie_under_a_fallback_key_is_moved_too(make_app):
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    app = vault_app(make_app, SECRET_KEY=new, SECRET_KEY_FALLBACKS=[old])
    client = app.test_client()
    client.set_cookie("session", legacy_cookie(old, {"a": 1}))
    assert client.get("/show").text == "[('a', 1)]"


def test_a_legacy_cookie_under_the_same_name_is_moved(make_app, secret):
    app = vault_app(make_app)
    app.config["SESSION_COOKIE_NAME"] = "sid"
    client = app.test_client()
    client.set_cookie("sid", legacy_cookie(secret, {"a": 1}))
    rv = client.get("/show")
    assert rv.text == "[('a', 1)]"
    assert "." not in client.get_cookie("sid").value


def test_tampered_and_expired_legacy_cookies_are_ignored(make_app, secret):
    app = vault_app(make_app)
    app.permanent_session_lifetime = timedelta(days=1)
    good = legacy_cookie(secret, {"a": 1})
    payload, rest = good.split(".", 1)
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest
    other_key = legacy_cookie(secrets.token_hex(32), {"a": 1})
    expired = legacy_cookie(secret, {"a": 1}, at=time.time() - 2 * 86400)
    for cookie in (tampered, other_key, expired):
        client = app.test_client()
        client.set_cookie("session", cookie)
        rv = client.get("/show")
        assert rv.text == "[]"
        assert not any(h.startswith("__Host-session=") for h in rv.headers.get_all("Set-Cookie"))


def test_flask_session_redis_sessions_are_moved_once_and_deleted(make_app, redis_url, tmp_path):
    import redis

    secret = secrets.token_hex(32)
    prefix = f"fs-test-{secrets.token_hex(4)}:"
    port = free_port()
    proc = start_server(
        [__import__("sys").executable, "-c",
         "import flask_session_app as m; "
         f"m.app.run(host='127.0.0.1', port={port})"],
        port,
        {"SV_SECRET": secret, "SV_REDIS": redis_url, "SV_PREFIX": prefix},
    )
    try:
        old = Client(port)
        assert old.get("/set?key=user&value=grace")[0] == 200
    finally:
        stop(proc)
    sid = old.cookies["session"]
    r = redis.Redis.from_url(redis_url)
    assert r.exists(prefix + sid)

    app = vault_app(
        make_app,
        SECRET_KEY=secret,
        SESSIONVAULT_MIGRATE_FLASK_SESSION=redis_url,
        SESSIONVAULT_MIGRATE_FLASK_SESSION_PREFIX=prefix,
    )
    client = app.test_client()
    client.set_cookie("session", sid)
    rv = client.get("/show")
    assert "('user', 'grace')" in rv.text
    # The raw-ID key is gone, and the new cookie holds a fresh ID.
    assert not r.exists(prefix + sid)
    assert client.get_cookie("__Host-session").value != sid
    assert client.get_cookie("session") is None
    assert "('user', 'grace')" in client.get("/show").text


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_flask_session_values_in_either_encoding_are_read(make_app, redis_url, encoding):
    import json

    import msgpack
    import redis

    prefix = f"fs-test-{secrets.token_hex(4)}:"
    sid = secrets.token_urlsafe(32)
    data = {"n": 3, "name": "x"}
    raw = msgpack.packb(data) if encoding == "msgpack" else json.dumps(data).encode()
    r = redis.Redis.from_url(redis_url)
    r.set(prefix + sid, raw)
    app = vault_app(
        make_app,
        SESSIONVAULT_MIGRATE_FLASK_SESSION=redis_url,
        SESSIONVAULT_MIGRATE_FLASK_SESSION_PREFIX=prefix,
    )
    client = app.test_client()
    client.set_cookie("session", sid)
    assert client.get("/show").text == "[('n', 3), ('name', 'x')]"
    assert not r.exists(prefix + sid)

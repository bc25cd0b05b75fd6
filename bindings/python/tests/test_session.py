"""The session object and the cookie, as Flask users expect them."""

from __future__ import annotations

import logging
import re
import sqlite3
import warnings
from datetime import timedelta

import flask
import pytest
from flask import session
from flask.sessions import NullSession


def records(db) -> list[tuple[int, str]]:
    """Each row's version and record (its compact JSON)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT version, compact_record FROM sessionvault_sessions")
        return [(version, bytes(record).decode()) for version, record in rows]


def test_a_session_round_trips_through_a_sqlite_file_in_the_instance_folder(make_app, tmp_path):
    app = make_app(SESSIONVAULT_STORE=None)

    @app.get("/set")
    def set_():
        session["user"] = "ada"
        return "ok"

    @app.get("/get")
    def get():
        return session.get("user", "none")

    client = app.test_client()
    assert client.get("/set").text == "ok"
    assert client.get("/get").text == "ada"
    db = tmp_path / "instance" / "sessionvault.sqlite3"
    stored = records(db)
    assert len(stored) == 1
    # The store holds the data under a keyed hash, never the raw ID of the cookie.
    cookie = client.get_cookie("__Host-session").value
    with sqlite3.connect(db) as conn:
        keys = [bytes(k).hex() for (k,) in conn.execute("SELECT key FROM sessionvault_sessions")]
    assert cookie not in stored[0][1] and cookie not in keys[0]
    assert '"user":"ada"' in stored[0][1]


def test_default_cookie_is_host_prefixed_secure_httponly_lax(app):
    @app.get("/")
    def index():
        session["x"] = 1
        return ""

    header = app.test_client().get("/").headers["Set-Cookie"]
    assert header.startswith("__Host-session=")
    assert "; Secure" in header and "; HttpOnly" in header and "SameSite=Lax" in header
    assert "Path=/" in header and "Domain" not in header and "Expires" not in header
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_values_set_after_init_are_used_as_written(app):
    app.config.update(
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_SAMESITE=None,
        SESSION_COOKIE_HTTPONLY=False,
    )

    @app.get("/")
    def index():
        session["x"] = 1
        return ""

    header = app.test_client().get("/").headers["Set-Cookie"]
    # Not Secure: no __Host- prefix, Flask's own name.
    assert header.startswith("session=")
    assert "Secure" not in header and "SameSite" not in header and "HttpOnly" not in header
    app.config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_PARTITIONED=True)
    header = app.test_client().get("/").headers["Set-Cookie"]
    assert header.startswith("__Host-session=") and "Partitioned" in header


def test_untouched_session_means_no_store_and_no_cookie_and_no_vary(make_app, tmp_path):
    app = make_app(SESSIONVAULT_STORE=None)

    @app.get("/")
    def index():
        return "hello"

    rv = app.test_client().get("/", headers={"Cookie": "__Host-session=" + "A" * 43})
    assert "Set-Cookie" not in rv.headers and "Vary" not in rv.headers
    # Not even opened: the default SQLite file does not exist yet.
    assert not (tmp_path / "instance" / "sessionvault.sqlite3").exists()


def test_vary_cookie_exactly_once_when_the_session_was_used(app):
    @app.get("/set")
    def set_():
        session["a"] = 1
        return ""

    @app.get("/get")
    def get():
        return str(session.get("a"))

    @app.get("/vary")
    def vary():
        response = flask.Response()
        response.vary.update(("Accept-Encoding",))
        session["a"] = 2
        return response

    client = app.test_client()
    for path, expected in (("/set", "Cookie"), ("/get", "Cookie"), ("/vary", "Accept-Encoding, Cookie")):
        rv = client.get(path)
        assert rv.headers.get_all("Vary") == [expected]


def test_a_read_only_request_never_writes(make_app, tmp_path):
    app = make_app(SESSIONVAULT_STORE="sqlite:///s.db")

    @app.get("/set")
    def set_():
        session["cart"] = ["apple"]
        return ""

    @app.get("/read")
    def read():
        return ",".join(session["cart"]) + str(len(session)) + str(dict(session.items()))

    client = app.test_client()
    client.get("/set")
    db = tmp_path / "instance" / "s.db"
    before = records(db)
    for _ in range(3):
        rv = client.get("/read")
        assert rv.text.startswith("apple1")
        assert "Set-Cookie" not in rv.headers
    assert records(db) == before


def test_nested_changes_are_saved_without_modified(app):
    @app.get("/add/<item>")
    def add(item):
        session.setdefault("cart", [])
        session["cart"].append(item)
        return ""

    @app.get("/nest/<item>")
    def nest(item):
        session["deep"]["list"].append(item)
        return ""

    @app.get("/show")
    def show():
        return flask.jsonify(cart=session.get("cart"), deep=session.get("deep"))

    @app.get("/init")
    def init():
        session["deep"] = {"list": []}
        return ""

    client = app.test_client()
    client.get("/init")
    for item in ("a", "b", "c"):
        client.get(f"/add/{item}")
        client.get(f"/nest/{item}")
    assert client.get("/show").json == {"cart": ["a", "b", "c"], "deep": {"list": ["a", "b", "c"]}}


def test_emptying_the_session_deletes_the_cookie_and_ends_the_session(make_app, tmp_path):
    app = make_app(SESSIONVAULT_STORE="sqlite:///s.db")

    @app.get("/set")
    def set_():
        session["a"] = 1
        return ""

    @app.get("/clear")
    def clear():
        session.clear()
        return ""

    @app.get("/get")
    def get():
        return str(session.get("a"))

    client = app.test_client()
    client.get("/set")
    old = client.get_cookie("__Host-session").value
    rv = client.get("/clear")
    assert re.match(r"__Host-session=; Expires=Thu, 01 Jan 1970", rv.headers["Set-Cookie"])
    assert rv.headers["Vary"] == "Cookie"
    assert client.get_cookie("__Host-session") is None
    # The old ID is dead even if replayed.
    client.set_cookie("__Host-session", old)
    assert client.get("/get").text == "None"


def test_no_secret_key_gives_flasks_null_session(make_app):
    app = make_app()
    app.config["SECRET_KEY"] = None

    with app.test_request_context():
        assert isinstance(flask.session._get_current_object(), NullSession)
        with pytest.raises(RuntimeError, match="session is unavailable"):
            session["x"] = 1


def test_internal_keys_are_hidden_and_refused(app):
    @app.get("/")
    def index():
        with pytest.raises(KeyError):
            session["_csrf"] = "x"
        session["a"] = 1
        return str(len(session))

    assert app.test_client().get("/").text == "1"


def test_session_flags(app):
    seen = {}

    @app.get("/set")
    def set_():
        seen["new_before"] = session.new
        session["a"] = 1
        seen["modified"] = session.modified
        return ""

    @app.get("/get")
    def get():
        seen["new_after"] = session.new
        session.get("a")
        seen["modified_after_read"] = session.modified
        return ""

    client = app.test_client()
    client.get("/set")
    client.get("/get")
    assert seen == {
        "new_before": True,
        "modified": True,
        "new_after": False,
        "modified_after_read": False,
    }


def test_permanent_sessions_expire_with_the_lifetime_and_refresh(app):
    app.permanent_session_lifetime = timedelta(days=3)

    @app.get("/login")
    def login():
        session["a"] = 1
        session.permanent = True
        return ""

    @app.get("/read")
    def read():
        return str(session.get("a"))

    client = app.test_client()
    header = client.get("/login").headers["Set-Cookie"]
    assert "Expires=" in header
    value = client.get_cookie("__Host-session").value
    # Refreshed on every request that uses it (SESSION_REFRESH_EACH_REQUEST), same ID.
    rv = client.get("/read")
    assert rv.text == "1" and "Expires=" in rv.headers["Set-Cookie"]
    assert client.get_cookie("__Host-session").value == value
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert "Set-Cookie" not in client.get("/read").headers


def test_session_transaction_sees_the_same_session(app):
    @app.get("/")
    def index():
        return str(session["foo"])

    client = app.test_client()
    with client.session_transaction() as sess:
        assert len(sess) == 0
        sess["foo"] = [42]
    assert client.get("/").text == "[42]"
    with client.session_transaction() as sess:
        assert sess["foo"] == [42]


def test_weak_keys_are_refused_outside_testing_and_debug(make_app, caplog):
    app = make_app(SECRET_KEY="dev")

    @app.get("/")
    def index():
        return str(session.get("a"))

    from sessionvault import WeakSecret

    with pytest.raises(WeakSecret, match="SECRET_KEY refused"):
        with app.test_request_context():
            session.get("a")
    # Through a request: one error, the refusal, and no second one from saving no session.
    with caplog.at_level(logging.ERROR):
        assert app.test_client().get("/").status_code == 500
    assert "SECRET_KEY refused" in caplog.text
    assert "finalizing failed" not in caplog.text, caplog.text
    app.config["TESTING"] = True
    with pytest.warns(UserWarning, match="not safe for production"):
        assert app.test_client().get("/").text == "None"
    warnings.simplefilter("default")


def test_secret_key_fallbacks_keep_sessions_across_a_rotation(make_app):
    app = make_app(TESTING=True)

    @app.post("/")
    def set_():
        session["a"] = 1
        return ""

    @app.get("/")
    def get():
        return flask.jsonify(dict(session))

    old, new, other = ("1" * 64, "2" * 64, "3" * 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app.secret_key = "k" + old[1:]
        client = app.test_client()
        client.post("/")
        assert client.get("/").json == {"a": 1}
        app.secret_key, app.config["SECRET_KEY_FALLBACKS"] = "k" + new[1:], ["k" + old[1:]]
        assert client.get("/").json == {"a": 1}
        # Under an unrelated key the cookie names no session: it reads as empty and, unlike
        # Flask's unreadable cookies, is deleted, so a dead ID stops being sent.
        app.secret_key, app.config["SECRET_KEY_FALLBACKS"] = "k" + other[1:], []
        rv = client.get("/")
        assert rv.json == {} and rv.headers["Set-Cookie"].startswith("__Host-session=;")


def test_invalid_samesite_is_a_value_error(app):
    app.config["TESTING"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "sometimes"
    with pytest.raises(ValueError, match="SESSION_COOKIE_SAMESITE"):
        app.test_client().get("/")


def test_a_host_prefix_the_settings_contradict_is_refused(app):
    from sessionvault import ConfigError

    app.config.update(
        TESTING=True, SESSION_COOKIE_NAME="__Host-sid", SESSION_COOKIE_DOMAIN="example.com"
    )
    with pytest.raises(ConfigError, match="__Host-"):
        app.test_client().get("/")


def test_a_domain_keeps_flasks_cookie_name(app):
    app.config["SESSION_COOKIE_DOMAIN"] = ".example.com"

    @app.get("/")
    def index():
        session["a"] = 1
        return ""

    header = app.test_client().get("/", "http://www.example.com/").headers["Set-Cookie"]
    assert header.startswith("session=") and "Domain=example.com" in header


def test_installed_right_after_flask_and_configured_afterwards(tmp_path, secret):
    app = flask.Flask("late", instance_path=str(tmp_path / "late"))
    from sessionvault.flask import SessionVault

    SessionVault(app)
    app.config.update(SECRET_KEY=secret, SESSIONVAULT_STORE="memory", SESSION_COOKIE_NAME="sid")

    @app.get("/")
    def index():
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    assert [client.get("/").text for _ in range(2)] == ["1", "2"]
    assert client.get_cookie("sid") is not None

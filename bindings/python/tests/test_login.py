"""Flask-Login 0.6.3 on sessionvault: a new session ID on sign-in with no change to the app,
the session ended on sign-out, and remember-me that revocation ends."""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata

import pytest
from flask import Flask, session

flask_login = pytest.importorskip("flask_login")

from flask_login import (  # noqa: E402
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)

from sessionvault import flask as sv  # noqa: E402
from sessionvault.flask import SessionVault  # noqa: E402

NAME = "__Host-session"
REMEMBER = "remember_token"
BASE = "https://localhost"


def test_flask_login_is_the_version_the_integration_is_written_for():
    assert importlib.metadata.version("flask-login") == "0.6.3"


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def make_login_app(tmp_path, secret, **config) -> Flask:
    """An ordinary Flask-Login app: its only sessionvault call is ``SessionVault(app)``."""
    app = Flask("login_app", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY=secret, SESSIONVAULT_STORE="memory", **config)
    SessionVault(app)
    manager = LoginManager(app)

    @manager.user_loader
    def load(user_id):
        return User(user_id) if user_id in ("alice", "bob") else None

    @app.get("/visit")
    def visit():
        session["cart"] = ["apple"]
        return "ok"

    @app.post("/login/<name>")
    def login(name):
        login_user(User(name), remember="remember" in (app.config.get("TEST_FLAGS") or ""))
        return "in"

    @app.post("/login-remember/<name>")
    def login_remember(name):
        login_user(User(name), remember=True)
        return "in"

    @app.post("/logout")
    def logout():
        logout_user()
        return "out"

    @app.get("/me")
    def me():
        return current_user.get_id() if current_user.is_authenticated else "anonymous"

    @app.get("/cart")
    def cart():
        return ",".join(session.get("cart", []))

    @app.get("/private")
    @login_required
    def private():
        return "secret"

    return app


@pytest.fixture
def login_app(tmp_path, secret):
    return make_login_app(tmp_path, secret)


def cookie(client, name=NAME):
    found = client.get_cookie(name)
    return None if found is None else found.value


def test_login_user_gives_a_new_session_id_and_the_pre_login_cookie_is_dead(login_app):
    attacker_planted = login_app.test_client()
    attacker_planted.get("/visit", base_url=BASE)
    before = cookie(attacker_planted)
    assert before

    assert attacker_planted.post("/login/alice", base_url=BASE).status_code == 200
    after = cookie(attacker_planted)
    assert after and after != before
    assert attacker_planted.get("/me", base_url=BASE).text == "alice"
    # The data the session had before sign-in is kept.
    assert attacker_planted.get("/cart", base_url=BASE).text == "apple"

    # The attacker who planted the pre-login cookie holds nothing.
    attacker = login_app.test_client()
    attacker.set_cookie(NAME, before, domain="localhost", secure=True)
    assert attacker.get("/me", base_url=BASE).text == "anonymous"
    assert attacker.get("/private", base_url=BASE).status_code == 401


def test_login_binds_the_user_so_devices_and_revocation_see_the_session(login_app):
    client = login_app.test_client()
    client.post("/login/alice", base_url=BASE)
    with login_app.app_context():
        assert len(sv.sessions_for_user("alice")) == 1
        assert sv.revoke_all_for_user("alice") == 1
    assert client.get("/me", base_url=BASE).text == "anonymous"


def test_logout_user_ends_the_session_in_the_store(login_app):
    client = login_app.test_client()
    client.post("/login/alice", base_url=BASE)
    client.get("/visit", base_url=BASE)
    signed_in = cookie(client)
    client.post("/logout", base_url=BASE)
    with login_app.app_context():
        assert sv.sessions_for_user("alice") == []
    replay = login_app.test_client()
    replay.set_cookie(NAME, signed_in, domain="localhost", secure=True)
    assert replay.get("/me", base_url=BASE).text == "anonymous"
    # Not just Flask-Login's keys popped: the whole session is gone.
    assert replay.get("/cart", base_url=BASE).text == ""


def test_remember_cookie_is_a_random_id_not_flask_logins_user_id_and_hmac(login_app):
    client = login_app.test_client()
    response = client.post("/login-remember/alice", base_url=BASE)
    token = cookie(client, REMEMBER)
    assert token and "alice" not in token and "|" not in token
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_remember_me_logs_a_browser_back_in_with_a_new_session(login_app):
    client = login_app.test_client()
    client.post("/login-remember/alice", base_url=BASE)
    token = cookie(client, REMEMBER)
    # The browser is closed: only the remember cookie is left.
    browser = login_app.test_client()
    browser.set_cookie(REMEMBER, token, domain="localhost")
    assert browser.get("/me", base_url=BASE).text == "alice"
    assert cookie(browser)  # a session of its own, bound to the user
    assert browser.get("/me", base_url=BASE).text == "alice"


def test_revoke_all_for_user_defeats_the_remember_cookie(login_app):
    client = login_app.test_client()
    client.post("/login-remember/alice", base_url=BASE)
    token = cookie(client, REMEMBER)
    with login_app.app_context():
        assert sv.revoke_all_for_user("alice") >= 2  # the session and the remember-me one

    browser = login_app.test_client()
    browser.set_cookie(REMEMBER, token, domain="localhost")
    response = browser.get("/me", base_url=BASE)
    assert response.text == "anonymous"
    assert browser.get("/private", base_url=BASE).status_code == 401
    # The dead cookie is cleared.
    assert cookie(browser, REMEMBER) is None
    # The signed-in browser is out too.
    assert client.get("/me", base_url=BASE).text == "anonymous"


def test_logout_ends_the_remember_session_too(login_app):
    client = login_app.test_client()
    client.post("/login-remember/alice", base_url=BASE)
    token = cookie(client, REMEMBER)
    client.post("/logout", base_url=BASE)
    assert cookie(client, REMEMBER) is None
    browser = login_app.test_client()
    browser.set_cookie(REMEMBER, token, domain="localhost")
    assert browser.get("/me", base_url=BASE).text == "anonymous"


def test_flask_logins_own_stateless_token_is_refused(login_app, secret):
    """A forged or pre-sessionvault ``"<id>|" + HMAC-SHA512(SECRET_KEY)`` token, valid under
    plain Flask-Login, cannot be revoked: it is not accepted."""
    digest = hmac.new(secret.encode(), b"alice", hashlib.sha512).hexdigest()
    browser = login_app.test_client()
    browser.set_cookie(REMEMBER, f"alice|{digest}", domain="localhost")
    assert browser.get("/me", base_url=BASE).text == "anonymous"
    assert cookie(browser, REMEMBER) is None


def test_plain_flask_login_accepts_that_token_after_revocation(tmp_path, secret):
    """What the integration fixes: without sessionvault, the remember cookie logs the user
    back in whatever the server did."""
    app = Flask("plain", instance_path=str(tmp_path / "plain"))
    app.config.update(SECRET_KEY=secret)
    manager = LoginManager(app)
    manager.user_loader(lambda user_id: User(user_id))

    @app.post("/login")
    def login():
        login_user(User("alice"), remember=True)
        return ""

    @app.get("/me")
    def me():
        return current_user.get_id() if current_user.is_authenticated else "anonymous"

    client = app.test_client()
    client.post("/login")
    token = cookie(client, REMEMBER)
    browser = app.test_client()
    browser.set_cookie(REMEMBER, token)
    assert browser.get("/me").text == "alice"


def test_strong_session_protection_ends_the_session(tmp_path, secret):
    app = make_login_app(tmp_path, secret, SESSION_PROTECTION="strong")
    client = app.test_client()
    client.post("/login/alice", base_url=BASE, headers={"User-Agent": "one"})
    signed_in = cookie(client)
    assert client.get("/me", base_url=BASE, headers={"User-Agent": "one"}).text == "alice"
    with app.app_context():
        assert len(sv.sessions_for_user("alice")) == 1
    stolen = app.test_client()
    stolen.set_cookie(NAME, signed_in, domain="localhost", secure=True)
    assert stolen.get("/me", base_url=BASE, headers={"User-Agent": "two"}).text == "anonymous"
    # The session is over in the store, so the owner is out as well (sign in again).
    with app.app_context():
        assert sv.sessions_for_user("alice") == []


def test_remember_refresh_each_request_keeps_one_remember_session(tmp_path, secret):
    app = make_login_app(tmp_path, secret, REMEMBER_COOKIE_REFRESH_EACH_REQUEST=True)
    client = app.test_client()
    client.post("/login-remember/alice", base_url=BASE)
    token = cookie(client, REMEMBER)
    for _ in range(3):
        assert client.get("/me", base_url=BASE).text == "alice"
    assert cookie(client, REMEMBER) == token
    with app.app_context():
        assert len(sv.sessions_for_user("alice")) == 2

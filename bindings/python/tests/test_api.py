"""regenerate, login, logout, update, devices and revocation."""

from __future__ import annotations

import time
from datetime import timedelta

import flask
import pytest
from flask import session

from sessionvault import flask as sv

NAME = "__Host-session"


def routes(app):
    @app.get("/set/<key>/<value>")
    def set_(key, value):
        session[key] = value
        return ""

    @app.get("/get/<key>")
    def get(key):
        return str(session.get(key))

    @app.post("/login/<user>")
    def login(user):
        sv.login(user)
        return ""

    @app.post("/logout")
    def logout():
        sv.logout()
        session["flash"] = "bye"
        return ""

    @app.get("/whoami")
    def whoami():
        return str(sv.current_user_id())

    @app.post("/regenerate")
    def regenerate():
        session.regenerate()
        return ""

    @app.get("/devices")
    def devices():
        return flask.jsonify(
            [{"handle": d["handle"], "current": d["current"]} for d in sv.devices()]
        )

    @app.post("/revoke/<handle>")
    def revoke(handle):
        return str(sv.revoke_device(handle))

    @app.post("/revoke-others")
    def revoke_others():
        return str(sv.revoke_others())

    @app.get("/age")
    def age():
        value = sv.auth_age()
        return "none" if value is None else str(value < timedelta(seconds=5))

    return app


def test_regenerate_gives_a_new_id_keeps_the_data_and_kills_the_old_one(app):
    client = routes(app).test_client()
    client.get("/set/a/1")
    old = client.get_cookie(NAME).value
    client.post("/regenerate")
    new = client.get_cookie(NAME).value
    assert new != old
    assert client.get("/get/a").text == "1"
    client.set_cookie(NAME, old)
    assert client.get("/get/a").text == "None"


def test_login_rotates_the_id_binds_the_user_and_logout_ends_it(app):
    client = routes(app).test_client()
    client.get("/set/cart/3")
    before = client.get_cookie(NAME).value
    assert client.get("/age").text == "none"
    client.post("/login/ada")
    after = client.get_cookie(NAME).value
    assert after != before
    assert client.get("/whoami").text == "ada"
    assert client.get("/get/cart").text == "3"
    assert client.get("/age").text == "True"
    rv = client.post("/logout")
    # A new session holds what the request stored after logging out.
    assert client.get_cookie(NAME).value not in (before, after)
    assert rv.status_code == 200
    assert client.get("/whoami").text == "None"
    assert client.get("/get/flash").text == "bye"
    assert client.get("/get/cart").text == "None"
    client.set_cookie(NAME, after)
    assert client.get("/whoami").text == "None"


def test_devices_and_revocation(app):
    routes(app)
    laptop, phone, tablet = app.test_client(), app.test_client(), app.test_client()
    for c in (laptop, phone, tablet):
        c.post("/login/ada")
    listed = laptop.get("/devices").json
    assert len(listed) == 3 and sum(d["current"] for d in listed) == 1
    phone_handle = next(d["handle"] for d in phone.get("/devices").json if d["current"])
    assert laptop.post(f"/revoke/{phone_handle}").text == "True"
    assert phone.get("/whoami").text == "None"
    assert laptop.post("/revoke/" + "0" * 64).text == "False"
    assert laptop.post("/revoke-others").text == "1"
    assert tablet.get("/whoami").text == "None"
    assert laptop.get("/whoami").text == "ada"


def test_admin_functions_work_in_an_app_context_without_a_request(app):
    routes(app)
    clients = [app.test_client() for _ in range(2)]
    for c in clients:
        c.post("/login/grace")
    with app.app_context():
        found = sv.sessions_for_user("grace")
        assert len(found) == 2 and {"handle", "created", "last_seen"} <= set(found[0])
        assert sv.revoke_all_for_user("grace") == 2
        assert sv.sessions_for_user("grace") == []
    assert clients[0].get("/whoami").text == "None"


def test_update_reruns_on_conflict_and_propagates_exceptions(app):
    @app.get("/incr")
    def incr():
        return str(sv.update("n", lambda n: (n or 0) + 1))

    @app.get("/fail")
    def fail():
        def boom(n):
            raise LookupError("no")

        sv.update("n", boom)
        return ""

    @app.get("/get")
    def get():
        return str(session.get("n"))

    client = app.test_client()
    assert [client.get("/incr").text for _ in range(3)] == ["1", "2", "3"]
    app.config["TESTING"] = True
    with pytest.raises(LookupError):
        client.get("/fail")
    assert client.get("/get").text == "3"


def test_outside_a_request_the_per_request_functions_say_so(app):
    with app.app_context(), pytest.raises(RuntimeError, match="request"):
        sv.login("x")


def test_idle_timeout_ends_the_session(make_app):
    app = routes(make_app(SESSIONVAULT_IDLE_TIMEOUT=1))
    client = app.test_client()
    client.get("/set/a/1")
    assert client.get("/get/a").text == "1"
    # The engine's clock is the system's here; one short wait is the price of a real timeout.
    time.sleep(1.3)
    assert client.get("/get/a").text == "None"

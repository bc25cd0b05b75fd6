"""Failures surface as HTTP errors through Flask's error handling, never as an empty session
or a change reported saved that was not."""

from __future__ import annotations

import subprocess
import time

import pytest
from flask import session

import sessionvault
from conftest import free_port, stop, wait_for_port


class ThrowawayRedis:
    """A redis-server on a free loopback port, that the test stops and starts again."""

    def __init__(self, binary: str, tmp_path) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture
def throwaway_redis(redis_server_bin, tmp_path):
    server = ThrowawayRedis(redis_server_bin, tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_store_outage_is_a_503_and_service_resumes(make_app, throwaway_redis):
    app = make_app(SESSIONVAULT_STORE=throwaway_redis.url)

    @app.get("/set")
    def set_():
        session["a"] = "1"
        return "saved"

    @app.get("/get")
    def get():
        return str(session.get("a"))

    @app.errorhandler(503)
    def unavailable(error):
        return f"sessions are down: {isinstance(error, sessionvault.StoreUnavailable)}", 503

    client = app.test_client()
    assert client.get("/set").text == "saved"
    throwaway_redis.stop()
    rv = client.get("/get")
    assert rv.status_code == 503 and rv.text == "sessions are down: True"
    rv = client.get("/set")
    assert rv.status_code == 503
    throwaway_redis.start()
    # A fresh server has no data: the old session is gone, and the app works again.
    deadline = time.monotonic() + 10
    while (rv := client.get("/set")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rv.text == "saved"
    assert client.get("/get").text == "1"


def test_a_failed_save_replaces_the_answer_with_the_error(make_app, throwaway_redis):
    app = make_app(SESSIONVAULT_STORE=throwaway_redis.url)

    @app.get("/write")
    def write():
        session["a"] = "1"
        return "written"

    @app.get("/read-then-write")
    def read_then_write():
        session.get("a")
        throwaway_redis.stop()
        session["b"] = "2"
        return "pretends success"

    client = app.test_client()
    client.get("/write")
    rv = client.get("/read-then-write")
    assert rv.status_code == 503 and "pretends success" not in rv.text
    assert "Set-Cookie" not in rv.headers


def test_too_large_a_sealed_session_is_a_413(make_app):
    app = make_app(SESSIONVAULT_COOKIE_MODE="sealed")

    @app.get("/")
    def index():
        session["blob"] = "x" * 5000
        return "ok"

    rv = app.test_client().get("/")
    assert rv.status_code == 413


def test_the_exceptions_are_one_hierarchy_of_http_errors():
    from werkzeug.exceptions import HTTPException

    for cls, code in (
        (sessionvault.StoreUnavailable, 503),
        (sessionvault.Conflict, 409),
        (sessionvault.SessionEnded, 409),
        (sessionvault.SessionTooLarge, 413),
        (sessionvault.Throttled, 429),
    ):
        assert issubclass(cls, sessionvault.SessionVaultError) and issubclass(cls, HTTPException)
        assert cls("why").code == code and str(cls("why")) == "why"
    assert issubclass(sessionvault.WeakSecret, sessionvault.ConfigError)
    assert issubclass(sessionvault.ConfigError, ValueError)


def test_an_unsupported_store_url_is_a_config_error(make_app):
    from sessionvault import _native

    with pytest.raises(sessionvault.ConfigError, match="unsupported"):
        _native.Store.open("mysql://x")
    app = make_app(SESSIONVAULT_STORE="mongodb://x", TESTING=True)
    with pytest.raises(sessionvault.ConfigError, match="SESSIONVAULT_STORE"):
        app.test_client().get("/")


def test_a_panic_in_the_native_code_is_a_session_vault_error():
    """A Rust panic must never reach Python as ``PanicException``, a ``BaseException`` that
    escapes ``except Exception`` and Flask's error handling."""
    from sessionvault import SessionVaultError, _native

    if not hasattr(_native, "_panic_for_tests"):
        pytest.skip("a release build: the panic hook exists in debug builds only")
    with pytest.raises(SessionVaultError, match="internal error"):
        _native._panic_for_tests()
    try:
        _native._panic_for_tests()
    except Exception:  # noqa: BLE001 - what an application's handler catches
        pass

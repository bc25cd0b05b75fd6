"""One store for both languages: the axum counter example and a Flask app on the same
SQLite file (two processes) and on the same Redis, with the same key and cookie name, read
and change each other's sessions."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
from flask import Flask, session

from conftest import Client, free_port, start_server, stop
from sessionvault.flask import SessionVault

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def counter_bin() -> str:
    """The counter example: SESSIONVAULT_COUNTER_BIN, or built here with cargo."""
    given = os.environ.get("SESSIONVAULT_COUNTER_BIN")
    if given:
        return given
    subprocess.run(
        ["cargo", "build", "--quiet", "--example", "counter", "-p", "sessionvault-axum"],
        cwd=ROOT,
        check=True,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "examples" / "counter")


def flask_app(store: str, secret: str) -> Flask:
    app = Flask("interop")
    app.config.update(SECRET_KEY=secret, SESSIONVAULT_STORE=store)
    SessionVault(app)
    # After init_app: the counter's --insecure-dev cookie, `session` without Secure.
    app.config["SESSION_COOKIE_SECURE"] = False

    @app.get("/set-int/<key>/<int:value>")
    def set_int(key, value):
        session[key] = value
        return "ok"

    @app.get("/get/<key>")
    def get(key):
        return repr(session.get(key))

    return app


def cookie_of(response) -> str:
    header = response.headers["Set-Cookie"]
    assert header.startswith("session=")
    return header.split(";", 1)[0].split("=", 1)[1]


def both_ways(counter: Client, app: Flask) -> None:
    flask_client = app.test_client(use_cookies=False)

    # Flask makes the session; the counter reads and changes it.
    sid = cookie_of(flask_client.get("/set-int/n/5"))
    counter.cookies = {"session": sid}
    assert counter.get("/read")[1] == "5"
    assert counter.get("/incr")[1] == "6"
    assert counter.get("/set?key=msg&value=hi")[0] == 200
    assert counter.cookies == {"session": sid}
    headers = {"Cookie": f"session={sid}"}
    assert flask_client.get("/get/n", headers=headers).text == "6"
    assert flask_client.get("/get/msg", headers=headers).text == "'hi'"

    # The counter makes one; Flask reads and changes it.
    other = Client(counter.port)
    assert other.get("/incr")[1] == "1"
    headers = {"Cookie": f"session={other.cookies['session']}"}
    assert flask_client.get("/get/n", headers=headers).text == "1"
    flask_client.get("/set-int/n/41", headers=headers)
    assert other.get("/incr")[1] == "42"


def run_counter(counter_bin: str, store: str, secret_file: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    argv = [counter_bin, "--listen", f"127.0.0.1:{port}", "--store", store,
            "--secret-file", str(secret_file), "--insecure-dev"]
    return start_server(argv, port, {}), port


def test_flask_and_axum_share_sessions_in_one_sqlite_file(counter_bin, tmp_path):
    secret = secrets.token_hex(32)
    secret_file = tmp_path / "secret.key"
    secret_file.write_text(secret + "\n")
    db = tmp_path / "shared.db"
    proc, port = run_counter(counter_bin, f"sqlite:{db}", secret_file)
    try:
        both_ways(Client(port), flask_app(f"sqlite:///{db}", secret))
    finally:
        stop(proc)


def test_flask_and_axum_share_sessions_in_redis(counter_bin, tmp_path, redis_url):
    secret = secrets.token_hex(32)
    secret_file = tmp_path / "secret.key"
    secret_file.write_text(secret)
    proc, port = run_counter(counter_bin, redis_url, secret_file)
    try:
        both_ways(Client(port), flask_app(redis_url, secret))
    finally:
        stop(proc)

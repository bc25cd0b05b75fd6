"""Shared fixtures: a strong key, apps on throwaway stores, free ports, servers."""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask

from sessionvault.flask import SessionVault

TESTS = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("SESSIONVAULT_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def secret() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def make_app(tmp_path, secret):
    """An app with sessionvault on a fresh store (memory unless told otherwise), its instance
    folder in the test's temporary directory."""

    def make(**config) -> Flask:
        app = Flask("sv_test", instance_path=str(tmp_path / "instance"))
        app.config.update(SECRET_KEY=secret, SESSIONVAULT_STORE="memory")
        SessionVault(app)
        app.config.update(config)
        return app

    return make


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Client:
    """A tiny HTTP client that keeps one cookie jar by hand (Python's cookie jar would not
    send Secure or __Host- cookies over plain HTTP)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def get(self, path: str, method: str = "GET") -> tuple[int, str, http.client.HTTPMessage]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            pair = header.split(";", 1)[0]
            name, _, value = pair.partition("=")
            if value and "max-age=0" not in header.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        conn.close()
        return response.status, body, response.headers


def start_server(argv: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        argv,
        cwd=TESTS / "apps",
        env={**os.environ, **env, "PYTHONPATH": str(TESTS / "apps")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc)
    except Exception:
        stop(proc)
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{argv[0]} did not start: {err[-2000:]}") from None
    return proc


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; the test is skipped when none answers."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except Exception:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture
def redis_server_bin() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed")
    return found

"""Real servers: gunicorn (--preload with forked sync workers, and gthread), waitress and
Werkzeug's threaded server, each on a free loopback port, driven over HTTP."""

from __future__ import annotations

import json
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import Client, free_port, start_server, stop

BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path):
    return {"SV_SECRET": secrets.token_hex(32), "SV_STORE": f"sqlite:///{tmp_path}/s.db"}


def server_argv(kind: str, port: int) -> list[str]:
    bind = f"127.0.0.1:{port}"
    if kind == "gunicorn-preload":
        return [str(BIN / "gunicorn"), "--preload", "-w", "2", "-k", "sync", "-b", bind,
                "server_app:app"]
    if kind == "gunicorn-gthread":
        return [str(BIN / "gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8", "-b",
                bind, "server_app:app"]
    if kind == "waitress":
        return [str(BIN / "waitress-serve"), "--threads=8", f"--listen={bind}", "server_app:app"]
    if kind == "werkzeug":
        return [sys.executable, "-c",
                "import server_app; server_app.app.run(host='127.0.0.1', "
                f"port={port}, threaded=True)"]
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["gunicorn-preload", "gunicorn-gthread", "waitress", "werkzeug"])
def test_sessions_work_under_each_server(kind, env):
    port = free_port()
    # With --preload the master opens the store at import, before it forks the workers.
    proc = start_server(server_argv(kind, port), port, {**env, "SV_WARM": "1"})
    try:
        client = Client(port)
        status, body, _ = client.get("/set?key=color&value=blue")
        assert (status, body) == (200, "ok"), body
        pids = set()
        for _ in range(12):
            status, body, _ = Client.get(client, "/get?key=color")
            assert status == 200, body
            answer = json.loads(body)
            assert answer["value"] == "blue"
            pids.add(answer["pid"])
        counts = [client.get("/incr")[1] for _ in range(5)]
        assert counts == ["1", "2", "3", "4", "5"]
        if kind == "gunicorn-preload":
            # Concurrent requests that each keep a sync worker busy: both forked workers
            # answer, each with a runtime and a store of its own.
            def held(_):
                status, body, _ = Client.get(client, "/get?key=color&hold=0.4")
                assert status == 200, body
                answer = json.loads(body)
                assert answer["value"] == "blue"
                return answer["pid"]

            with ThreadPoolExecutor(4) as pool:
                extra = set(pool.map(held, range(4)))
            assert len(pids | extra) == 2
    finally:
        stop(proc)


def test_twenty_parallel_requests_writing_twenty_keys_keep_all(env):
    port = free_port()
    proc = start_server(server_argv("waitress", port), port, env)
    try:
        client = Client(port)
        client.get("/set?key=start&value=1")
        cookies = dict(client.cookies)

        def write(i: int) -> int:
            one = Client(port)
            one.cookies = dict(cookies)
            return one.get(f"/set?key=k{i}&value={i}")[0]

        with ThreadPoolExecutor(20) as pool:
            assert list(pool.map(write, range(20))) == [200] * 20
        stored = json.loads(client.get("/all")[1])
        assert {f"k{i}" for i in range(20)} <= set(stored)
    finally:
        stop(proc)

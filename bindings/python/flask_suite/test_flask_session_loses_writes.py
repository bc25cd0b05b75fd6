"""Concurrent requests of one session through a threaded server: Flask-Session 0.8.0 loses
writes, and the same tests with sessionvault installed must keep every one.

    .venv-flask-suite/bin/python -m pytest -p no:cacheprovider \\
        bindings/python/flask_suite/test_flask_session_loses_writes.py

(scripts/flask-suite.sh makes that venv.) Redis is at $SESSIONVAULT_REDIS_URL (default
redis://127.0.0.1:6379); the sessionvault cases are skipped while sessionvault.flask cannot be
imported.

The interleavings are forced, not hoped for: a barrier holds every writer after its session was
loaded and before it is saved, and events order the reader and the writer, so each test gives
the same count on every run.
"""

import json
import os
import secrets
import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask, session
from werkzeug.serving import make_server

REDIS_URL = os.environ.get("SESSIONVAULT_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
WRITERS = 20
# Long enough for 20 threads to arrive on a loaded machine; a barrier that breaks fails the
# request, and so the test, instead of hanging it.
WAIT = 30
# The variants and whether each is expected to lose writes.
VARIANTS = {"flask-session": True, "sessionvault-redis": False, "sessionvault-sqlite": False}


def install_flask_session(app, prefix):
    import redis
    from flask_session import Session

    app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(REDIS_URL),
                      SESSION_KEY_PREFIX=prefix)
    Session(app)


def install_sessionvault(app, store):
    from sessionvault.flask import SessionVault

    app.config["SESSIONVAULT_STORE"] = store
    SessionVault(app)


@pytest.fixture(params=list(VARIANTS))
def variant(request, tmp_path):
    """(name, a function that installs the variant on an app)."""
    name = request.param
    if name == "flask-session":
        import redis

        prefix = f"lost-writes:{uuid.uuid4().hex}:"
        yield name, lambda app: install_flask_session(app, prefix)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
        return
    pytest.importorskip("sessionvault.flask", reason="sessionvault.flask is not importable")
    if name == "sessionvault-redis":
        # Database 0 unless the URL names one.
        store = REDIS_URL if "/" in REDIS_URL.split("://", 1)[1] else REDIS_URL + "/0"
    else:
        store = "sqlite:///" + str(tmp_path / "lost-writes.db")
    yield name, lambda app: install_sessionvault(app, store)


class Server:
    """The app on Werkzeug's threaded server (a thread per request), and what its routes wait
    on."""

    def __init__(self, install):
        self.gate = threading.Barrier(WRITERS, timeout=WAIT)
        self.reader_loaded = threading.Event()
        self.writer_done = threading.Event()
        app = Flask(__name__)
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        install(app)

        @app.get("/start")
        def start():
            session["started"] = True
            return ""

        @app.get("/write/<key>")
        def write(key):
            session[key] = True
            # Every writer has loaded the session before any of them saves it.
            self.gate.wait()
            return ""

        @app.get("/set/<key>")
        def set_key(key):
            session[key] = True
            return ""

        @app.get("/read-slowly")
        def read_slowly():
            started = session.get("started")
            self.reader_loaded.set()
            if not self.writer_done.wait(WAIT):
                raise RuntimeError("the writer did not finish")
            return str(started)

        @app.get("/keys")
        def keys():
            return json.dumps(sorted(session.keys()))

        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def get(self, path, cookie=None):
        """The status, body and Set-Cookie `name=value` of one request."""
        req = urllib.request.Request(self.base + path)
        if cookie:
            req.add_header("Cookie", cookie)
        with urllib.request.urlopen(req, timeout=WAIT + 10) as resp:
            set_cookie = resp.headers.get("Set-Cookie")
            return (resp.status, resp.read().decode(),
                    set_cookie.split(";", 1)[0] if set_cookie else None)

    def start_session(self):
        _, _, cookie = self.get("/start")
        assert cookie, "the session layer set no cookie"
        return cookie

    def keys(self, cookie):
        return json.loads(self.get("/keys", cookie)[1])

    def close(self):
        self.http.shutdown()
        self.thread.join()
        self.http.server_close()


@pytest.fixture
def server(variant):
    s = Server(variant[1])
    yield s
    s.close()


def test_parallel_writes_of_different_keys_are_all_kept(variant, server):
    cookie = server.start_session()
    names = [f"key{i}" for i in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(lambda k: server.get(f"/write/{k}", cookie)[0], names))
    assert statuses == [200] * WRITERS
    kept = [k for k in server.keys(cookie) if k in names]
    if VARIANTS[variant[0]]:
        # Each request saved the whole session as it loaded it plus its own key: the last
        # save wins.
        assert len(kept) == 1, f"{variant[0]} kept {len(kept)} of {WRITERS} writes"
    else:
        assert sorted(kept) == sorted(names), f"{variant[0]} kept {len(kept)} of {WRITERS}"


def test_a_read_only_request_does_not_wipe_a_concurrent_write(variant, server):
    cookie = server.start_session()
    with ThreadPoolExecutor(1) as pool:
        # Opened before the writer, answered after it.
        reader = pool.submit(server.get, "/read-slowly", cookie)
        assert server.reader_loaded.wait(WAIT)
        assert server.get("/set/written", cookie)[0] == 200
        server.writer_done.set()
        assert reader.result()[:2] == (200, "True")
    keys = server.keys(cookie)
    if VARIANTS[variant[0]]:
        # The reader saved the session as it loaded it, over the writer's change.
        assert "written" not in keys, f"{variant[0]} kept the write: {keys}"
    else:
        assert "written" in keys, f"{variant[0]} lost the write to a read-only request: {keys}"

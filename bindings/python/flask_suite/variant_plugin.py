"""A pytest plugin that runs Flask's own tests with a chosen session interface on every app.

Loaded with ``-p variant_plugin`` (this folder on ``PYTHONPATH``); see
``scripts/flask-suite.sh``. It wraps ``Flask.__init__`` so that every app the suite creates,
through its ``app`` fixture or by calling ``Flask(...)`` in a test, gets the variant's session
interface, installed the way that extension's users install it:

- ``default``: Flask's own signed-cookie sessions, untouched (the control).
- ``flask-session``: Flask-Session 0.8.0 on Redis (``Session(app)`` with ``SESSION_TYPE =
  "redis"``).
- ``sessionvault``: ``SessionVault(app)`` with ``SESSIONVAULT_STORE``.

An app whose class brings its own ``session_interface`` keeps it: those tests exercise the
interface they define, and the app was written for it. An interface a test assigns after
creating the app replaces the variant's, as it would replace any extension's.

``--variant-results PATH`` writes each test's outcome, and the first line of its failure, as
JSON for ``report.py``.
"""

import functools
import json
import os
import uuid

import pytest
from flask import Flask

VARIANTS = ("default", "flask-session", "sessionvault")


def pytest_addoption(parser):
    group = parser.getgroup("session variant")
    group.addoption("--session-variant", choices=VARIANTS, default="default",
                    help="the session interface installed on every app")
    group.addoption("--session-store", default=None,
                    help="flask-session: a redis:// URL (default $SESSIONVAULT_REDIS_URL or "
                         "redis://127.0.0.1:6379); sessionvault: its SESSIONVAULT_STORE "
                         "(default redis://127.0.0.1:6379/0)")
    group.addoption("--flask-session-config", action="append", default=[], metavar="KEY=JSON",
                    help="flask-session: a config value to set before Session(app), such as "
                         "SESSION_PERMANENT=false (repeatable)")
    group.addoption("--variant-results", default=None,
                    help="write each test's outcome here as JSON")


def _brings_own_interface(cls):
    """True when a subclass of Flask defines ``session_interface`` itself."""
    for klass in cls.__mro__:
        if klass is Flask:
            return False
        if "session_interface" in vars(klass):
            return True
    return False


class FlaskSessionVariant:
    """Flask-Session 0.8.0 on Redis; every key under one prefix per run, removed at the end."""

    def __init__(self, url, extra):
        import flask_session
        import redis

        self._session = flask_session.Session
        self.client = redis.Redis.from_url(url)
        self.client.ping()
        self.prefix = f"flask-suite:{uuid.uuid4().hex}:"
        self.extra = extra

    def install(self, app):
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=self.client,
                          SESSION_KEY_PREFIX=self.prefix, **self.extra)
        self._session(app)

    def close(self):
        keys = list(self.client.scan_iter(match=self.prefix + "*"))
        if keys:
            self.client.delete(*keys)
        self.client.close()


class SessionVaultVariant:
    """sessionvault's Flask extension, installed as its README says."""

    def __init__(self, store):
        from sessionvault.flask import SessionVault

        self._extension = SessionVault
        self.store = store

    def install(self, app):
        app.config["SESSIONVAULT_STORE"] = self.store
        self._extension(app)

    def close(self):
        pass


def _make_variant(config):
    name = config.getoption("session_variant")
    store = config.getoption("session_store")
    if name == "flask-session":
        url = store or os.environ.get("SESSIONVAULT_REDIS_URL", "redis://127.0.0.1:6379")
        extra = {}
        for item in config.getoption("flask_session_config"):
            key, sep, value = item.partition("=")
            if not sep:
                raise pytest.UsageError(f"--flask-session-config {item!r}: expected KEY=JSON")
            extra[key] = json.loads(value)
        return FlaskSessionVariant(url, extra)
    if name == "sessionvault":
        try:
            import sessionvault.flask  # noqa: F401
        except ImportError as e:
            pytest.exit(f"sessionvault variant skipped: sessionvault.flask is not importable "
                        f"({e})", returncode=0)
        return SessionVaultVariant(store or "redis://127.0.0.1:6379/0")
    return None


def _line_in_test(report):
    """The line of the test's own file where it failed (its last frame there), or None."""
    test_file = report.location[0]
    entries = getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", [])
    lines = [e.reprfileloc.lineno for e in entries
             if getattr(e, "reprfileloc", None) is not None
             and e.reprfileloc.path.endswith(test_file)]
    return lines[-1] if lines else None


class _Results:
    def __init__(self, path, variant, label):
        self.path = path
        self.variant = variant
        self.label = label
        self.outcomes = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        entry = self.outcomes.setdefault(report.nodeid,
                                         {"outcome": "passed", "message": "", "line": None})
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            crash = getattr(report.longrepr, "reprcrash", None)
            text = crash.message if crash is not None else str(report.longrepr)
            entry["message"] = (text.strip().splitlines() or [""])[0]
            entry["line"] = _line_in_test(report)
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"

    @pytest.hookimpl
    def pytest_sessionfinish(self, session):
        with open(self.path, "w") as f:
            json.dump({"variant": self.variant, "label": self.label, "tests": self.outcomes},
                      f, indent=1)


def pytest_configure(config):
    variant = _make_variant(config)
    path = config.getoption("variant_results")
    if path:
        name = config.getoption("session_variant")
        label = " ".join([name, *config.getoption("flask_session_config")])
        config.pluginmanager.register(_Results(path, name, label), "variant-results")
    if variant is None:
        return
    if config.getoption("session_variant") == "sessionvault":
        # The suite's keys ("test key", "secret") are weak: under TESTING sessionvault warns
        # instead of refusing them, and the suite's `filterwarnings = error` would turn that
        # warning into a failure of tests that are not about it.
        config.addinivalue_line(
            "filterwarnings", "ignore::sessionvault.flask.SessionVaultWarning"
        )
    original = Flask.__init__

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not _brings_own_interface(type(self)):
            variant.install(self)

    Flask.__init__ = init

    def restore():
        Flask.__init__ = original
        variant.close()

    config.add_cleanup(restore)

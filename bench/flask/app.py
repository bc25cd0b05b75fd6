"""The app of the Flask benchmark: the same two routes for every row, the session layer chosen
by the environment. Run by gunicorn as ``app:create_app()`` (see bench.py):

- ``/read`` reads one key of the session; ``/incr`` increments a counter in it. Both answer
  the counter's value.
- ``BENCH_FLASK_VARIANT``: ``bare`` (no session layer: the routes answer without touching a
  session, and no cookie is parsed), ``cookie`` (Flask's default signed cookies),
  ``flask-session`` (Flask-Session 0.8.0 on Redis) or ``sessionvault`` (its extension).
- ``BENCH_FLASK_STORE``: the Redis URL for ``flask-session``, or ``SESSIONVAULT_STORE`` for
  ``sessionvault`` (``redis://...`` or ``sqlite:////absolute/path.db``).
- ``BENCH_FLASK_SECRET``: ``SECRET_KEY``, the same in every worker.
"""

import os

from flask import Flask, session
from flask.sessions import SessionInterface


class NoSessions(SessionInterface):
    """No session at all: Flask gives the request a null session and saves nothing."""

    def open_session(self, app, request):
        return None


def install(app, variant, store):
    if variant == "bare":
        app.session_interface = NoSessions()
    elif variant == "cookie":
        pass
    elif variant == "flask-session":
        import redis
        from flask_session import Session

        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(store))
        Session(app)
    elif variant == "sessionvault":
        from sessionvault.flask import SessionVault

        app.config["SESSIONVAULT_STORE"] = store
        SessionVault(app)
    else:
        raise ValueError(f"unknown BENCH_FLASK_VARIANT {variant!r}")


def create_app():
    variant = os.environ["BENCH_FLASK_VARIANT"]
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["BENCH_FLASK_SECRET"]
    install(app, variant, os.environ.get("BENCH_FLASK_STORE", ""))

    if variant == "bare":
        @app.get("/read")
        def read():
            return "0"

        @app.get("/incr")
        def incr():
            return "0"
    else:
        @app.get("/read")
        def read():
            return str(session.get("n", 0))

        @app.get("/incr")
        def incr():
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

    return app

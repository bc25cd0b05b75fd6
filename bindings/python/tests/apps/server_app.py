"""The app the server tests run under gunicorn, waitress and Werkzeug's server.

Configured from the environment: SV_STORE (the store URL), SV_SECRET, and SV_WARM=1 to use
the store at import (so that with gunicorn --preload the master has a runtime and an open
store before it forks the workers, which must then make their own).
"""

import os
import time

from flask import Flask, jsonify, request, session

from sessionvault.flask import SessionVault, sessions_for_user, update

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ["SV_SECRET"],
    SESSIONVAULT_STORE=os.environ["SV_STORE"],
    # Plain HTTP on 127.0.0.1 in the tests: no Secure, so no __Host- prefix.
    SESSION_COOKIE_SECURE=False,
)
SessionVault(app)

if os.environ.get("SV_WARM") == "1":
    with app.app_context():
        sessions_for_user("nobody")


@app.get("/pid")
def pid():
    return str(os.getpid())


@app.get("/set")
def set_key():
    session[request.args["key"]] = request.args["value"]
    return "ok"


@app.get("/get")
def get_key():
    # `hold` keeps the worker busy, so that concurrent requests reach different workers.
    time.sleep(float(request.args.get("hold", "0")))
    return jsonify(value=session.get(request.args["key"]), pid=os.getpid())


@app.get("/all")
def all_keys():
    return jsonify(dict(session))


@app.get("/incr")
def incr():
    return str(update("n", lambda n: (n or 0) + 1))

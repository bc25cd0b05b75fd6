"""The same routes on Flask-Session 0.8.0 with Redis: the baseline of the concurrency test,
and the source of the migration test's sessions."""

import os

import redis
from flask import Flask, jsonify, request, session
from flask_session import Session

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ["SV_SECRET"],
    SESSION_TYPE="redis",
    SESSION_REDIS=redis.Redis.from_url(os.environ["SV_REDIS"]),
    SESSION_KEY_PREFIX=os.environ.get("SV_PREFIX", "session:"),
)
Session(app)


@app.get("/set")
def set_key():
    session[request.args["key"]] = request.args["value"]
    return "ok"


@app.get("/all")
def all_keys():
    return jsonify(dict(session))

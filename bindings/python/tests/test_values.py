"""Values: Flask's tagged JSON, in Rust, both ways; anything else refused."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from flask import session
from flask.json.tag import TaggedJSONSerializer
from markupsafe import Markup

NOW = datetime.now(timezone.utc).replace(microsecond=0)
THE_UUID = uuid.uuid4()
VALUES = {
    "t": (1, 2, (3, "x")),
    "b": b"\xff\x00",
    "m": Markup("<em>safe</em>"),
    "u": THE_UUID,
    "d": NOW,
    "nested": {"list": [1, 2.5, None, True], "tuple": (b"a",)},
    "t_tag": {" t": "not-a-tuple"},
    "di_t_tag": {" t__": "not-a-tuple"},
    "di_tag": {" di": "not-a-dict"},
    "big": 2**63 + 5,
    "unicode": "héllo ✓ \U0001f600",
}


def test_every_tagged_type_round_trips_exactly(make_app, tmp_path):
    app = make_app(SESSIONVAULT_STORE="sqlite:///v.db")

    @app.get("/set")
    def set_():
        session.update(VALUES)
        return ""

    @app.get("/check")
    def check():
        for key, value in VALUES.items():
            assert session[key] == value, key
            assert type(session[key]) is type(value), key
        assert type(session["nested"]["tuple"][0]) is bytes
        return "ok"

    client = app.test_client()
    client.get("/set")
    assert client.get("/check").text == "ok"

    # In the store, each value is exactly what Flask's own serializer would put in a cookie.
    with sqlite3.connect(tmp_path / "instance" / "v.db") as conn:
        (record,) = conn.execute("SELECT compact_record FROM sessionvault_sessions").fetchone()
    # The record's compact encoding holds the data under "d".
    stored = json.loads(bytes(record))["d"]
    flask_form = json.loads(TaggedJSONSerializer().dumps(VALUES))
    assert stored == flask_form


@pytest.mark.parametrize(
    "value", [Decimal("1.5"), {1: "int key"}, object(), float("nan"), 2**70, {"s": {1, 2}}]
)
def test_other_values_are_a_type_error_naming_the_key(app, value):
    @app.get("/")
    def index():
        session["the_key"] = value
        return ""

    app.config["TESTING"] = True
    with pytest.raises(TypeError, match="'the_key'|\"the_key\""):
        app.test_client().get("/")


def test_a_refused_value_saves_nothing(app):
    @app.get("/bad")
    def bad():
        session["good"] = 1
        session["bad"] = object()
        return ""

    @app.get("/get")
    def get():
        return str(session.get("good"))

    app.config["TESTING"] = True
    client = app.test_client()
    with pytest.raises(TypeError):
        client.get("/bad")
    assert client.get("/get").text == "None"

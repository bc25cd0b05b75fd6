"""The example app (examples/app.py) through Flask's test client: CSRF-protected sign-in,
the devices page, one device signed out, sign out everywhere, and its key file."""

from __future__ import annotations

import importlib.util
import re
import stat
from pathlib import Path

import pytest

pytest.importorskip("flask_wtf")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
BASE = "https://localhost"


@pytest.fixture
def example(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SESSIONVAULT_EXAMPLE_INSTANCE", str(tmp_path / "i"))
    spec = importlib.util.spec_from_file_location("sv_example_app", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def browser(app):
    """A test client that sends the Referer a browser would: Flask-WTF checks it on HTTPS."""
    client = app.test_client()
    client.environ_base["HTTP_REFERER"] = BASE + "/"
    return client


def sign_in(client, user="alice", password="correct horse battery staple", agent="laptop"):
    page = client.get("/login", base_url=BASE, headers={"User-Agent": agent}).text
    return client.post(
        "/login",
        base_url=BASE,
        headers={"User-Agent": agent},
        data={"csrf_token": csrf(page), "username": user, "password": password},
    )


def test_the_key_is_generated_once_into_an_owner_only_file(example, tmp_path):
    key_file = tmp_path / "i" / "secret.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    assert example.create_app().secret_key == key


def test_sign_in_needs_the_csrf_token(example):
    app = example.create_app()
    client = browser(app)
    client.get("/login", base_url=BASE)
    refused = client.post(
        "/login",
        base_url=BASE,
        data={"username": "alice", "password": "correct horse battery staple"},
    )
    assert refused.status_code == 400


def test_sign_in_devices_sign_one_out_and_everywhere(example):
    app = example.create_app()
    laptop, phone = browser(app), browser(app)
    assert sign_in(laptop, agent="laptop").status_code == 302
    assert sign_in(phone, agent="phone").status_code == 302

    page = laptop.get("/devices", base_url=BASE, headers={"User-Agent": "laptop"}).text
    assert "laptop" in page and "phone" in page
    handle = re.search(r'name="handle" value="([^"]+)"', page).group(1)
    gone = laptop.post(
        "/devices/revoke",
        base_url=BASE,
        headers={"User-Agent": "laptop"},
        data={"csrf_token": csrf(page), "handle": handle},
    )
    assert gone.status_code == 302
    assert phone.get("/devices", base_url=BASE).status_code == 302  # to the sign-in page
    assert laptop.get("/devices", base_url=BASE).status_code == 200

    sign_in(phone, agent="phone")
    page = laptop.get("/devices", base_url=BASE).text
    everywhere = laptop.post(
        "/devices/revoke-all", base_url=BASE, data={"csrf_token": csrf(page)}
    )
    assert everywhere.status_code == 302
    assert laptop.get("/devices", base_url=BASE).status_code == 302
    assert phone.get("/devices", base_url=BASE).status_code == 302


def test_wrong_password_is_refused(example):
    client = browser(example.create_app())
    response = sign_in(client, password="wrong")
    assert response.status_code == 200
    assert "Wrong username or password." in response.text
    assert client.get("/devices", base_url=BASE).status_code == 302

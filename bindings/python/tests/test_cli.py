"""`flask sessionvault audit`, `sessions` and `revoke`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import session

from sessionvault import flask as sv

TESTS = Path(__file__).resolve().parent

PUBLISHED = b'_5#y2L"F4Q8z\n\xec]/'  # Flask's quickstart
LONG_PUBLISHED = "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET"  # long enough, but a shipped default


def audit(app, *args):
    return app.test_cli_runner().invoke(args=["sessionvault", "audit", *args])


def test_a_correct_app_passes(make_app):
    result = audit(make_app())
    assert result.exit_code == 0, result.output
    # A factory-made app cannot be imported again: said, not failed.
    assert result.output.splitlines() == [
        "INFO SECRET_KEY: restart check skipped: run with --app so the app can be imported again"
    ]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("dev", "HIGH SECRET_KEY: weak secret: it is a publicly known key (Flask tutorial"),
        (PUBLISHED, "HIGH SECRET_KEY: weak secret: it is a publicly known key (Flask quickstart"),
        (LONG_PUBLISHED, "HIGH SECRET_KEY: weak secret: it is a publicly known key (Apache"),
        ("short", "HIGH SECRET_KEY: weak secret: 5 bytes long"),
    ],
)
def test_a_weak_or_published_key_is_a_high_finding(make_app, key, expected):
    result = audit(make_app(SECRET_KEY=key, TESTING=True), "--skip-restart-check")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    if isinstance(key, str) and key != "dev":
        assert key not in result.output


def test_a_weak_fallback_is_found(make_app):
    result = audit(make_app(SECRET_KEY_FALLBACKS=["changeme"]), "--skip-restart-check")
    assert result.exit_code == 1
    assert result.output.startswith("HIGH SECRET_KEY_FALLBACKS: weak secret")


def test_no_key_is_a_high_finding(make_app):
    result = audit(make_app(SECRET_KEY=None), "--skip-restart-check")
    assert result.exit_code == 1
    assert "HIGH SECRET_KEY: not set" in result.output


def test_each_cookie_flag_off_is_one_line(make_app):
    app = make_app(
        SESSION_COOKIE_SECURE=False, SESSION_COOKIE_HTTPONLY=False, SESSION_COOKIE_SAMESITE=None
    )
    result = audit(app, "--skip-restart-check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "HIGH SESSION_COOKIE_SECURE: off: the cookie is sent over plain HTTP",
        "HIGH SESSION_COOKIE_HTTPONLY: off: page scripts (and XSS) can read it",
        "MEDIUM SESSION_COOKIE_SAMESITE: None: cross-site requests carry the cookie (set 'Lax')",
    ]


def test_samesite_off_alone_is_reported_but_does_not_fail(make_app):
    result = audit(make_app(SESSION_COOKIE_SAMESITE=None), "--skip-restart-check")
    assert result.exit_code == 0
    assert result.output.startswith("MEDIUM SESSION_COOKIE_SAMESITE")


def flask_audit(app_file: str, **env):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", app_file, "sessionvault", "audit"],
        cwd=TESTS / "apps",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_key_generated_at_import_is_found_by_importing_the_app_again():
    done = flask_audit("audit_random_key.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "HIGH SECRET_KEY: differs between two imports of the app (generated at import?): "
        "every restart and every other worker rejects the sessions; load it from the "
        "environment or a file"
    ]


def test_a_key_from_the_environment_passes_the_restart_check(secret):
    done = flask_audit("audit_env_key.py", AUDIT_APP_SECRET_KEY=secret)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok: no findings"
    assert secret not in done.stdout + done.stderr


def signed_in(app, user, agent):
    @app.post("/login/<user>")
    def login(user):
        sv.login(user)
        session["x"] = 1
        return ""

    client = app.test_client()
    client.post(f"/login/{user}", base_url="https://localhost", headers={"User-Agent": agent})
    return client


def test_sessions_lists_devices_without_ids_and_revoke_ends_them(make_app):
    app = make_app()
    client = signed_in(app, "alice", "Firefox on Linux")
    cookie = client.get_cookie("__Host-session").value
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["sessionvault", "sessions", "alice"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Firefox on Linux | ")
    assert "last seen " in lines[0] and "created " in lines[0]
    assert cookie not in listed.output
    with app.app_context():
        handle = sv.sessions_for_user("alice")[0]["handle"]
    assert handle not in listed.output

    revoked = runner.invoke(args=["sessionvault", "revoke", "alice"])
    assert revoked.exit_code == 0
    assert revoked.output == "ended 1 session of alice\n"
    again = runner.invoke(args=["sessionvault", "sessions", "alice"])
    assert again.output == "no live sessions for alice\n"


def test_sessions_without_a_key_is_a_one_line_error(make_app):
    result = make_app(SECRET_KEY=None).test_cli_runner().invoke(
        args=["sessionvault", "sessions", "alice"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: SECRET_KEY is not set"

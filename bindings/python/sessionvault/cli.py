"""``flask sessionvault``: audit the app's session configuration, list and end a user's
sessions. Registered on ``app.cli`` by ``SessionVault(app)``. See docs/FLASK.md."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from . import _native

#: The environment variable that carries the audit's one-time fingerprint key to the copy of
#: the app it imports again.
_NONCE_ENV = "SESSIONVAULT_AUDIT_NONCE"


@dataclass(frozen=True)
class Finding:
    """One problem: ``severity`` is ``high`` (the audit fails), ``medium`` or ``info``."""

    severity: str
    setting: str
    message: str

    def line(self) -> str:
        return f"{self.severity.upper()} {self.setting}: {self.message}"


@click.group("sessionvault")
def sessionvault_command() -> None:
    """sessionvault: check the session configuration, list and end a user's sessions."""


def _key_bytes(key: Any) -> bytes | None:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    return None


def _fingerprint(key: bytes, nonce: bytes) -> str:
    """A keyed fingerprint: equal keys give equal fingerprints under one nonce, and the
    fingerprint tells nothing about the key (the nonce is fresh for every audit)."""
    return hmac.new(nonce, key, hashlib.sha256).hexdigest()


def key_findings(app: Any) -> list[Finding]:
    """``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` through the keyring's own checks (length,
    variety, the published keys it knows)."""
    secret = _key_bytes(app.secret_key)
    if secret is None:
        return [Finding("high", "SECRET_KEY", "not set (or not str/bytes): sessions are off")]
    fallbacks_raw = app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks_raw, (str, bytes)):
        return [Finding("high", "SECRET_KEY_FALLBACKS", "must be a list of keys, not one key")]
    fallbacks = [_key_bytes(k) for k in reversed(list(fallbacks_raw))]
    if any(k is None for k in fallbacks):
        return [Finding("high", "SECRET_KEY_FALLBACKS", "every key must be str or bytes")]
    found = []
    problem = _native.keyring_problem(secret, [])
    if problem is not None:
        found.append(Finding("high", "SECRET_KEY", problem))
    for fallback in fallbacks:
        problem = _native.keyring_problem(fallback, [])
        if problem is not None:
            found.append(Finding("high", "SECRET_KEY_FALLBACKS", problem))
    return found


def cookie_findings(app: Any) -> list[Finding]:
    """The session cookie's flags (and Flask-Login's remember cookie's, when it is used)."""
    config = app.config
    found = []
    if not config.get("SESSION_COOKIE_SECURE"):
        found.append(
            Finding("high", "SESSION_COOKIE_SECURE", "off: the cookie is sent over plain HTTP")
        )
    if not config.get("SESSION_COOKIE_HTTPONLY", True):
        found.append(
            Finding("high", "SESSION_COOKIE_HTTPONLY", "off: page scripts (and XSS) can read it")
        )
    samesite = config.get("SESSION_COOKIE_SAMESITE")
    if samesite is None or str(samesite).title() == "None":
        found.append(
            Finding(
                "medium",
                "SESSION_COOKIE_SAMESITE",
                f"{samesite!r}: cross-site requests carry the cookie (set 'Lax')",
            )
        )
    if hasattr(app, "login_manager"):
        if not config.get("REMEMBER_COOKIE_SECURE", False):
            found.append(
                Finding(
                    "medium",
                    "REMEMBER_COOKIE_SECURE",
                    "off: Flask-Login's remember cookie is sent over plain HTTP",
                )
            )
        if not config.get("REMEMBER_COOKIE_HTTPONLY", True):
            found.append(
                Finding("high", "REMEMBER_COOKIE_HTTPONLY", "off: page scripts can read it")
            )
    return found


def _reimport_command(info: ScriptInfo | None) -> list[str] | None:
    """The command that imports this app afresh in a new process, or ``None`` when the app
    came from a factory object this process holds (a test runner, a custom ``FlaskGroup``)."""
    if info is not None and info.create_app is not None and info.app_import_path is None:
        return None
    command = [sys.executable, "-m", "flask"]
    if info is not None and info.app_import_path:
        command += ["--app", info.app_import_path]
    return command + ["sessionvault", "fingerprint"]


def restart_findings(app: Any, info: ScriptInfo | None) -> list[Finding]:
    """Imports the app again in a new process (as a restart or another worker does) and
    compares a keyed fingerprint of its ``SECRET_KEY`` with this one's; the key itself is
    never printed or passed around."""
    secret = _key_bytes(app.secret_key)
    if secret is None:
        return []
    command = _reimport_command(info)
    if command is None:
        return [
            Finding(
                "info",
                "SECRET_KEY",
                "restart check skipped: run with --app so the app can be imported again",
            )
        ]
    nonce = secrets.token_bytes(32)
    env = dict(os.environ, **{_NONCE_ENV: nonce.hex()})
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return [Finding("high", "SECRET_KEY", f"could not import the app again: {error}")]
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [Finding("high", "SECRET_KEY", f"could not import the app again: {reason}")]
    if not hmac.compare_digest(lines[-1], _fingerprint(secret, nonce)):
        return [
            Finding(
                "high",
                "SECRET_KEY",
                "differs between two imports of the app (generated at import?): every "
                "restart and every other worker rejects the sessions; load it from the "
                "environment or a file",
            )
        ]
    return []


@sessionvault_command.command("audit")
@click.option(
    "--skip-restart-check",
    is_flag=True,
    help="Do not import the app again to compare its SECRET_KEY across processes.",
)
@with_appcontext
def audit(skip_restart_check: bool) -> None:
    """Checks SECRET_KEY and the cookie settings; exits with 1 on a high finding."""
    app = current_app._get_current_object()
    findings = key_findings(app) + cookie_findings(app)
    if not skip_restart_check:
        info = click.get_current_context().find_object(ScriptInfo)
        findings += restart_findings(app, info)
    for finding in findings:
        click.echo(finding.line())
    if any(f.severity == "high" for f in findings):
        raise SystemExit(1)
    if not findings:
        click.echo("ok: no findings")


@sessionvault_command.command("fingerprint", hidden=True)
@with_appcontext
def fingerprint() -> None:
    """Prints a keyed fingerprint of SECRET_KEY under the audit's one-time key."""
    nonce_hex = os.environ.get(_NONCE_ENV, "")
    try:
        nonce = bytes.fromhex(nonce_hex)
    except ValueError:
        nonce = b""
    if len(nonce) < 16:
        raise click.UsageError(f"{_NONCE_ENV} must hold the audit's hex key")
    secret = _key_bytes(current_app.secret_key)
    if secret is None:
        raise click.ClickException("SECRET_KEY is not set")
    click.echo(_fingerprint(secret, nonce))


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


@sessionvault_command.command("sessions")
@click.argument("user")
@with_appcontext
def sessions(user: str) -> None:
    """Lists USER's live sessions: device, network, last seen, created."""
    from .flask import sessions_for_user

    found = _call(sessions_for_user, user)
    if not found:
        click.echo(f"no live sessions for {user}")
        return
    for info in found:
        device = info.get("user_agent") or "unknown device"
        network = info.get("ip") or "-"
        click.echo(
            f"{device} | {network} | last seen {_when(info.get('last_seen'))} | "
            f"created {_when(info.get('created'))}"
        )


@sessionvault_command.command("revoke")
@click.argument("user")
@with_appcontext
def revoke(user: str) -> None:
    """Ends every session of USER (remember-me included)."""
    from .flask import revoke_all_for_user

    count = _call(revoke_all_for_user, user)
    click.echo(f"ended {count} session{'s' if count != 1 else ''} of {user}")


def _call(function: Any, *args: Any) -> Any:
    from .errors import SessionVaultError

    try:
        return function(*args)
    except (SessionVaultError, RuntimeError) as error:
        raise click.ClickException(str(error)) from None

"""Flask-Login on sessionvault, connected by ``SessionVault(app)`` when Flask-Login is installed.

* ``user_logged_in``: a new session ID and the user bound to the session (the fixation
  defence Flask-Login lacks), with no change to the app's code.
* ``user_logged_out``: the session ends (a tombstone in the store), not just its keys.
* Remember-me is a long-lived server-side session of its own: the ``remember_token`` cookie
  holds a random session ID instead of ``"<user id>|" + HMAC(SECRET_KEY)``, so the store is
  asked on every use. :func:`sessionvault.flask.revoke_all_for_user`, signing out, a device's
  revocation and the store's expiry all end it; Flask-Login's own stateless tokens are
  refused (they cannot be revoked), and their cookie cleared.

Flask-Login keeps the remember cookie in three private methods of ``LoginManager``; they are
replaced on the class, and fall back to Flask-Login's own code for apps without sessionvault.
Written against Flask-Login 0.6.3. See docs/FLASK.md, "Flask-Login".
"""

from __future__ import annotations

import os
import threading
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, current_app, g, has_request_context, request, session

from . import _native
from .errors import SessionVaultError

try:
    import flask_login
    from flask_login import signals as _login_signals
except ImportError:  # pragma: no cover - Flask-Login is optional
    flask_login = None

#: Flask-Login's defaults (flask_login/config.py).
_COOKIE_NAME = "remember_token"
_COOKIE_DURATION = timedelta(days=365)

_lock = threading.Lock()
_installed = False
_originals: dict[str, Any] = {}


def _after_fork_in_child() -> None:
    # Another thread may have held the lock when the process forked.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def install(app: Flask) -> None:
    """Connects Flask-Login's signals and takes over its remember cookie (once per process;
    apps without sessionvault keep Flask-Login's behaviour). ``REMEMBER_COOKIE_SECURE`` and
    ``REMEMBER_COOKIE_SAMESITE`` default to ``True`` and ``"Lax"`` on ``app``."""
    global _installed
    if flask_login is None:
        return
    # The remember cookie is a session cookie too: sessionvault's secure defaults for it.
    app.config.setdefault("REMEMBER_COOKIE_SECURE", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    with _lock:
        if _installed:
            return
        manager_class = flask_login.LoginManager
        for name in ("_set_cookie", "_clear_cookie", "_load_user_from_remember_cookie"):
            _originals[name] = getattr(manager_class, name)
        manager_class._set_cookie = _set_cookie
        manager_class._clear_cookie = _clear_cookie
        manager_class._load_user_from_remember_cookie = _load_user_from_remember_cookie
        _login_signals.user_logged_in.connect(_on_logged_in, weak=False)
        _login_signals.user_loaded_from_cookie.connect(_on_loaded_from_cookie, weak=False)
        _login_signals.user_logged_out.connect(_on_logged_out, weak=False)
        _login_signals.session_protected.connect(_on_session_protected, weak=False)
        _installed = True


def _uses_vault(app: Any) -> bool:
    from .flask import SessionVaultInterface

    return (
        "sessionvault" in app.extensions
        and isinstance(app.session_interface, SessionVaultInterface)
        and bool(app.secret_key)
    )


# The session: a new ID on sign-in, the end of it on sign-out.


def _user_id_of(user: Any) -> str | None:
    get_id = getattr(user, "get_id", None)
    user_id = get_id() if callable(get_id) else None
    return None if user_id is None else str(user_id)


def _on_logged_in(app: Any, user: Any = None, **_: Any) -> None:
    if not (_uses_vault(app) and has_request_context()):
        return
    user_id = _user_id_of(user)
    if user_id is not None:
        from .flask import login

        login(user_id)
        _forget_csrf_token(app)


def _forget_csrf_token(app: Any) -> None:
    """Flask-WTF's CSRF secret lives in the session: one known before sign-in (a planted
    session's) must not be valid after it, so a new one is made on next use."""
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)


def _on_loaded_from_cookie(app: Any, user: Any = None, **_: Any) -> None:
    # A browser coming back with its remember cookie signs in again: a new session ID too.
    _on_logged_in(app, user)


def _end_session_keeping_remember() -> None:
    """Ends the session; Flask-Login's note to clear the remember cookie survives into the
    new one, so its after-request hook still clears the cookie."""
    from .flask import logout

    remember = session.get("_remember")
    logout()
    if remember is not None:
        session["_remember"] = remember


def _on_logged_out(app: Any, **_: Any) -> None:
    if _uses_vault(app) and has_request_context():
        _end_session_keeping_remember()


def _on_session_protected(app: Any, **_: Any) -> None:
    # "strong" protection dropped the user's keys from a signed-in session: the session is
    # ended, not just emptied ("basic" only marks it not fresh, and keeps it).
    if not (_uses_vault(app) and has_request_context()) or "_user_id" in session:
        return
    from .flask import current_user_id

    if current_user_id() is not None:
        _end_session_keeping_remember()


# Remember-me as a server-side session.


def _remember_config(app: Flask) -> dict[str, Any]:
    config = app.config
    return {
        "name": config.get("REMEMBER_COOKIE_NAME", _COOKIE_NAME),
        "domain": config.get("REMEMBER_COOKIE_DOMAIN"),
        "path": config.get("REMEMBER_COOKIE_PATH", "/"),
        "secure": bool(config.get("REMEMBER_COOKIE_SECURE", False)),
        "httponly": bool(config.get("REMEMBER_COOKIE_HTTPONLY", True)),
        "samesite": config.get("REMEMBER_COOKIE_SAMESITE"),
    }


def _seconds(duration: Any) -> float:
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        return float(duration)
    raise SessionVaultError(
        f"REMEMBER_COOKIE_DURATION must be seconds or a timedelta, not {duration!r}"
    )


#: Per configuration (dropped with it) and process: lifetime -> remember engine.
_managers: weakref.WeakKeyDictionary[Any, dict[tuple[int, float], Any]] = (
    weakref.WeakKeyDictionary()
)


def _remember_manager(app: Flask, seconds: float) -> Any:
    """The engine for remember sessions: the app's store and keyring, one lifetime
    (``REMEMBER_COOKIE_DURATION`` or ``login_user(duration=...)``) as both idle and absolute
    timeout, so the store enforces what the cookie's expiry only asks of the browser."""
    settings = app.session_interface.settings(app)
    key = (os.getpid(), seconds)
    manager = _managers.get(settings, {}).get(key)
    if manager is None:
        with _lock:
            built = _managers.setdefault(settings, {})
            manager = built.get(key)
            if manager is None:
                if len(built) > 64:
                    built.clear()
                store = settings.interface._store(settings.store_url)
                manager, _ = _native.Manager.build(
                    store,
                    settings.secret,
                    settings.fallbacks,
                    allow_weak=settings.allow_weak,
                    mode="server",
                    idle_timeout=seconds,
                    absolute_timeout=seconds,
                    cookie_name=_remember_config(app)["name"],
                    secure=settings.secure,
                    same_site=settings.samesite,
                    legacy_max_age=0,
                )
                built[key] = manager
    return manager


def _default_seconds(app: Flask) -> float:
    return _seconds(app.config.get("REMEMBER_COOKIE_DURATION", _COOKIE_DURATION))


def _open(manager: Any, cookie: str | None) -> Any:
    return manager.session(
        cookie, None, request.headers.get("User-Agent"), request.remote_addr
    )


def _remembered_user(app: Flask, cookie: str) -> str | None:
    """The user a live remember session belongs to; ``None`` for anything else (ended,
    expired, forged, or Flask-Login's own unrevocable ``id|HMAC`` token)."""
    if "|" in cookie:
        return None
    handle = _open(_remember_manager(app, _default_seconds(app)), cookie)
    _, new, _ = handle.load()
    return None if new else handle.user()


def _end_remembered(app: Flask, cookie: str | None) -> None:
    if cookie and "|" not in cookie:
        handle = _open(_remember_manager(app, _default_seconds(app)), cookie)
        _, new, _ = handle.load()
        if not new:
            handle.logout()


def _set_cookie(self: Any, response: Any) -> None:
    app = current_app._get_current_object()
    if not _uses_vault(app):
        return _originals["_set_cookie"](self, response)
    config = _remember_config(app)
    user_id = str(session["_user_id"])
    if "_remember_seconds" in session:
        seconds = _seconds(session["_remember_seconds"])
    else:
        seconds = _default_seconds(app)
    incoming = request.cookies.get(config["name"])
    value = None
    if incoming and _remembered_user(app, incoming) == user_id:
        # REMEMBER_COOKIE_REFRESH_EACH_REQUEST: the same session, the cookie sent again.
        value = incoming
    else:
        _end_remembered(app, incoming)
        handle = _open(_remember_manager(app, seconds), None)
        handle.load()
        handle.login(user_id)
        action, value = handle.commit()
        if action != "set" or not value:
            raise SessionVaultError("the remember-me session was not saved")
    expires = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    response.set_cookie(
        config["name"],
        value=value,
        expires=expires,
        domain=config["domain"],
        path=config["path"],
        secure=config["secure"],
        httponly=config["httponly"],
        samesite=config["samesite"],
    )


def _clear_cookie(self: Any, response: Any) -> None:
    app = current_app._get_current_object()
    if _uses_vault(app):
        _end_remembered(app, request.cookies.get(_remember_config(app)["name"]))
    return _originals["_clear_cookie"](self, response)


def _load_user_from_remember_cookie(self: Any, cookie: str) -> Any:
    app = current_app._get_current_object()
    if not _uses_vault(app):
        return _originals["_load_user_from_remember_cookie"](self, cookie)
    user_id = _remembered_user(app, cookie)
    if user_id is None:
        # Dead or unrevocable: Flask-Login's after-request hook clears the cookie.
        session["_remember"] = "clear"
        return None
    session["_user_id"] = user_id
    session["_fresh"] = False
    session["_id"] = self._session_identifier_generator()
    user = self._user_callback(user_id) if self._user_callback else None
    if user is None:
        return None
    flask_login.user_loaded_from_cookie.send(app, user=user)
    return user

"""Server-side Flask sessions on the sessionvault engine.

::

    from flask import Flask, session
    from sessionvault.flask import SessionVault

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "..."
    SessionVault(app)

``flask.session`` then behaves as Flask users expect (a dict, ``permanent``, ``modified``,
``new``), but the cookie holds only a random ID: the data lives in the store
(``SESSIONVAULT_STORE``, by default a SQLite file in the app's instance folder), filed under a
keyed hash of the ID. Only the keys a request changed are saved, merged with concurrent
requests' writes, so no write is lost and a read-only request writes nothing. See
docs/FLASK.md for every setting and how it behaves.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from blinker import Namespace
from flask import Flask, current_app, has_request_context
from flask.globals import request_ctx
from flask.sessions import SessionInterface, SessionMixin

from . import _native
from .errors import ConfigError, SessionVaultError

if TYPE_CHECKING:
    from flask.wrappers import Request, Response

__all__ = [
    "SessionVault",
    "SessionVaultInterface",
    "VaultSession",
    "auth_age",
    "current_user_id",
    "devices",
    "logged_in",
    "logged_out",
    "login",
    "logout",
    "regenerate",
    "revoke_all_for_user",
    "revoke_device",
    "revoke_others",
    "session_regenerated",
    "sessions_for_user",
    "update",
]

#: Keys the engine keeps for itself: hidden from ``len``, iteration and lookups.
INTERNAL_KEYS = frozenset(_native.INTERNAL_KEYS)

_signals = Namespace()
#: Sent with the app and ``user_id`` after :func:`login`.
logged_in = _signals.signal("sessionvault-logged-in")
#: Sent with the app after :func:`logout`.
logged_out = _signals.signal("sessionvault-logged-out")
#: Sent with the app after :func:`regenerate` (and ``session.regenerate()``).
session_regenerated = _signals.signal("sessionvault-session-regenerated")

#: The secure defaults that replace Flask's own when the app has not changed them.
_SECURE_DEFAULTS = {
    "SESSION_COOKIE_SECURE": (False, True),
    "SESSION_COOKIE_SAMESITE": (None, "Lax"),
}

#: sessionvault's own keys and their defaults.
_DEFAULTS: dict[str, Any] = {
    "SESSIONVAULT_STORE": None,
    "SESSIONVAULT_COOKIE_MODE": "server",
    "SESSIONVAULT_IDLE_TIMEOUT": timedelta(minutes=30),
    "SESSIONVAULT_ABSOLUTE_TIMEOUT": timedelta(hours=12),
    "SESSIONVAULT_MIGRATE_FLASK_SESSION": None,
    "SESSIONVAULT_MIGRATE_FLASK_SESSION_PREFIX": "session:",
}

_DEFAULT_SQLITE_FILE = "sessionvault.sqlite3"


class SessionVault:
    """The extension: ``SessionVault(app)``, or ``SessionVault()`` then ``init_app(app)``.

    Installing it replaces ``app.session_interface``. Nothing is opened here: the
    configuration is read when requests are handled, so ``SECRET_KEY`` and the cookie
    settings may be set after this call.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Installs sessionvault's session interface on ``app``.

        Keys that still hold Flask's insecure defaults get sessionvault's:
        ``SESSION_COOKIE_SECURE = True`` and ``SESSION_COOKIE_SAMESITE = "Lax"``. Whatever the
        app sets afterwards is used as written.
        """
        for key, (flask_default, secure) in _SECURE_DEFAULTS.items():
            if key not in app.config or app.config[key] == flask_default:
                app.config[key] = secure
        for key, default in _DEFAULTS.items():
            app.config.setdefault(key, default)
        app.session_interface = SessionVaultInterface()
        app.extensions["sessionvault"] = self
        from . import _login, cli

        _login.install(app)
        app.cli.add_command(cli.sessionvault_command)


class _Settings:
    """One configuration of an app, and the engine built from it (per process)."""

    def __init__(self, interface: SessionVaultInterface, app: Flask) -> None:
        config = app.config
        self.interface = interface
        self.secret = _key_bytes(app.secret_key, "SECRET_KEY")
        fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
        if isinstance(fallbacks, (str, bytes)):
            raise ConfigError("SECRET_KEY_FALLBACKS must be a list of keys, not one key")
        # Flask lists fallbacks oldest first and signs with SECRET_KEY; the engine wants the
        # verifying keys newest first.
        self.fallbacks = [_key_bytes(k, "SECRET_KEY_FALLBACKS") for k in reversed(fallbacks)]
        self.allow_weak = bool(app.testing or app.debug)
        problem = _native.keyring_problem(self.secret, self.fallbacks)
        if problem is not None:
            if not self.allow_weak:
                raise _weak(problem)
            # Once per key and process: the configuration is re-read whenever it changes.
            fingerprint = hashlib.sha256(b"\0".join([self.secret, *self.fallbacks])).digest()
            if fingerprint not in _WARNED:
                _WARNED.add(fingerprint)
                message = (
                    f"sessionvault: SECRET_KEY is not safe for production: {problem} "
                    "(accepted only because TESTING or DEBUG is on)"
                )
                warnings.warn(message, SessionVaultWarning, stacklevel=2)
                app.logger.warning(message)

        self.store_url = _store_url(app, config.get("SESSIONVAULT_STORE"))
        mode = config.get("SESSIONVAULT_COOKIE_MODE") or "server"
        if mode not in ("server", "sealed"):
            raise ConfigError(
                f"SESSIONVAULT_COOKIE_MODE must be 'server' or 'sealed', not {mode!r}"
            )
        self.mode = mode
        self.idle = _seconds(config.get("SESSIONVAULT_IDLE_TIMEOUT"), "SESSIONVAULT_IDLE_TIMEOUT")
        self.absolute = _seconds(
            config.get("SESSIONVAULT_ABSOLUTE_TIMEOUT"), "SESSIONVAULT_ABSOLUTE_TIMEOUT"
        )

        self.domain = interface.get_cookie_domain(app)
        self.path = interface.get_cookie_path(app)
        self.secure = bool(interface.get_cookie_secure(app))
        self.httponly = bool(interface.get_cookie_httponly(app))
        self.partitioned = bool(interface.get_cookie_partitioned(app))
        samesite = interface.get_cookie_samesite(app)
        if samesite is not None:
            if not isinstance(samesite, str) or samesite.title() not in ("Strict", "Lax", "None"):
                raise ConfigError(
                    f"SESSION_COOKIE_SAMESITE must be 'Strict', 'Lax', 'None' or None, "
                    f"not {samesite!r}"
                )
            samesite = samesite.title()
            if samesite == "None" and not self.secure:
                raise ConfigError(
                    "SESSION_COOKIE_SAMESITE = 'None' needs SESSION_COOKIE_SECURE = True: "
                    "browsers drop such a cookie without Secure"
                )
        self.samesite = samesite
        #: The name Flask's configuration gives, where a legacy Flask cookie is found.
        self.flask_name = interface.get_cookie_name(app)
        self.name = _cookie_name(self.flask_name, self.secure, self.domain, self.path)
        self.refresh = bool(config.get("SESSION_REFRESH_EACH_REQUEST", True))
        self.legacy_max_age = max(int(app.permanent_session_lifetime.total_seconds()), 0)
        self.migrate_url = config.get("SESSIONVAULT_MIGRATE_FLASK_SESSION")
        self.migrate_prefix = config.get("SESSIONVAULT_MIGRATE_FLASK_SESSION_PREFIX", "session:")

        self._lock = threading.Lock()
        self._pid: int | None = None
        self._manager: Any = None

    def manager(self) -> Any:
        """The engine for this process, built on first use (opening the store)."""
        pid = os.getpid()
        manager = self._manager
        if manager is not None and self._pid == pid:
            return manager
        with self._lock:
            if self._manager is None or self._pid != pid:
                store = self.interface._store(self.store_url)
                self._manager, _ = _native.Manager.build(
                    store,
                    self.secret,
                    self.fallbacks,
                    allow_weak=self.allow_weak,
                    mode=self.mode,
                    idle_timeout=self.idle,
                    absolute_timeout=self.absolute,
                    cookie_name=self.name,
                    secure=self.secure,
                    same_site=self.samesite,
                    legacy_max_age=self.legacy_max_age,
                )
                self._pid = pid
            return self._manager


class SessionVaultWarning(UserWarning):
    """A setting that works but is not safe in production (a weak key under TESTING/DEBUG)."""


def _weak(problem: str) -> SessionVaultError:
    from .errors import WeakSecret

    return WeakSecret(f"SECRET_KEY refused: {problem}")


#: Digests of the weak keyrings already warned about in this process.
_WARNED: set[bytes] = set()


def _key_bytes(key: Any, name: str) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    raise ConfigError(f"{name} must be str or bytes, not {type(key).__name__}")


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(f"{name} must be seconds or a timedelta, not {value!r}")
    if seconds < 1:
        raise ConfigError(f"{name} must be at least one second, not {value!r}")
    return seconds


def _store_url(app: Flask, url: str | None) -> str:
    """The store URL in the engine's form. SQLite URLs are read as SQLAlchemy writes them
    (``sqlite:///relative`` is relative to the instance folder, as Flask-SQLAlchemy has it;
    ``sqlite:////absolute``)."""
    if url is None:
        os.makedirs(app.instance_path, exist_ok=True)
        return "sqlite:" + os.path.join(app.instance_path, _DEFAULT_SQLITE_FILE)
    if not isinstance(url, str):
        raise ConfigError(f"SESSIONVAULT_STORE must be a URL string, not {url!r}")
    if url == "memory":
        return url
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:") :]
        if rest in ("", "//", "///:memory:"):
            return "sqlite::memory:"
        if not rest.startswith("///"):
            raise ConfigError(
                f"SESSIONVAULT_STORE {url!r}: write sqlite:///relative/path or "
                "sqlite:////absolute/path"
            )
        path = rest[3:]
        if not os.path.isabs(path):
            os.makedirs(app.instance_path, exist_ok=True)
            path = os.path.join(app.instance_path, path)
        else:
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        return "sqlite:" + path
    if url.startswith(("postgres://", "postgresql://", "redis")):
        return url
    raise ConfigError(
        f"unsupported SESSIONVAULT_STORE {url!r}: use memory, sqlite:///path, "
        "postgres://..., redis://..., rediss://... or redis-cluster://..."
    )


def _cookie_name(name: str, secure: bool, domain: str | None, path: str) -> str:
    """Flask's default name ``session`` becomes ``__Host-session`` whenever the cookie can
    carry that prefix (Secure, no Domain, Path=/), which pins it to this exact host. A name
    the app chose is used as written, and its prefix checked."""
    host_ok = secure and not domain and path == "/"
    if name == "session" and host_ok:
        return "__Host-session"
    if name.startswith("__Host-") and not host_ok:
        raise ConfigError(
            f"SESSION_COOKIE_NAME {name!r}: the __Host- prefix needs SESSION_COOKIE_SECURE, "
            "no SESSION_COOKIE_DOMAIN and a path of /"
        )
    if name.startswith("__Secure-") and not secure:
        raise ConfigError(
            f"SESSION_COOKIE_NAME {name!r}: the __Secure- prefix needs SESSION_COOKIE_SECURE"
        )
    return name


class VaultSession(SessionMixin):
    """``flask.session`` under sessionvault: a mutable mapping, loaded on first use.

    Nothing is read from the store until a key is looked at or written. At the end of the
    request each key is compared with what was loaded, so a change inside a value
    (``session["cart"].append(x)``) is saved without ``session.modified = True``, and only
    the keys that changed are sent to the engine.
    """

    def __init__(self, settings: _Settings, opener: Callable[[], Any]) -> None:
        self._settings = settings
        self._opener = opener
        self._handle: Any = None
        self._data: dict[str, Any] | None = None
        self._exposed: set[str] = set()
        self._new = True
        self._moved_from: str | None = None
        self._after_save: list[Callable[[], None]] = []
        self.modified = False
        self.accessed = False

    # Loading.

    def _load(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            if self._handle is None:
                self._handle = self._opener()
            data, new, moved = self._handle.load()
            self._new = new
            if moved:
                self._moved_from = "flask"
                self.modified = True
            elif new and self._settings.migrate_url:
                _move_flask_session(self, data)
            self._data = data
        return data

    @property
    def new(self) -> bool:  # type: ignore[override]
        """True when no stored session was found for this request (yet)."""
        self._load()
        return self._new

    # The mapping.

    def __getitem__(self, key: str) -> Any:
        value = self._load()[key]
        self._exposed.add(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        data = self._load()
        if key in data:
            self._exposed.add(key)
            return data[key]
        return default

    def __setitem__(self, key: str, value: Any) -> None:
        if key in INTERNAL_KEYS:
            raise KeyError(f"{key!r} is kept by sessionvault itself and cannot be set")
        self._load()[key] = value
        self._exposed.add(key)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._load()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._load()))

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def clear(self) -> None:
        self._load().clear()
        self.modified = True

    def copy(self) -> dict[str, Any]:
        """A plain dict of the session's keys."""
        return dict(self.items())

    def __repr__(self) -> str:
        if self._data is None:
            return "<VaultSession (not loaded)>"
        return f"<VaultSession {self._data!r}>"

    # sessionvault's additions.

    def regenerate(self) -> None:
        """A new ID at the end of this request, keeping the data: call it when privileges
        change. :func:`login` does it for you."""
        self._load()
        self._handle.regenerate()
        self.modified = True
        session_regenerated.send(current_app._get_current_object())

    def _exposed_keys(self) -> list[str] | None:
        return list(self._exposed)


class SessionVaultInterface(SessionInterface):
    """The session interface :class:`SessionVault` installs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: tuple[tuple[Any, ...], _Settings] | None = None
        self._stores: dict[str, Any] = {}
        self._stores_pid = os.getpid()
        _INTERFACES.add(self)

    def _reset_after_fork(self) -> None:
        # Another thread may have held the lock when the process forked.
        self._lock = threading.Lock()
        if self._settings is not None:
            self._settings[1]._lock = threading.Lock()

    def _store(self, url: str) -> Any:
        """The store at ``url`` for this process, opened once and shared by every
        configuration of the app (a keyring rotation keeps its sessions)."""
        with self._lock:
            pid = os.getpid()
            if self._stores_pid != pid:
                # The parent's stores belong to its runtime: never used here (the native
                # objects leak themselves rather than close the parent's connections).
                self._stores = {}
                self._stores_pid = pid
            store = self._stores.get(url)
            if store is None:
                store = self._stores[url] = _native.Store.open(url)
            return store

    def settings(self, app: Flask) -> _Settings:
        """The configuration in force, re-read when any key it depends on changed (Flask's
        tests, for one, change ``SECRET_KEY`` between requests)."""
        config = app.config
        key = (
            app.secret_key,
            tuple(config.get("SECRET_KEY_FALLBACKS") or ()),
            app.testing,
            app.debug,
            config.get("SESSIONVAULT_STORE"),
            config.get("SESSIONVAULT_COOKIE_MODE"),
            config.get("SESSIONVAULT_IDLE_TIMEOUT"),
            config.get("SESSIONVAULT_ABSOLUTE_TIMEOUT"),
            config.get("SESSIONVAULT_MIGRATE_FLASK_SESSION"),
            config.get("SESSIONVAULT_MIGRATE_FLASK_SESSION_PREFIX"),
            self.get_cookie_name(app),
            config.get("SESSION_COOKIE_DOMAIN"),
            config.get("SESSION_COOKIE_PATH"),
            config.get("APPLICATION_ROOT"),
            config.get("SESSION_COOKIE_SECURE"),
            config.get("SESSION_COOKIE_HTTPONLY"),
            config.get("SESSION_COOKIE_SAMESITE"),
            config.get("SESSION_COOKIE_PARTITIONED"),
            config.get("SESSION_REFRESH_EACH_REQUEST"),
            config.get("PERMANENT_SESSION_LIFETIME"),
        )
        current = self._settings
        if current is not None and current[0] == key:
            return current[1]
        settings = _Settings(self, app)
        self._settings = (key, settings)
        return settings

    def open_session(self, app: Flask, request: Request) -> VaultSession | None:
        if not app.secret_key:
            return None
        settings = self.settings(app)
        cookies = request.cookies
        values = cookies.getlist(settings.name)
        cookie = values[0] if len(values) == 1 else None
        legacy = None
        if settings.name != settings.flask_name:
            legacy = cookies.get(settings.flask_name)
        elif cookie is not None and "." in cookie and settings.mode == "server":
            # A Flask signed cookie under the same name: not a session ID.
            legacy, cookie = cookie, None
        user_agent = request.headers.get("User-Agent")
        ip = request.remote_addr

        def opener() -> Any:
            return settings.manager().session(
                cookie, legacy, user_agent, ip, duplicate=len(values) > 1
            )

        return VaultSession(settings, opener)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session is None:  # type: ignore[comparison-overlap]
            # `open_session` raised (a refused key, a store that would not open): Flask still
            # finalizes the request, with no session to save.
            return
        if session.accessed:
            response.vary.add("Cookie")
        if not isinstance(session, VaultSession) or session._data is None:
            # Never touched: no store I/O, no cookie.
            return
        settings = session._settings
        data = session._data
        handle = session._handle
        try:
            if handle.save(data, session._exposed_keys()):
                session.modified = True
            end = not data and session.modified and not session._new and handle.user() is None
            action, value = handle.commit(end)
        except SessionVaultError as error:
            _replace_with_error(app, response, error)
            return
        for done in session._after_save:
            done()
        cookie = dict(
            domain=settings.domain,
            path=settings.path,
            secure=settings.secure,
            httponly=settings.httponly,
            samesite=settings.samesite,
            partitioned=settings.partitioned,
        )
        if session._moved_from is not None and settings.flask_name != settings.name:
            response.delete_cookie(settings.flask_name, **cookie)
        if action == "clear" or (value is None and not data and session.modified):
            response.delete_cookie(settings.name, **cookie)
            response.vary.add("Cookie")
            return
        if value is None:
            return
        if action == "set" or session.modified or (session.permanent and settings.refresh):
            response.set_cookie(
                settings.name, value, expires=self.get_expiration_time(app, session), **cookie
            )
            response.vary.add("Cookie")


_INTERFACES: weakref.WeakSet[SessionVaultInterface] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for interface in list(_INTERFACES):
        interface._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _replace_with_error(app: Flask, response: Response, error: SessionVaultError) -> None:
    """Turns the response into the error's (503, 409, 413...), through the app's error
    handlers: the save failed, so the handler's answer must not reach the client."""
    app.logger.warning("session not saved: %s", error)
    from werkzeug.exceptions import HTTPException

    if not isinstance(error, HTTPException):
        raise error
    handled = app.make_response(app.handle_http_exception(error))
    response.status_code = handled.status_code
    response.headers.clear()
    response.headers.extend(handled.headers)
    response.set_data(handled.get_data())
    response.vary.add("Cookie")


# The per-request API.


def _session() -> VaultSession:
    if not has_request_context():
        raise RuntimeError("this needs a request: it acts on the current request's session")
    session = request_ctx.session
    if not isinstance(session, VaultSession):
        raise RuntimeError(
            "sessionvault is not this app's session interface (is SessionVault(app) called, "
            "and SECRET_KEY set?)"
        )
    session._load()
    return session


def regenerate() -> None:
    """A new session ID at the end of this request, keeping the data."""
    _session().regenerate()


def login(user_id: Any) -> None:
    """Signs ``user_id`` in: a new session ID (the fixation defence), the user bound to the
    session (for :func:`devices` and :func:`revoke_all_for_user`), the sign-in time recorded
    (:func:`auth_age`) and the absolute lifetime restarted."""
    session = _session()
    session._handle.login(str(user_id))
    session.modified = True
    logged_in.send(current_app._get_current_object(), user_id=str(user_id))


def logout() -> None:
    """Ends the session now: the store keeps a tombstone so no request still in flight can
    bring it back, and the cookie is cleared. What the request stores afterwards (a flash
    message, say) goes into a new session."""
    session = _session()
    session._handle.logout()
    assert session._data is not None
    session._data.clear()
    session._exposed.clear()
    session._new = True
    session.modified = True
    logged_out.send(current_app._get_current_object())


def current_user_id() -> str | None:
    """The user :func:`login` bound to this session, if any."""
    return _session()._handle.user()


def auth_age() -> timedelta | None:
    """How long ago the user signed in; ``None`` when nobody is signed in. Ask for the
    password again before sensitive actions when this is large."""
    seconds = _session()._handle.auth_age()
    return None if seconds is None else timedelta(seconds=seconds)


def update(key: str, function: Callable[[Any], Any]) -> Any:
    """Read-modify-write of one key that concurrent requests cannot lose, saved at once:
    ``function`` gets the current value (``None`` when absent) and returns the new one; when
    another request saved first it runs again on the fresh value. An exception from
    ``function`` stops the update and propagates; nothing is saved. Returns the saved value.

    The request's other changes so far are saved with it."""
    session = _session()
    assert session._data is not None
    session._handle.save(session._data, session._exposed_keys())
    value = session._handle.update(key, function)
    session._data[key] = value
    session._exposed.add(key)
    return value


def devices() -> list[dict[str, Any]]:
    """The signed-in user's live sessions: ``handle``, ``created``, ``last_seen``,
    ``user_agent``, ``ip`` (a network prefix) and ``current``."""
    return list(_session()._handle.devices())


def revoke_device(handle: str) -> bool:
    """Ends one of the signed-in user's own sessions; ``False`` when the handle is not one of
    theirs."""
    return bool(_session()._handle.revoke_device(handle))


def revoke_others() -> int:
    """Ends the signed-in user's other sessions ("sign out everywhere else"); returns how
    many."""
    return int(_session()._handle.revoke_others())


def _manager() -> Any:
    app = current_app._get_current_object()
    interface = app.session_interface
    if not isinstance(interface, SessionVaultInterface):
        raise RuntimeError("sessionvault is not this app's session interface")
    if not app.secret_key:
        raise ConfigError("SECRET_KEY is not set")
    return interface.settings(app).manager()


def sessions_for_user(user_id: Any) -> list[dict[str, Any]]:
    """A user's live sessions, most recent first. Works in an application context without a
    request (admin scripts, CLI commands)."""
    return list(_manager().sessions_for_user(str(user_id)))


def revoke_all_for_user(user_id: Any, except_handle: str | None = None) -> int:
    """Ends every session of ``user_id`` (but the one with ``except_handle``); returns how
    many. Works in an application context without a request."""
    return int(_manager().revoke_all_for_user(str(user_id), except_handle))


# Moving sessions out of Flask-Session.


def _redis_client(url: str) -> Any:
    key = (os.getpid(), url)
    client = _REDIS_CLIENTS.get(key)
    if client is None:
        import redis

        client = _REDIS_CLIENTS[key] = redis.Redis.from_url(url)
    return client


_REDIS_CLIENTS: dict[tuple[int, str], Any] = {}


def _decode_flask_session(raw: bytes) -> dict[str, Any] | None:
    try:
        import msgpack

        value = msgpack.unpackb(raw, raw=False)
    except Exception:
        import json

        try:
            value = json.loads(raw)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _move_flask_session(session: VaultSession, data: dict[str, Any]) -> None:
    """Flask-Session keeps ``session:<raw id>`` in Redis and the raw ID in the cookie: read it
    once, move it into this new session, and delete the raw-ID key once the session is saved."""
    settings = session._settings
    if not has_request_context():
        return
    sid = request_ctx.request.cookies.get(settings.flask_name)
    if not sid:
        return
    client = _redis_client(settings.migrate_url)
    key = settings.migrate_prefix + sid
    try:
        raw = client.get(key)
    except Exception as error:
        from .errors import StoreUnavailable

        raise StoreUnavailable(f"Flask-Session's Redis did not answer: {error}") from None
    if raw is None:
        return
    moved = _decode_flask_session(raw)
    if moved is None:
        return
    data.update({k: v for k, v in moved.items() if isinstance(k, str) and k not in INTERNAL_KEYS})
    session._exposed.update(data)
    session._moved_from = "flask-session"
    session.modified = True
    session._after_save.append(lambda: client.delete(key))

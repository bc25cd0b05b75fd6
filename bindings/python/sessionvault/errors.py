"""The exceptions of sessionvault.

Every one is a :class:`SessionVaultError`. Those that a request can meet are also Werkzeug
HTTP exceptions, so Flask's error handling turns them into the right status (and an
``@app.errorhandler(503)`` page applies): a store outage is a 503, never an empty session.
"""

from __future__ import annotations

from werkzeug import exceptions as _http


class SessionVaultError(Exception):
    """Something went wrong in sessionvault. The message never holds a secret or a session ID."""


class ConfigError(SessionVaultError, ValueError):
    """The configuration cannot work: an unknown store URL, a bad timeout, a cookie name whose
    prefix the other cookie settings contradict."""


class WeakSecret(ConfigError):
    """``SECRET_KEY`` (or a fallback) is guessable: too short, a published example, a pattern.
    The message says why and how to make a good one."""


class StoreUnavailable(SessionVaultError, _http.ServiceUnavailable):
    """The session store did not answer. Nothing was saved, and no empty session was made up
    in its place: the request fails with 503."""

    def __init__(self, message: str = "") -> None:
        _http.ServiceUnavailable.__init__(self, description=message or None)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0] if self.args and self.args[0] else super().__str__()


class Conflict(SessionVaultError, _http.Conflict):
    """Concurrent requests kept changing the session while this one saved; nothing of this
    request was saved (409)."""

    def __init__(self, message: str = "") -> None:
        _http.Conflict.__init__(self, description=message or None)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0] if self.args and self.args[0] else super().__str__()


class SessionEnded(Conflict):
    """The session was ended (logout, revocation, expiry) while this request ran; its changes
    were dropped rather than bring it back (409)."""


class SessionTooLarge(SessionVaultError, _http.RequestEntityTooLarge):
    """The session is larger than the limit (a sealed cookie over 4096 bytes): nothing was
    saved (413)."""

    def __init__(self, message: str = "") -> None:
        _http.RequestEntityTooLarge.__init__(self, description=message or None)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0] if self.args and self.args[0] else super().__str__()


class Throttled(SessionVaultError, _http.TooManyRequests):
    """This client sent too many unknown session cookies and is refused for a while (429)."""

    def __init__(self, message: str = "") -> None:
        _http.TooManyRequests.__init__(self, description=message or None)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0] if self.args and self.args[0] else super().__str__()


__all__ = [
    "ConfigError",
    "Conflict",
    "SessionEnded",
    "SessionTooLarge",
    "SessionVaultError",
    "StoreUnavailable",
    "Throttled",
    "WeakSecret",
]

"""sessionvault: server-side sessions on a Rust core.

For Flask, see :mod:`sessionvault.flask`::

    from flask import Flask
    from sessionvault.flask import SessionVault

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "..."  # python3 -c 'import secrets; print(secrets.token_hex(32))'
    SessionVault(app)

Importing this package creates nothing: no runtime, thread or connection exists until the
first request is handled.
"""

from __future__ import annotations

from .errors import (
    ConfigError,
    Conflict,
    SessionEnded,
    SessionTooLarge,
    SessionVaultError,
    StoreUnavailable,
    Throttled,
    WeakSecret,
)

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

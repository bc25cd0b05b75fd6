"""Type hints for the native module (Rust, PyO3). Use :mod:`sessionvault.flask` instead."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypedDict

INTERNAL_KEYS: list[str]

class SessionInfo(TypedDict):
    handle: str
    created: datetime
    last_seen: datetime
    user_agent: str | None
    ip: str | None
    current: bool

def keyring_problem(secret: bytes, fallbacks: list[bytes]) -> str | None: ...

class Store:
    @staticmethod
    def open(url: str) -> Store: ...

class Manager:
    @staticmethod
    def build(
        store: Store,
        secret: bytes,
        fallbacks: list[bytes],
        *,
        allow_weak: bool,
        mode: str,
        idle_timeout: float,
        absolute_timeout: float,
        cookie_name: str,
        secure: bool,
        same_site: str | None,
        legacy_max_age: int,
    ) -> tuple[Manager, str | None]: ...
    def session(
        self,
        cookie: str | None,
        legacy: str | None,
        user_agent: str | None,
        ip: str | None,
        duplicate: bool = False,
    ) -> Handle: ...
    def sessions_for_user(self, user_id: str) -> list[SessionInfo]: ...
    def revoke_all_for_user(self, user_id: str, except_handle: str | None = None) -> int: ...
    def revoke(self, handle: str) -> bool: ...

class Handle:
    def load(self) -> tuple[dict[str, Any], bool, bool]: ...
    def save(self, data: dict[str, Any], exposed: list[str] | None = None) -> bool: ...
    def commit(
        self, end: bool = False
    ) -> tuple[Literal["keep", "set", "clear"], str | None]: ...
    def regenerate(self) -> None: ...
    def login(self, user_id: str) -> None: ...
    def logout(self) -> None: ...
    def user(self) -> str | None: ...
    def auth_age(self) -> float | None: ...
    def devices(self) -> list[SessionInfo]: ...
    def revoke_device(self, handle: str) -> bool: ...
    def revoke_others(self) -> int: ...
    def update(self, key: str, function: Callable[[Any], Any]) -> Any: ...

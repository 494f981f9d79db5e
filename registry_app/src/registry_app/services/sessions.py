"""Browser sessions for the web UI: sign-in, sign-out, CSRF tokens, fresh logins.

A session is a random id. The browser holds it in a cookie as a JWT signed (HS256) with a key
derived from SECRET_KEY, so a forged or foreign cookie is refused before any lookup and rotating
SECRET_KEY ends every session. The server keeps only the id's SHA-256 (table ``web_session``), so a
session ends the moment its row is gone: sign-out, or every session of an account when the account
signs out (as Quay does), is deleted or disabled, or its password changes (each session remembers
a fingerprint of the password hash it was opened with, so no code path that changes a password
has to remember to end sessions).

The CSRF token is an HMAC of the session id under another key derived from SECRET_KEY: it is the
same for the whole session, changes with every sign-in, and cannot be computed without the id,
which never leaves the HttpOnly cookie.

Plain Python: the store is handed in (db/sessions.py in production), nothing here knows HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import jwt

DEFAULT_LIFETIME_S = 31 * 86400  # Quay's SESSION_TIMEOUT default, "31d"
DEFAULT_FRESH_S = 600  # Quay's FRESH_LOGIN_TIMEOUT default, "10m"


class StoredSession(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def stamp(self) -> str: ...
    @property
    def login_ms(self) -> int: ...
    @property
    def expires_ms(self) -> int: ...


class SessionStore(Protocol):
    def add(self, key: str, user_id: int, stamp: str, created_ms: int, expires_ms: int) -> None: ...
    def get(self, key: str) -> StoredSession | None: ...
    def set_login(self, key: str, login_ms: int) -> None: ...
    def delete(self, key: str) -> None: ...
    def delete_user(self, user_id: int) -> int: ...
    def purge_expired(self, now_ms: int) -> int: ...


class Account(Protocol):
    """What a session needs to know of an account (db.store.UserRow has it)."""

    @property
    def id(self) -> int: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def robot(self) -> bool: ...
    @property
    def organization(self) -> bool: ...
    @property
    def password_hash(self) -> str | None: ...


A = TypeVar("A", bound=Account)


@dataclass(frozen=True)
class Session:
    """A live session. ``key`` is the stored SHA-256 of the id (the id itself is only in the cookie)."""

    key: str
    user_id: int
    csrf_token: str
    fresh: bool  # the password was checked within the fresh-login window


def _derive(secret_key: str, label: bytes) -> bytes:
    return hashlib.sha256(b"registry-app " + label + b"\0" + secret_key.encode()).digest()


def account_stamp(account: Account) -> str:
    """A fingerprint of the account's credentials: changes when its password hash does."""
    return hashlib.sha256(b"session stamp\0" + (account.password_hash or "").encode()).hexdigest()[:32]


class SessionService(Generic[A]):
    def __init__(
        self,
        store: SessionStore,
        accounts: Callable[[int], A | None],
        secret_key: str,
        lifetime_s: int = DEFAULT_LIFETIME_S,
        fresh_s: int = DEFAULT_FRESH_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.lifetime_s = lifetime_s
        self.fresh_s = fresh_s
        self.clock = clock
        self._cookie_key = _derive(secret_key, b"web session v1")
        self._csrf_key = _derive(secret_key, b"web csrf v1")

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _csrf(self, session_id: str) -> str:
        mac = hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def start(self, account: A) -> tuple[str, Session]:
        """Open a session for a person whose password was just checked: (cookie value, session)."""
        if account.robot or account.organization or not account.enabled:
            raise ValueError("sessions are for enabled user accounts only")
        now = self._now_ms()
        self.store.purge_expired(now)
        session_id = secrets.token_urlsafe(32)
        key = self._key(session_id)
        expires = now + self.lifetime_s * 1000
        self.store.add(key, account.id, account_stamp(account), now, expires)
        cookie = jwt.encode(
            {"sid": session_id, "iat": now // 1000, "exp": expires // 1000}, self._cookie_key, algorithm="HS256"
        )
        return cookie, Session(key, account.id, self._csrf(session_id), fresh=True)

    def resolve(self, cookie: str) -> tuple[Session, A] | None:
        """The live session a cookie names and its account, or None (forged, expired, ended, or
        the account was disabled, deleted or given a new password)."""
        # Times are checked against this service's clock (the stored expiry is what counts).
        try:
            claims = jwt.decode(
                cookie,
                self._cookie_key,
                algorithms=["HS256"],
                options={"require": ["sid", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        session_id = claims.get("sid")
        now = self._now_ms()
        if not isinstance(session_id, str) or not isinstance(claims["exp"], int) or claims["exp"] * 1000 <= now:
            return None
        key = self._key(session_id)
        stored = self.store.get(key)
        if stored is None or stored.expires_ms <= now:
            return None
        account = self.accounts(stored.user_id)
        if account is None or not account.enabled or not hmac.compare_digest(account_stamp(account), stored.stamp):
            self.store.delete(key)
            return None
        fresh = now - stored.login_ms <= self.fresh_s * 1000
        return Session(key, stored.user_id, self._csrf(session_id), fresh), account

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(session.csrf_token.encode(), (token or "").encode())

    def refresh_login(self, session: Session) -> Session:
        """The password was checked again (Quay's ``signin/verify``): the session is fresh."""
        self.store.set_login(session.key, self._now_ms())
        return Session(session.key, session.user_id, session.csrf_token, fresh=True)

    def end(self, session: Session) -> None:
        self.store.delete(session.key)

    def end_all(self, user_id: int) -> int:
        """End every session of an account (sign-out, as Quay's ``invalidate_all_sessions``)."""
        return self.store.delete_user(user_id)

"""The current state of the credential behind a registry token or a cached password check.

A registry token lives an hour and a verified password is remembered, but both must stop working
the moment the credential they stand for changes: its user is deleted or disabled or changes their
password, its app-specific or API token is revoked or expires, its robot's token is regenerated.
A ``Ref`` names the credential (kind, account id, token id); its ``fingerprint`` is an HMAC over
what must not change (account id and creation time, so a re-created account of the same name is
another account; the password hash; the robot token; the app/API token's id). Tokens carry the
ref and the fingerprint they were issued under, and each use compares them with the current state.

Reading that state costs a query or two, so ``AccountStates`` keeps it per process:
- on SQLite, for as long as ``Store.generation()`` (SQLite's change counter: it moves whenever any
  process commits) is unchanged: a change is seen at the next request, and a read per account
  per change is all it costs (the audit log writes twice a second under load);
- on PostgreSQL, which has no such counter, for ``REGISTRY_APP_ACCOUNT_CACHE_SECONDS`` (default 5,
  0 re-reads on every use) for registry tokens, the hot path of every pull. Password checks
  (``fresh=True``) always re-read the state there: they are not on that path.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from registry_app.db.identity import IdentityStore
from registry_app.db.store import Store, UserRow, now_ms

DEFAULT_CACHE_SECONDS = 5.0
KINDS = ("user", "robot", "app", "oauth")


class Ref(NamedTuple):
    """A credential: ``kind`` user (a password, database or LDAP), robot, app (app-specific token)
    or oauth (API token); ``account`` the user/robot id; ``token`` the app token's uuid or the API
    token's id. (A tuple: it is a dictionary key on every pull.)"""

    kind: str
    account: int
    token: str | None = None

    def to_claim(self) -> list[str | int | None]:
        return [self.kind, self.account, self.token]

    @staticmethod
    def from_claim(value: object) -> Ref | None:
        if not isinstance(value, list) or len(value) != 3:
            return None
        kind, account, token = value
        if kind not in KINDS or not isinstance(account, int) or not (token is None or isinstance(token, str)):
            return None
        return Ref(kind, account, token)


@dataclass(frozen=True)
class AccountState:
    """What a credential is now. ``expires_ms``: when an app/API token runs out (None: never)."""

    fingerprint: str
    superuser: bool
    expires_ms: int | None = None

    def alive(self) -> bool:
        return self.expires_ms is None or self.expires_ms > now_ms()


class Miss:
    """The state is not known without reading it."""


MISS = Miss()


class AccountStates:
    def __init__(
        self,
        store: Store,
        identities: IdentityStore,
        robot_token: Callable[[UserRow], str | None],
        is_superuser: Callable[[UserRow], bool],
        key: bytes,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        size: int = 8192,
    ) -> None:
        self.store = store
        self.identities = identities
        self.robot_token = robot_token
        self.is_superuser = is_superuser
        self.key = key
        self.cache_seconds = cache_seconds
        self.size = size
        # ref -> (state or None, generation it was read under, monotonic time it was read)
        self._data: OrderedDict[Ref, tuple[AccountState | None, int | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    # -- fingerprints ----------------------------------------------------------------------------
    def fingerprint(self, ref: Ref, account: UserRow, secret: str | None = None) -> str:
        """``secret``: the password hash (users) or the robot's token (robots)."""
        text = f"{ref.kind}\0{account.id}\0{account.created_ms}\0{ref.token or ''}\0{secret or ''}"
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def user_fingerprint(self, user: UserRow) -> str:
        return self.fingerprint(Ref("user", user.id), user, user.password_hash)

    def robot_fingerprint(self, robot: UserRow, token: str) -> str:
        return self.fingerprint(Ref("robot", robot.id), robot, token)

    # -- the cache -----------------------------------------------------------------------------
    def peek(self, ref: Ref, fresh: bool = False, generation: int | None = None) -> AccountState | Miss | None:
        """The cached state while it is known to be current, else MISS (it must be read).
        ``fresh``: where there is no change counter (PostgreSQL), always MISS. ``generation``: the
        change counter if the caller has just read it."""
        if generation is None:
            generation = self.store.generation()
        if generation is None and (fresh or self.cache_seconds <= 0):
            return MISS
        item = self._data.get(ref)  # one dictionary read: atomic, no lock needed
        if item is None:
            return MISS
        state, read_generation, read_at = item
        if generation is not None:
            return state if read_generation == generation else MISS
        return state if time.monotonic() - read_at < self.cache_seconds else MISS

    def get(self, ref: Ref, fresh: bool = False) -> AccountState | None:
        """The current state (None: the credential is gone, disabled, revoked or expired), read
        when ``peek`` does not know it."""
        state = self.peek(ref, fresh)
        if not isinstance(state, Miss):
            return state
        generation = self.store.generation()  # before the read: a write after it moves it on
        state = self._read(ref)
        with self._lock:
            self._data[ref] = (state, generation, time.monotonic())
            self._data.move_to_end(ref)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return state

    # -- reading the state -----------------------------------------------------------------------
    def _read(self, ref: Ref) -> AccountState | None:
        account = self.identities.user_by_id(ref.account)
        if account is None or not account.enabled or account.organization:
            return None
        if ref.kind == "robot":
            if not account.robot:
                return None
            token = self.robot_token(account)
            return AccountState(self.robot_fingerprint(account, token), False) if token else None
        if account.robot:
            return None
        superuser = self.is_superuser(account)
        if ref.kind == "user":
            return AccountState(self.user_fingerprint(account), superuser)
        if ref.token is None:
            return None
        if ref.kind == "app":
            row = self.identities.app_token_by_uuid(account.id, ref.token)
        else:
            row = self.identities.oauth_token_by_id(int(ref.token)) if ref.token.isdigit() else None
        if row is None or row.user_id != account.id:
            return None
        state = AccountState(self.fingerprint(ref, account), superuser, row.expires_ms)
        return state if state.alive() else None


__all__ = ["MISS", "AccountState", "AccountStates", "Miss", "Ref"]

"""Who is asking and what they may do: credentials, Docker registry tokens, repository permissions.

Permissions (data-plane issue scope, built to grow into Quay's teams/robots): a user is admin of
their own namespace; superusers (``SUPER_USERS`` or the user's superuser flag) are admin
everywhere; a public repository is readable by everyone when ``FEATURE_ANONYMOUS_ACCESS`` is on
(and by every signed-in user regardless). ``FEATURE_ANONYMOUS_PUSH`` (off by default) makes the
registry open for anonymous writes, for throw-away local setups.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt
from passlib.context import CryptContext

from registry_app.db.store import RepoRow, Store, UserRow
from registry_app.services.errors import TooManyRequests, Unauthorized

# argon2id at OWASP's recommended minimum (19 MiB, t=2, p=1): ~30 ms here, where passlib's default
# (100 MiB, p=8) takes ~700 ms on a 2-core host. bcrypt verifies hashes imported from Quay.
PASSWORDS = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
    argon2__type="ID",
)

ROLE_ORDER = {None: 0, "read": 1, "write": 2, "admin": 3}
ACTION_ROLE = {"pull": "read", "push": "write", "delete": "admin", "*": "admin"}


@dataclass(frozen=True)
class Identity:
    """The caller. ``username`` None means anonymous. ``access`` is set for bearer tokens: the
    repository actions the token grants (nothing beyond it is allowed, whatever the user could do)."""

    username: str | None = None
    superuser: bool = False
    access: dict[str, frozenset[str]] | None = None
    via: str = "anonymous"  # anonymous | basic | token

    @property
    def anonymous(self) -> bool:
        return self.username is None


ANONYMOUS = Identity()


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    @staticmethod
    def parse(text: str) -> Scope | None:
        # repository:ns/name:pull,push  (names may contain ':' only as a registry port, which
        # Docker strips before asking, so the last ':' separates the actions)
        parts = text.split(":")
        if len(parts) < 3:
            return None
        return Scope(parts[0], ":".join(parts[1:-1]), tuple(a for a in parts[-1].split(",") if a))


@dataclass
class _Cached:
    value: Any
    expires: float
    generation: int | None = None


class _TTLCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.data: OrderedDict[str, _Cached] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, generation: int | None) -> Any:
        with self.lock:
            item = self.data.get(key)
            if item is None:
                return None
            if item.expires < time.monotonic() or item.generation != generation:
                del self.data[key]
                return None
            return item.value

    def put(self, key: str, value: Any, ttl: float, generation: int | None) -> None:
        with self.lock:
            self.data[key] = _Cached(value, time.monotonic() + ttl, generation)
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


@dataclass
class LoginThrottle:
    """Slows down password guessing for one account: after ``free`` failures in ``window``
    seconds, further attempts for that username are refused with 429 until the window passes."""

    free: int = 5
    window: float = 60.0
    failures: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, username: str) -> None:
        with self.lock:
            now = time.monotonic()
            recent = [t for t in self.failures.get(username, []) if now - t < self.window]
            self.failures[username] = recent
            if len(recent) >= self.free:
                retry = int(self.window - (now - recent[0])) + 1
                raise TooManyRequests(
                    "too many failed logins for this account; try again later", headers={"Retry-After": str(retry)}
                )

    def failed(self, username: str) -> None:
        with self.lock:
            self.failures.setdefault(username, []).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        with self.lock:
            self.failures.pop(username, None)


class AuthService:
    def __init__(self, store: Store, config: Any) -> None:
        self.store = store
        self.config = config
        self.server_hostname: str = config["SERVER_HOSTNAME"]
        self.super_users = frozenset(config.get("SUPER_USERS") or ())
        self.anonymous_access = bool(config.get("FEATURE_ANONYMOUS_ACCESS", True))
        self.anonymous_push = bool(config.get("FEATURE_ANONYMOUS_PUSH", False))
        self.create_namespace_on_push = bool(config.get("CREATE_NAMESPACE_ON_PUSH", False))
        self.token_lifetime = int(config.get("REGISTRY_APP_TOKEN_LIFETIME", 3600))
        # HS256 with a key derived from SECRET_KEY: every app host of one deployment shares it.
        self._jwt_key = hashlib.sha256(b"registry-app docker token v1\0" + config.secret_key.encode()).digest()
        self._token_cache = _TTLCache()
        self._basic_cache = _TTLCache()
        self.throttle = LoginThrottle()
        self._dummy_hash = PASSWORDS.hash(secrets.token_hex(8))

    # -- users ---------------------------------------------------------------------------------
    def is_superuser(self, user: UserRow) -> bool:
        return user.superuser or user.username in self.super_users

    def create_user(self, username: str, password: str, email: str | None, superuser: bool = False) -> UserRow:
        return self.store.create_user(username, email, PASSWORDS.hash(password), superuser=superuser)

    def verify_password(self, username: str, password: str) -> Identity:
        """Check a username/password; raise Unauthorized (or TooManyRequests when throttled)."""
        # Cached only while the database is provably unchanged (SQLite's change counter): a new
        # password, a deleted user or a regenerated token must stop working at once.
        generation = self.store.generation()
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        cached = self._basic_cache.get(key, generation) if generation is not None else None
        if cached is not None:
            return cached
        self.throttle.check(username)
        user = self.store.get_user(username)
        if user is None or user.organization or not user.enabled or not user.password_hash:
            PASSWORDS.verify(password, self._dummy_hash)  # same cost as a real check
            self.throttle.failed(username)
            raise Unauthorized("invalid username or password")
        if not PASSWORDS.verify(password, user.password_hash):
            self.throttle.failed(username)
            raise Unauthorized("invalid username or password")
        self.throttle.succeeded(username)
        ident = Identity(username=user.username, superuser=self.is_superuser(user), via="basic")
        if generation is not None:
            self._basic_cache.put(key, ident, 30.0, generation)
        return ident

    # -- tokens --------------------------------------------------------------------------------
    def issue_token(self, ident: Identity, grants: list[Scope], service: str | None) -> tuple[str, int]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "quay",
            "aud": service or self.server_hostname,
            "sub": ident.username or "(anonymous)",
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_urlsafe(16),
            "access": [{"type": g.type, "name": g.name, "actions": list(g.actions)} for g in grants],
            "context": {
                "version": 2,
                "kind": "user" if ident.username else "anonymous",
                "user": ident.username,
                "superuser": ident.superuser,
            },
        }
        return jwt.encode(claims, self._jwt_key, algorithm="HS256"), self.token_lifetime

    def verify_token(self, token: str) -> Identity:
        cached = self._token_cache.get(token, None)
        if cached is not None:
            return cached
        try:
            claims = jwt.decode(token, self._jwt_key, algorithms=["HS256"], options={"verify_aud": False}, leeway=10)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from None
        access: dict[str, frozenset[str]] = {}
        for entry in claims.get("access") or []:
            if entry.get("type") == "repository":
                access[entry["name"]] = access.get(entry["name"], frozenset()) | frozenset(entry.get("actions") or ())
            elif entry.get("type") == "registry":
                access[f"registry:{entry['name']}"] = frozenset(entry.get("actions") or ())
        ctx = claims.get("context") or {}
        ident = Identity(username=ctx.get("user"), superuser=bool(ctx.get("superuser")), access=access, via="token")
        ttl = max(1.0, float(claims["exp"]) - time.time())
        self._token_cache.put(token, ident, ttl, None)
        return ident

    # -- permissions ---------------------------------------------------------------------------
    def role(self, ident: Identity, namespace: str, repo: RepoRow | None) -> str | None:
        """The caller's role on a repository (``repo`` None: not created yet, in ``namespace``)."""
        if self.anonymous_push:
            return "admin"
        if ident.superuser:
            return "admin"
        if ident.username is not None and ident.username == namespace:
            return "admin"
        if repo is not None and repo.public and (self.anonymous_access or not ident.anonymous):
            return "read"
        return None

    def can_create(self, ident: Identity, namespace: str, namespace_exists: bool) -> bool:
        if self.anonymous_push or ident.superuser:
            return True
        if ident.anonymous:
            return False
        if ident.username == namespace:
            return True
        return not namespace_exists and self.create_namespace_on_push

    def allowed_actions(
        self, ident: Identity, namespace: str, repo: RepoRow | None, namespace_exists: bool, requested: tuple[str, ...]
    ) -> tuple[str, ...]:
        """Reduce requested actions to those granted, as Quay's token endpoint does."""
        role = self.role(ident, namespace, repo)
        granted = []
        for action in requested:
            need = ACTION_ROLE.get(action)
            if need is None:
                continue
            if ROLE_ORDER[role] >= ROLE_ORDER[need]:
                granted.append(action)
            elif repo is None and action == "push" and self.can_create(ident, namespace, namespace_exists):
                granted.append(action)
        return tuple(granted)

    def token_allows(self, ident: Identity, repo_name: str, action: str) -> bool:
        assert ident.access is not None
        actions = ident.access.get(repo_name, frozenset())
        return action in actions or "*" in actions

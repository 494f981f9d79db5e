"""Who is asking and what they may do: credentials, Docker registry tokens, repository permissions.

Permissions follow Quay:
- a user is admin of the repositories in their own namespace;
- in an organization, members of a team with the ``admin`` role administer every repository;
  ``creator`` teams may create repositories; any user, robot or team may hold an explicit role
  (read, write, admin) on a repository;
- superusers (``SUPER_USERS`` or the account's superuser flag) manage users through the superuser
  API; with ``FEATURE_SUPERUSERS_FULL_ACCESS`` (Quay's default: off; on for the embedded default)
  they are also admin of every repository and organization and may create any namespace;
- a public repository is readable by every signed-in account, and anonymously when
  ``FEATURE_ANONYMOUS_ACCESS`` is on;
- API tokens are capped by their scopes (repo:read → read, repo:write → write, repo:admin → admin,
  repo:create to create repositories).
``FEATURE_ANONYMOUS_PUSH`` (a registry_app extension, off by default) opens everything to anyone.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from registry_app.db.identity import IdentityStore
from registry_app.db.store import RepoRow, Store, UserRow
from registry_app.services.errors import TooManyRequests, Unauthorized
from registry_app.services.identity import IdentityError, IdentityService
from registry_app.services.passwords import PASSWORDS  # argon2id; bcrypt for hashes from Quay

ROLE_ORDER = {None: 0, "read": 1, "write": 2, "admin": 3}
# Deleting tags, manifests and blobs over /v2 needs write, as in Quay (a token with push may delete).
ACTION_ROLE = {"pull": "read", "push": "write", "delete": "write", "*": "admin"}
SCOPE_CAP = {"repo:read": "read", "repo:write": "write", "repo:admin": "admin"}
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW_MS = 60_000


@dataclass(frozen=True)
class Identity:
    """The caller. ``username`` None means anonymous. ``access`` is set for registry bearer tokens:
    the repository actions the token grants (nothing beyond it is allowed). ``scopes`` is set for
    API tokens: the most the token may do, whatever the account could."""

    username: str | None = None
    superuser: bool = False
    access: dict[str, frozenset[str]] | None = None
    via: str = "anonymous"  # anonymous | basic | token | oauth
    user_id: int | None = None
    kind: str = "anonymous"  # anonymous | user | robot
    scopes: frozenset[str] | None = None

    @property
    def anonymous(self) -> bool:
        return self.username is None

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


ANONYMOUS = Identity()


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    @staticmethod
    def parse(text: str) -> Scope | None:
        # repository:ns/name:pull,push (the last ':' separates the actions)
        parts = text.split(":")
        if len(parts) < 3:
            return None
        return Scope(parts[0], ":".join(parts[1:-1]), tuple(a for a in parts[-1].split(",") if a))


class DirectoryAuth(Protocol):
    """An external directory (LDAP): checks a password and returns (uid, email) or None."""

    def authenticate(self, username: str, password: str) -> tuple[str, str | None] | None: ...

    def is_superuser(self, username: str) -> bool: ...


class _TTLCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.data: OrderedDict[str, tuple[Any, float, int | None]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, generation: int | None) -> Any:
        with self.lock:
            item = self.data.get(key)
            if item is None:
                return None
            if item[1] < time.monotonic():
                del self.data[key]
                return None
            return item[0] if item[2] == generation else None

    def put(self, key: str, value: Any, ttl: float, generation: int | None) -> None:
        with self.lock:
            self.data[key] = (value, time.monotonic() + ttl, generation)
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class AuthService:
    def __init__(self, store: Store, config: Any, directory: DirectoryAuth | None = None) -> None:
        self.store = store
        self.config = config
        self.identities = IdentityStore(store.engine)
        self.identity = IdentityService(self.identities, config)
        self.directory = directory
        self.server_hostname: str = config["SERVER_HOSTNAME"]
        self.super_users = frozenset(config.get("SUPER_USERS") or ())
        self.anonymous_access = bool(config.get("FEATURE_ANONYMOUS_ACCESS", True))
        self.anonymous_push = bool(config.get("FEATURE_ANONYMOUS_PUSH", False))
        self.create_namespace_on_push = bool(config.get("CREATE_NAMESPACE_ON_PUSH", False))
        self.superusers_full_access = bool(config.get("FEATURE_SUPERUSERS_FULL_ACCESS", False))
        self.token_lifetime = int(config.get("REGISTRY_APP_TOKEN_LIFETIME", 3600))
        # HS256 with a key derived from SECRET_KEY: every app host of one deployment shares it.
        self._jwt_key = hashlib.sha256(b"registry-app docker token v1\0" + config.secret_key.encode()).digest()
        self._token_cache = _TTLCache()
        self._basic_cache = _TTLCache()
        self._dummy_hash = PASSWORDS.hash(secrets.token_hex(8))

    # -- users ---------------------------------------------------------------------------------
    def is_superuser(self, user: UserRow) -> bool:
        return not user.robot and not user.organization and (user.superuser or user.username in self.super_users)

    def create_user(self, username: str, password: str, email: str | None, superuser: bool = False) -> UserRow:
        return self.identity.create_user(username, PASSWORDS.hash(password), email, superuser=superuser)

    def identity_of(self, user: UserRow, via: str, scopes: frozenset[str] | None = None) -> Identity:
        return Identity(
            username=user.username,
            superuser=self.is_superuser(user),
            via=via,
            user_id=user.id,
            kind="robot" if user.robot else "user",
            scopes=scopes,
        )

    def verify_password(self, username: str, password: str) -> Identity:
        """Check Basic credentials of any kind; raise Unauthorized (or TooManyRequests)."""
        # Cached only while the database is provably unchanged (SQLite's change counter): a new
        # password, a deleted user or a regenerated token must stop working at once.
        generation = self.store.generation()
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        cached = self._basic_cache.get(key, generation) if generation is not None else None
        if cached is not None:
            return cached
        try:
            credential = self.identity.token_credential(username, password)
        except IdentityError as exc:
            raise Unauthorized(exc.message) from None
        if credential is not None:
            ident = self.identity_of(
                credential.user, credential.kind if credential.kind != "robot" else "basic", credential.scopes
            )
        else:
            ident = self._check_person(username, password)
        if generation is not None:
            self._basic_cache.put(key, ident, 30.0, generation)
        return ident

    def _check_person(self, username: str, password: str) -> Identity:
        failures, started = self.identities.failed_logins(username, LOGIN_WINDOW_MS)
        if failures >= LOGIN_FAILURES_ALLOWED:
            retry = max(1, (started + LOGIN_WINDOW_MS - int(time.time() * 1000)) // 1000 + 1)
            raise TooManyRequests(
                "too many failed logins for this account; try again later", headers={"Retry-After": str(retry)}
            )
        if self.directory is not None:
            user = self._check_directory(username, password)
        else:
            user = self.identities.get(username)
            ok = (
                user is not None
                and not user.organization
                and not user.robot
                and user.enabled
                and user.password_hash is not None
                and PASSWORDS.verify(password, user.password_hash)
            )
            if user is None or not user.password_hash:
                PASSWORDS.verify(password, self._dummy_hash)  # same cost whether or not the user exists
            if not ok:
                user = None
        if user is None:
            self.identities.record_failed_login(username, LOGIN_WINDOW_MS)
            raise Unauthorized("invalid username or password")
        if failures:
            self.identities.clear_failed_logins(username)
        return self.identity_of(user, "basic")

    def _check_directory(self, username: str, password: str) -> UserRow | None:
        """LDAP: the directory decides; the account is created on first login (linked by uid)."""
        assert self.directory is not None
        found = self.directory.authenticate(username, password)
        if found is None:
            return None
        uid, email = found
        user = self.identities.get_by_federated_uid(uid) or self.identities.get(uid)
        superuser = self.directory.is_superuser(uid)
        if user is None:
            user = self.identity.create_user(uid, None, email, superuser=superuser, federated_uid=uid)
        elif user.superuser != superuser or user.federated_uid != uid:
            self.identities.update_account(user.id, superuser=superuser, federated_uid=uid)
            user = self.identities.get(user.username)
        return user if user is not None and user.enabled else None

    # -- registry tokens -----------------------------------------------------------------------
    def issue_token(
        self, ident: Identity, grants: list[Scope], service: str | None, lifetime: int | None = None
    ) -> tuple[str, int]:
        """A registry token for ``grants``; ``lifetime`` (seconds) defaults to REGISTRY_APP_TOKEN_LIFETIME."""
        now = int(time.time())
        lifetime = self.token_lifetime if lifetime is None else lifetime
        context: dict[str, Any] = {
            "version": 2,
            "kind": ident.kind,
            "user": ident.username,
            "superuser": ident.superuser,
            "user_id": ident.user_id,
        }
        if ident.kind == "robot" and ident.username:
            context["robot_fp"] = self._robot_fingerprint(ident.username)
        claims: dict[str, Any] = {
            "iss": "quay",
            "aud": service or self.server_hostname,
            "sub": ident.username or "(anonymous)",
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
            "access": [{"type": g.type, "name": g.name, "actions": list(g.actions)} for g in grants],
            "context": context,
        }
        return jwt.encode(claims, self._jwt_key, algorithm="HS256"), lifetime

    def _robot_fingerprint(self, name: str) -> str | None:
        robot = self.identities.get(name)
        token = self.identity.robot_token(robot) if robot is not None and robot.robot else None
        return hashlib.sha256(token.encode()).hexdigest()[:16] if token else None

    def verify_token(self, token: str) -> Identity:
        # User tokens are cached until they expire (stored with generation None); robot tokens
        # only while the database is unchanged, so a regenerated robot token is seen at once.
        cached = self._token_cache.get(token, None)
        if cached is None:
            generation = self.store.generation()
            cached = self._token_cache.get(token, generation) if generation is not None else None
        else:
            generation = None
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
        kind = ctx.get("kind") or ("user" if ctx.get("user") else "anonymous")
        if kind == "robot" and ctx.get("robot_fp") != self._robot_fingerprint(str(ctx.get("user"))):
            # The robot was deleted or its token regenerated: its tokens stop working at once.
            raise Unauthorized("the robot account's token has changed; log in again")
        ident = Identity(
            username=ctx.get("user"),
            superuser=bool(ctx.get("superuser")),
            access=access,
            via="token",
            user_id=ctx.get("user_id"),
            kind=kind,
        )
        # Cached per database generation, so a robot change is seen at the next request on SQLite;
        # on PostgreSQL (no generation) robot tokens are re-checked each time.
        ttl = max(1.0, float(claims["exp"]) - time.time())
        if kind != "robot" or generation is not None:
            self._token_cache.put(token, ident, ttl, generation if kind == "robot" else None)
        return ident

    # -- permissions ---------------------------------------------------------------------------
    def namespace(self, name: str) -> UserRow | None:
        return self.identities.get(name)

    def role(self, ident: Identity, namespace: str, repo: RepoRow | None) -> str | None:
        """The caller's role on a repository (``repo`` None: not created yet, in ``namespace``)."""
        if self.anonymous_push:
            return "admin"
        role = self._account_role(ident, namespace, repo)
        if ident.scopes is not None and role is not None:
            cap = max((SCOPE_CAP[s] for s in ident.scopes if s in SCOPE_CAP), key=lambda r: ROLE_ORDER[r], default=None)
            role = role if ROLE_ORDER[role] <= ROLE_ORDER[cap] else cap
        if repo is not None and repo.public and ROLE_ORDER[role] < ROLE_ORDER["read"]:
            if not ident.anonymous or self.anonymous_access:
                role = "read"
        return role

    def _account_role(self, ident: Identity, namespace: str, repo: RepoRow | None) -> str | None:
        if ident.anonymous:
            return None
        if ident.superuser and self.superusers_full_access:
            return "admin"
        if ident.username == namespace:
            return "admin"
        user_id = ident.user_id
        if user_id is None:
            return None
        ns_id = repo.namespace_id if repo is not None else None
        if ns_id is None:
            ns = self.identities.get(namespace)
            if ns is None:
                return None
            ns_id = ns.id
        best: str | None = None
        if self.identities.org_role(user_id, ns_id) == "admin":
            best = "admin"
        elif repo is not None:
            best = self.identities.explicit_role(user_id, repo.id)
        return best

    def org_role(self, ident: Identity, org: UserRow) -> str | None:
        """'admin', 'creator', 'member' or None for an organization (superusers are admin with
        FEATURE_SUPERUSERS_FULL_ACCESS)."""
        if ident.superuser and self.superusers_full_access:
            return "admin"
        if ident.user_id is None:
            return None
        return self.identities.org_role(ident.user_id, org.id)

    def can_create(self, ident: Identity, namespace: str, namespace_exists: bool) -> bool:
        if self.anonymous_push:
            return True
        if ident.anonymous or (not ident.has_scope("repo:create") and ident.scopes is not None):
            return False
        if (ident.superuser and self.superusers_full_access) or ident.username == namespace:
            return True
        if not namespace_exists:
            return self.create_namespace_on_push and ident.kind == "user"
        ns = self.identities.get(namespace)
        if ns is None or not ns.organization or ident.user_id is None:
            return False
        return self.identities.org_role(ident.user_id, ns.id) in ("admin", "creator")

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
            elif repo is None and action == "pull" and self.can_create(ident, namespace, namespace_exists):
                granted.append(action)  # pull of what one is about to create
        return tuple(granted)

    def token_allows(self, ident: Identity, repo_name: str, action: str) -> bool:
        assert ident.access is not None
        actions = ident.access.get(repo_name, frozenset())
        if action == "delete" and "push" in actions:  # Quay's tokens carry pull, push and * only
            return True
        return action in actions or "*" in actions

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

import dataclasses
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from registry_app.db.identity import IdentityStore
from registry_app.db.store import RepoRow, Store, UserRow
from registry_app.services.credentials import AccountState, AccountStates, Miss, Ref
from registry_app.services.errors import Unauthorized
from registry_app.services.identity import Credential, IdentityError, IdentityService
from registry_app.services.passwords import PASSWORDS  # argon2id; bcrypt for hashes from Quay
from registry_app.services.throttle import LoginThrottle, address_key
from registry_app.settings.auth import AuthSettings
from registry_app.settings.keys import Secrets
from registry_app.settings.tags import TagSettings

ROLE_ORDER = {None: 0, "read": 1, "write": 2, "admin": 3}
# Deleting tags, manifests and blobs over /v2 needs write, as in Quay (a token with push may delete).
ACTION_ROLE = {"pull": "read", "push": "write", "delete": "write", "*": "admin"}
SCOPE_CAP = {"repo:read": "read", "repo:write": "write", "repo:admin": "admin"}
TOKEN_ISSUER = "quay"  # noqa: S105 - not a secret: the issuer Quay names in its registry tokens
TOKEN_CONTEXT_VERSION = 3  # 3: the context names the credential ("cred") and its fingerprint ("fp")
# How long a verified password is remembered. Database passwords: while the account's fingerprint
# (which covers the password hash) is unchanged, so this only bounds memory. LDAP passwords live
# in the directory, which cannot tell us of a change: a changed or locked directory password is
# seen within this time (a user disabled here, at once).
PASSWORD_CACHE_S = 600.0
DIRECTORY_CACHE_S = 30.0


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
    # The credential this identity was established with and its fingerprint then
    # (services/credentials.py): registry tokens carry both, and each use re-checks them.
    credential: Ref | None = None
    fingerprint: str | None = None

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
    """A bounded map whose entries end after their own time to live (least recently used go first
    when it is full)."""

    def __init__(self, size: int = 4096, lru: bool = True) -> None:
        self.size = size
        self.lru = lru  # False: the oldest entries go first (cheaper reads, for the pull path)
        self.data: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self.lock:
            item = self.data.get(key)
            if item is None:
                return None
            if item[1] < time.monotonic():
                del self.data[key]
                return None
            if self.lru:
                self.data.move_to_end(key)
            return item[0]

    def put(self, key: str, value: Any, ttl: float) -> None:
        with self.lock:
            self.data[key] = (value, time.monotonic() + ttl)
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class _Remembered:
    """A verified Basic credential and the database generation at its last check (None: unknown)."""

    __slots__ = ("checked", "ident")

    def __init__(self, ident: Identity, checked: int | None) -> None:
        self.ident = ident
        self.checked = checked


@dataclass(frozen=True)
class _Decoded:
    """A verified registry token: the identity as issued and the audiences it names."""

    ident: Identity
    audiences: frozenset[str]


class AuthService:
    def __init__(
        self,
        store: Store,
        settings: AuthSettings,
        keys: Secrets,
        tags: TagSettings | None = None,
        directory: DirectoryAuth | None = None,
    ) -> None:
        """``keys``: SECRET_KEY signs registry tokens and keys credential fingerprints;
        DATABASE_SECRET_KEY encrypts robot and app tokens (IdentityService). ``tags``: the
        namespaces' tag expiration default and choices."""
        self.store = store
        self.settings = settings
        self.identities = IdentityStore(store.engine)
        self.identity = IdentityService(self.identities, keys, tags or TagSettings())
        self.directory = directory
        self.server_hostname: str = settings.service
        self.super_users = settings.super_users
        self.anonymous_access = settings.anonymous_access
        self.anonymous_push = settings.anonymous_push
        self.public_catalog = settings.public_catalog
        self.create_namespace_on_push = settings.create_namespace_on_push
        self.superusers_full_access = settings.superusers_full_access
        self.token_lifetime = settings.token_lifetime_s
        # HS256 with a key derived from SECRET_KEY: every app host of one deployment shares it.
        self._jwt_key = hashlib.sha256(b"registry-app docker token v1\0" + keys.secret_key.encode()).digest()
        self.accounts = AccountStates(
            store,
            self.identities,
            self.identity.robot_token,
            self.is_superuser,
            key=hashlib.sha256(b"registry-app credential fingerprint v1\0" + keys.secret_key.encode()).digest(),
            cache_seconds=settings.account_cache_s,
        )
        self.throttle = LoginThrottle(self.identities, settings.throttle)
        # argon2 is CPU-bound (and releases the GIL): more checks at once than CPUs only queue up
        # inside the hash and hold threads other requests need.
        self.hash_slots = max(1, os.cpu_count() or 1)
        self._hash_gate = threading.BoundedSemaphore(self.hash_slots)
        self._token_cache = _TTLCache(lru=False)
        self._basic_cache = _TTLCache()
        self._basic_key = secrets.token_bytes(32)  # cache keys: an HMAC, not a plain hash of passwords
        self._dummy_hash = PASSWORDS.hash(secrets.token_hex(8))

    # -- users ---------------------------------------------------------------------------------
    def is_superuser(self, user: UserRow) -> bool:
        return not user.robot and not user.organization and (user.superuser or user.username in self.super_users)

    def create_user(self, username: str, password: str, email: str | None, superuser: bool = False) -> UserRow:
        return self.identity.create_user(username, PASSWORDS.hash(password), email, superuser=superuser)

    def identity_of(
        self,
        user: UserRow,
        via: str,
        scopes: frozenset[str] | None = None,
        credential: Ref | None = None,
        fingerprint: str | None = None,
    ) -> Identity:
        return Identity(
            username=user.username,
            superuser=self.is_superuser(user),
            via=via,
            user_id=user.id,
            kind="robot" if user.robot else "user",
            scopes=scopes,
            credential=credential,
            fingerprint=fingerprint,
        )

    @staticmethod
    def _current(ident: Identity, state: AccountState | None) -> Identity | None:
        """``ident`` as of ``state`` (superuser as it is now); None when its credential changed."""
        if state is None or state.fingerprint != ident.fingerprint or not state.alive():
            return None
        return ident if ident.superuser == state.superuser else dataclasses.replace(ident, superuser=state.superuser)

    # -- passwords and other Basic credentials ---------------------------------------------------
    # A verified credential is remembered per client address, with the fingerprint of its account
    # (services/credentials.py) and the database generation at which it was last checked. Writes
    # elsewhere in the database do not void it, while a changed password, a disabled or deleted
    # user, a revoked token or a regenerated robot token stop it at once. Remembering it per
    # address keeps the throttle whole: a locked-out address is refused even the right password.
    def _cache_key(self, username: str, password: str, address: str) -> str:
        text = f"{username}\0{password}\0{address}".encode()
        return hmac.new(self._basic_key, text, hashlib.sha256).hexdigest()

    def cached_password_identity(self, username: str, password: str, address: str | None = None) -> Identity | None:
        """verify_password answered from memory alone (no I/O: safe on the event loop) while
        nothing at all changed in the database since the credential was last checked; else None."""
        found: _Remembered | None = self._basic_cache.get(self._cache_key(username, password, address_key(address)))
        if found is None:
            return None
        generation = self.store.generation()
        return found.ident if generation is not None and generation == found.checked else None

    def recheck_password(self, username: str, password: str, address: str | None = None) -> Identity | None:
        """A remembered credential checked against its account's current state and, for a
        person's password, the throttle: a query or two, no hashing. None: verify in full."""
        address = address_key(address)
        found: _Remembered | None = self._basic_cache.get(self._cache_key(username, password, address))
        if found is None or found.ident.credential is None:
            return None
        generation = self.store.generation()  # before the reads: a write after them moves it on
        if generation is not None and generation == found.checked:
            return found.ident
        ident = self._current(found.ident, self.accounts.get(found.ident.credential, fresh=True))
        if ident is None:
            return None
        if ident.credential is not None and ident.credential.kind == "user":
            self.throttle.check(username, address)
        found.ident, found.checked = ident, generation
        return ident

    def verify_password(self, username: str, password: str, address: str | None = None) -> Identity:
        """Check Basic credentials of any kind; raise Unauthorized (or TooManyRequests).
        ``address`` is the client's: the throttle counts failures per account and address."""
        ident = self.recheck_password(username, password, address)
        if ident is not None:
            return ident
        address = address_key(address)
        generation = self.store.generation()
        try:
            credential = self.identity.token_credential(username, password)
        except IdentityError as exc:
            raise Unauthorized(exc.message) from None
        if credential is not None:
            ident = self._token_credential_identity(credential, password)
        else:
            ident = self._check_person(username, password, address)
        ttl = DIRECTORY_CACHE_S if self.directory is not None and credential is None else PASSWORD_CACHE_S
        self._basic_cache.put(self._cache_key(username, password, address), _Remembered(ident, generation), ttl)
        return ident

    def _token_credential_identity(self, credential: Credential, password: str) -> Identity:
        user = credential.user
        if credential.kind == "robot":
            ref = Ref("robot", user.id)
            return self.identity_of(user, "basic", None, ref, self.accounts.robot_fingerprint(user, password))
        ref = Ref(credential.kind, user.id, credential.token_id)
        return self.identity_of(user, credential.kind, credential.scopes, ref, self.accounts.fingerprint(ref, user))

    def _verify_hash(self, password: str, password_hash: str) -> bool:
        with self._hash_gate:
            return bool(PASSWORDS.verify(password, password_hash))

    def _check_person(self, username: str, password: str, address: str) -> Identity:
        had_failures = self.throttle.check(username, address)
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
                and self._verify_hash(password, user.password_hash)
            )
            if user is None or not user.password_hash:
                self._verify_hash(password, self._dummy_hash)  # same cost whether or not the user exists
            if not ok:
                user = None
        if user is None:
            self.throttle.failed(username, address)
            raise Unauthorized("invalid username or password")
        if had_failures:
            self.throttle.succeeded(username, address)
        ref = Ref("user", user.id)
        return self.identity_of(user, "basic", None, ref, self.accounts.user_fingerprint(user))

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
        """A registry token for ``grants``; ``lifetime`` (seconds) defaults to REGISTRY_APP_TOKEN_LIFETIME.
        The audience is ``service`` as the client asked (Quay does the same); only tokens for this
        registry's service are accepted back."""
        now = int(time.time())
        lifetime = self.token_lifetime if lifetime is None else lifetime
        context: dict[str, Any] = {
            "version": TOKEN_CONTEXT_VERSION,
            "kind": ident.kind,
            "user": ident.username,
            "superuser": ident.superuser,
            "user_id": ident.user_id,
        }
        if ident.credential is not None:
            context["cred"] = ident.credential.to_claim()
            context["fp"] = ident.fingerprint
        claims: dict[str, Any] = {
            "iss": TOKEN_ISSUER,
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

    def cached_token_identity(
        self, token: str, service: str | None = None, generation: int | None = None
    ) -> Identity | None:
        """verify_token without I/O (safe on the event loop): None when the account's state has to
        be read first. Raises Unauthorized for a token that is no good whatever that state.
        ``generation``: Store.generation() if the caller has just read it."""
        decoded = self._decode(token, service)
        ref = decoded.ident.credential
        if ref is None:
            return decoded.ident
        state = self.accounts.peek(ref, generation=generation)
        return None if isinstance(state, Miss) else self._token_identity(decoded, state)

    def verify_token(self, token: str, service: str | None = None) -> Identity:
        """The identity a registry token stands for, as its account is now. ``service`` is the one
        the request was challenged with (the embedded default names the Host the client used);
        a token must name it or SERVER_HOSTNAME as its audience."""
        decoded = self._decode(token, service)
        ref = decoded.ident.credential
        if ref is None:
            return decoded.ident
        return self._token_identity(decoded, self.accounts.get(ref))

    @staticmethod
    def _token_identity(decoded: _Decoded, state: AccountState | None) -> Identity:
        ident = AuthService._current(decoded.ident, state)
        if ident is None:
            # Deleted, disabled, password changed, token revoked or regenerated: log in again.
            raise Unauthorized("the credentials this token was issued for are no longer valid; log in again")
        return ident

    def _decode(self, token: str, service: str | None) -> _Decoded:
        decoded: _Decoded | None = self._token_cache.get(token)
        if decoded is None:
            decoded = self._decode_uncached(token)
        if self.server_hostname not in decoded.audiences and (service is None or service not in decoded.audiences):
            raise Unauthorized("invalid bearer token: the token was issued for another service")
        return decoded

    def _decode_uncached(self, token: str) -> _Decoded:
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=["HS256"],
                issuer=TOKEN_ISSUER,
                options={"require": ["exp", "iss", "aud"], "verify_aud": False},
                leeway=10,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from None
        aud = claims["aud"]
        aud_list = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        audiences = frozenset(a for a in aud_list if isinstance(a, str))
        entries, ctx = claims.get("access", []), claims.get("context", {})
        if not isinstance(entries, list) or not isinstance(ctx, dict):
            raise Unauthorized("invalid bearer token: malformed access or context claim")
        access: dict[str, frozenset[str]] = {}
        for entry in entries:
            name, actions = (entry.get("name"), entry.get("actions")) if isinstance(entry, dict) else (None, None)
            if not isinstance(name, str) or not isinstance(actions, list):
                raise Unauthorized("invalid bearer token: malformed access claim")
            granted = frozenset(a for a in actions if isinstance(a, str))
            if entry.get("type") == "repository":
                access[name] = access.get(name, frozenset()) | granted
            elif entry.get("type") == "registry":
                access[f"registry:{name}"] = granted
        kind = ctx.get("kind") or ("user" if ctx.get("user") else "anonymous")
        credential = fingerprint = None
        if kind not in ("anonymous", "user", "robot"):
            raise Unauthorized("invalid bearer token: unknown kind of account")
        if kind != "anonymous":
            credential = Ref.from_claim(ctx.get("cred"))
            fingerprint = ctx.get("fp")
            if (
                credential is None
                or credential.account != ctx.get("user_id")
                or (credential.kind == "robot") != (kind == "robot")
                or not isinstance(ctx.get("user"), str)
                or not isinstance(fingerprint, str)
            ):
                # Tokens from before credentials were re-checked (context version 2) included.
                raise Unauthorized("invalid bearer token: it does not name its credential; log in again")
        user, user_id = ctx.get("user"), ctx.get("user_id")
        ident = Identity(
            username=user if isinstance(user, str) else None,
            superuser=bool(ctx.get("superuser")),
            access=access,
            via="token",
            user_id=user_id if isinstance(user_id, int) else None,
            kind=kind,
            credential=credential,
            fingerprint=fingerprint,
        )
        decoded = _Decoded(ident, audiences)
        self._token_cache.put(token, decoded, max(1.0, float(claims["exp"]) - time.time()))
        return decoded

    # -- permissions ---------------------------------------------------------------------------
    def namespace(self, name: str) -> UserRow | None:
        return self.identities.get(name)

    def role(self, ident: Identity, namespace: str, repo: RepoRow | None, include_public: bool = True) -> str | None:
        """The caller's role on a repository (``repo`` None: not created yet, in ``namespace``).
        ``include_public`` False leaves out the read role everyone has on public repositories."""
        if self.anonymous_push:
            return "admin"
        role = self._account_role(ident, namespace, repo)
        if ident.scopes is not None and role is not None:
            cap = max((SCOPE_CAP[s] for s in ident.scopes if s in SCOPE_CAP), key=lambda r: ROLE_ORDER[r], default=None)
            role = role if ROLE_ORDER[role] <= ROLE_ORDER[cap] else cap
        if include_public and repo is not None and repo.public and ROLE_ORDER[role] < ROLE_ORDER["read"]:
            if not ident.anonymous or self.anonymous_access:
                role = "read"
        return role

    def may_list_catalog(self, ident: Identity) -> bool:
        """Whether ``GET /v2/_catalog`` answers this caller (anonymous ones only with
        FEATURE_PUBLIC_CATALOG and FEATURE_ANONYMOUS_ACCESS; the others are challenged)."""
        if ident.anonymous:
            return self.anonymous_push or (self.public_catalog and self.anonymous_access)
        if ident.access is not None:  # a registry token: only one that grants the catalog
            return "*" in ident.access.get("registry:catalog", frozenset())
        return True

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

"""Who may sign in and do what: the authentication type, superusers, anonymous access, what a
push may create, registry and app-specific tokens, the login throttle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_app.settings.units import optional_duration

DEFAULT_TOKEN_LIFETIME_S = 3600
DEFAULT_ACCOUNT_CACHE_S = 5.0
DEFAULT_PER_ADDRESS = 5
DEFAULT_PER_ACCOUNT = 30
DEFAULT_WINDOW_S = 60


@dataclass(frozen=True)
class ThrottleSettings:
    """Failed password logins allowed per client address and per account within the window
    (``services/throttle.py``)."""

    per_address: int = DEFAULT_PER_ADDRESS  # REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS
    per_account: int = DEFAULT_PER_ACCOUNT  # REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT
    window_s: int = DEFAULT_WINDOW_S  # REGISTRY_APP_LOGIN_FAILURE_WINDOW

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ThrottleSettings:
        return cls(
            per_address=int(values.get("REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS", DEFAULT_PER_ADDRESS)),
            per_account=int(values.get("REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT", DEFAULT_PER_ACCOUNT)),
            window_s=int(values.get("REGISTRY_APP_LOGIN_FAILURE_WINDOW", DEFAULT_WINDOW_S)),
        )


@dataclass(frozen=True)
class AuthSettings:
    """Quay's keys and defaults (the embedded default turns ``superusers_full_access`` on).
    ``service`` is the registry tokens' service and audience: SERVER_HOSTNAME."""

    service: str
    authentication_type: str = "Database"  # AUTHENTICATION_TYPE: Database | LDAP
    super_users: frozenset[str] = frozenset()  # SUPER_USERS
    superusers_full_access: bool = False  # FEATURE_SUPERUSERS_FULL_ACCESS
    anonymous_access: bool = True  # FEATURE_ANONYMOUS_ACCESS
    anonymous_push: bool = False  # FEATURE_ANONYMOUS_PUSH (registry_app extension)
    public_catalog: bool = False  # FEATURE_PUBLIC_CATALOG
    create_namespace_on_push: bool = False  # CREATE_NAMESPACE_ON_PUSH
    create_private_repo_on_push: bool = True  # CREATE_PRIVATE_REPO_ON_PUSH
    user_creation: bool = True  # FEATURE_USER_CREATION
    user_initialize: bool = False  # FEATURE_USER_INITIALIZE
    xhr_only: bool = True  # BROWSER_API_CALLS_XHR_ONLY
    token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S  # REGISTRY_APP_TOKEN_LIFETIME
    account_cache_s: float = DEFAULT_ACCOUNT_CACHE_S  # REGISTRY_APP_ACCOUNT_CACHE_SECONDS
    app_tokens: bool = True  # FEATURE_APP_SPECIFIC_TOKENS
    app_token_lifetime_s: int | None = None  # APP_SPECIFIC_TOKEN_EXPIRATION (None: no expiry)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)

    @property
    def database_users(self) -> bool:
        """Users and passwords live in the database (not in LDAP)."""
        return self.authentication_type == "Database"

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> AuthSettings:
        return cls(
            service=str(values["SERVER_HOSTNAME"]),
            authentication_type=str(values.get("AUTHENTICATION_TYPE") or "Database"),
            super_users=frozenset(str(u) for u in values.get("SUPER_USERS") or ()),
            superusers_full_access=bool(values.get("FEATURE_SUPERUSERS_FULL_ACCESS", False)),
            anonymous_access=bool(values.get("FEATURE_ANONYMOUS_ACCESS", True)),
            anonymous_push=bool(values.get("FEATURE_ANONYMOUS_PUSH", False)),
            public_catalog=bool(values.get("FEATURE_PUBLIC_CATALOG", False)),
            create_namespace_on_push=bool(values.get("CREATE_NAMESPACE_ON_PUSH", False)),
            create_private_repo_on_push=bool(values.get("CREATE_PRIVATE_REPO_ON_PUSH", True)),
            user_creation=bool(values.get("FEATURE_USER_CREATION", True)),
            user_initialize=bool(values.get("FEATURE_USER_INITIALIZE", False)),
            xhr_only=bool(values.get("BROWSER_API_CALLS_XHR_ONLY", True)),
            token_lifetime_s=int(values.get("REGISTRY_APP_TOKEN_LIFETIME", DEFAULT_TOKEN_LIFETIME_S)),
            account_cache_s=float(values.get("REGISTRY_APP_ACCOUNT_CACHE_SECONDS", DEFAULT_ACCOUNT_CACHE_S)),
            app_tokens=bool(values.get("FEATURE_APP_SPECIFIC_TOKENS", True)),
            app_token_lifetime_s=optional_duration(values.get("APP_SPECIFIC_TOKEN_EXPIRATION")),
            throttle=ThrottleSettings.from_values(values),
        )

"""The web UI's side of the configuration: sign-in sessions, what ``GET /config`` shows the UI,
and the OpenID Connect providers of ``*_LOGIN_CONFIG`` (checked here, beside their settings, so
the loader imports no service)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from registry_app.settings.units import parse_duration

# Quay's CLIENT_WHITELIST, the keys registry_app knows. No secret may ever be listed here.
VISIBLE_KEYS = (
    "SERVER_HOSTNAME",
    "PREFERRED_URL_SCHEME",
    "AUTHENTICATION_TYPE",
    "REGISTRY_TITLE",
    "REGISTRY_TITLE_SHORT",
    "TAG_EXPIRATION_OPTIONS",
    "DEFAULT_TAG_EXPIRATION",
)
# What /config shows for a visible key the configuration leaves out (Quay's defaults).
VISIBLE_DEFAULTS = {"PREFERRED_URL_SCHEME": "http", "AUTHENTICATION_TYPE": "Database", "DEFAULT_TAG_EXPIRATION": "2w"}
# Features the UI shows or hides screens by, with registry_app's defaults.
FEATURES = {
    "USER_CREATION": True,
    "USER_INITIALIZE": False,
    "ANONYMOUS_ACCESS": True,
    "SECURITY_SCANNER": False,
    "SUPERUSERS_FULL_ACCESS": False,
    "DIRECT_LOGIN": True,
    "APP_SPECIFIC_TOKENS": True,
    "CHANGE_TAG_EXPIRATION": True,
}

CONFIG_SUFFIX = "_LOGIN_CONFIG"
NOT_OIDC = frozenset({"GITHUB_LOGIN_CONFIG", "GOOGLE_LOGIN_CONFIG"})  # Quay's OAuth (not OIDC) services
RESERVED_PREFIXES = frozenset({"ldap", "jwt", "keystone"})  # Quay refuses these names


def oidc_config_keys(values: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in values if k.endswith(CONFIG_SUFFIX) and k not in NOT_OIDC)


def oidc_config_problems(values: Mapping[str, Any]) -> list[str]:
    """What config validation reports about ``*_LOGIN_CONFIG`` beyond the schema."""
    problems = []
    for key in oidc_config_keys(values):
        prefix = key[: -len(CONFIG_SUFFIX)].lower()
        entry = values.get(key)
        if prefix in RESERVED_PREFIXES:
            problems.append(f"{key}: the name {prefix} is reserved (as in Quay)")
        if not isinstance(entry, dict):
            continue
        server = entry.get("OIDC_SERVER")
        if isinstance(server, str) and not server.startswith("https://"):
            problems.append(f"{key}.OIDC_SERVER: must be an https:// URL (as in Quay)")
        if not entry.get("CLIENT_SECRET") and not entry.get("PUBLIC_CLIENT"):
            problems.append(f"{key}.CLIENT_SECRET: required unless PUBLIC_CLIENT is true")
    return problems


@dataclass(frozen=True)
class WebSettings:
    """``public_config`` and ``features`` are what ``GET /config`` answers; ``login_configs`` the
    ``*_LOGIN_CONFIG`` entries as written (client secrets inside: left out of the repr)."""

    session_lifetime_s: int = 31 * 86400  # SESSION_TIMEOUT (31d)
    fresh_login_s: int = 600  # FRESH_LOGIN_TIMEOUT (10m)
    cookie_secure: bool = False  # https URLs or SESSION_COOKIE_SECURE
    public_config: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, bool] = field(default_factory=dict)
    login_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], scheme: str) -> WebSettings:
        features = {name: bool(values.get(f"FEATURE_{name}", default)) for name, default in FEATURES.items()}
        database_users = values.get("AUTHENTICATION_TYPE", "Database") == "Database"
        features["USER_CREATION"] = features["USER_CREATION"] and database_users
        return cls(
            session_lifetime_s=parse_duration(str(values.get("SESSION_TIMEOUT") or "31d")),
            fresh_login_s=parse_duration(str(values.get("FRESH_LOGIN_TIMEOUT") or "10m")),
            cookie_secure=scheme == "https" or bool(values.get("SESSION_COOKIE_SECURE")),
            public_config=MappingProxyType(
                {k: v for k in VISIBLE_KEYS if (v := values.get(k, VISIBLE_DEFAULTS.get(k))) is not None}
            ),
            features=MappingProxyType(features),
            login_configs=MappingProxyType({k: dict(values[k]) for k in oidc_config_keys(values)}),
        )

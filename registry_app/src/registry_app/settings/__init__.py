"""Typed settings: a validated config.yaml decided once into frozen settings per area.

The loader (``config.py``) validates ``config.yaml`` against the schema and the checks beside
each area (``ldap_problems``, ``scanner_problems``), then ``settings_from_values`` builds one
``Settings``: every default and every derived value (the external URL scheme, Quay's fallback
keys, durations in seconds, the decoded PSK) is decided here and nowhere else. Downstream, the
composition (``wiring.py``) hands each service, worker and handler its area's settings; nothing
reads a raw key. As distribution parses its configuration once into a typed struct.

This package imports nothing of registry_app outside itself, so every layer may import it.
Secrets (keys, passwords, the database URI, storage parameters, the PSK) are left out of every
repr, so a logged Settings shows none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_app.settings.auth import AuthSettings, ThrottleSettings
from registry_app.settings.database import DatabaseSettings
from registry_app.settings.gc import GcSettings
from registry_app.settings.keys import Secrets
from registry_app.settings.ldap import LdapSettings
from registry_app.settings.limits import LimitSettings
from registry_app.settings.metrics import MetricsSettings
from registry_app.settings.notifications import MailSettings, NotificationSettings
from registry_app.settings.pull_stats import PullStatsSettings
from registry_app.settings.quota import QuotaSettings
from registry_app.settings.redis import RedisSettings
from registry_app.settings.scanner import ScannerSettings
from registry_app.settings.server import ServerSettings
from registry_app.settings.storage import StorageSettings
from registry_app.settings.tag_policy import TagPolicySettings
from registry_app.settings.tags import TagSettings
from registry_app.settings.uploads import UploadSettings
from registry_app.settings.web import WebSettings


@dataclass(frozen=True)
class Settings:
    """Everything the registry takes from its configuration. ``ldap`` is None unless
    AUTHENTICATION_TYPE is LDAP; ``scanner`` None unless FEATURE_SECURITY_SCANNER is on."""

    server: ServerSettings
    database: DatabaseSettings
    storage: StorageSettings
    auth: AuthSettings
    secrets: Secrets
    limits: LimitSettings
    uploads: UploadSettings
    tags: TagSettings
    web: WebSettings = field(default_factory=WebSettings)
    ldap: LdapSettings | None = None
    scanner: ScannerSettings | None = None
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    quota: QuotaSettings | None = None  # None unless FEATURE_QUOTA_MANAGEMENT is on
    gc: GcSettings = field(default_factory=GcSettings)
    redis: RedisSettings | None = None  # USER_EVENTS_REDIS / BUILDLOGS_REDIS; None: no Redis
    pull_stats: PullStatsSettings = field(default_factory=PullStatsSettings)
    tag_policy: TagPolicySettings = field(default_factory=TagPolicySettings)


def settings_from_values(
    values: Mapping[str, Any],
    *,
    data_dir: Path,
    config_dir: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> Settings:
    """The settings of a validated config.yaml (``values``, as written plus the generated
    SECRET_KEY) and its bundle's files. Keys that are absent take their defaults here."""
    server = ServerSettings.from_values(
        values, data_dir=data_dir, config_dir=config_dir, tls_cert=tls_cert, tls_key=tls_key
    )
    auth = AuthSettings.from_values(values)
    return Settings(
        server=server,
        database=DatabaseSettings.from_values(values),
        storage=StorageSettings.from_values(values),
        auth=auth,
        secrets=Secrets.from_values(values),
        limits=LimitSettings.from_values(values),
        uploads=UploadSettings.from_values(values),
        tags=TagSettings.from_values(values),
        tag_policy=TagPolicySettings.from_values(values),
        web=WebSettings.from_values(values, server.scheme),
        ldap=LdapSettings.from_values(values, config_dir) if auth.authentication_type == "LDAP" else None,
        scanner=ScannerSettings.from_values(values, server.hostname, server.scheme),
        metrics=MetricsSettings.from_values(values),
        notifications=NotificationSettings.from_values(values, server.scheme, server.hostname, config_dir),
        quota=(
            QuotaSettings.from_values(values, server.hostname, server.scheme)
            if values.get("FEATURE_QUOTA_MANAGEMENT")
            else None
        ),
        gc=GcSettings.from_values(values),
        redis=RedisSettings.from_values(values),
        pull_stats=PullStatsSettings.from_values(values),
    )


__all__ = [
    "AuthSettings",
    "DatabaseSettings",
    "GcSettings",
    "LdapSettings",
    "LimitSettings",
    "MailSettings",
    "MetricsSettings",
    "NotificationSettings",
    "PullStatsSettings",
    "QuotaSettings",
    "RedisSettings",
    "ScannerSettings",
    "Secrets",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "TagPolicySettings",
    "TagSettings",
    "ThrottleSettings",
    "UploadSettings",
    "WebSettings",
    "settings_from_values",
]

"""Repository notifications and e-mail: Quay's FEATURE_MAILING and MAIL_* (the SMTP server the
``email`` method sends through), NOTIFICATION_SEND_TIMEOUT and WEBHOOK_HOSTNAME_BLACKLIST, and the
notification worker's registry_app keys (interval, retry backoff, attempts, expiry scan period).
Defaults are Quay's where Quay has the key (docs/architecture.md, "Repository notifications")."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOSTNAME_BLACKLIST = ("localhost", "127.0.0.1")  # Quay's, plus WEBHOOK_HOSTNAME_BLACKLIST
DEFAULT_SEND_TIMEOUT_S = 10.0  # Quay's NOTIFICATION_SEND_TIMEOUT
DEFAULT_SENDER = "admin@example.com"  # Quay's MAIL_DEFAULT_SENDER


@dataclass(frozen=True)
class MailSettings:
    """The SMTP server of the ``email`` method. The password is left out of every repr."""

    server: str = "localhost"
    port: int = 587
    use_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    timeout_s: float = DEFAULT_SEND_TIMEOUT_S

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> MailSettings:
        return cls(
            server=str(values.get("MAIL_SERVER") or "localhost"),
            port=int(values.get("MAIL_PORT") or 587),
            use_tls=bool(values.get("MAIL_USE_TLS", False)),
            username=values.get("MAIL_USERNAME") or None,
            password=values.get("MAIL_PASSWORD") or None,
            sender=str(values.get("MAIL_DEFAULT_SENDER") or DEFAULT_SENDER),
            timeout_s=_number(values, "NOTIFICATION_SEND_TIMEOUT", DEFAULT_SEND_TIMEOUT_S),
        )


@dataclass(frozen=True)
class NotificationSettings:
    """What the notification service and worker need. ``scheme`` and ``hostname`` are the
    registry's own (links in payloads); ``interval_s`` 0 turns the worker off; a failed delivery
    waits ``retry_after_s`` doubled per attempt (at most an hour), ``max_attempts`` in all (Quay's
    queue: 5 retries); ``extra_ca_dir`` is the bundle's extra_ca_certs for HTTPS and STARTTLS."""

    scheme: str = "http"
    hostname: str = "localhost"
    mailing: bool = False  # FEATURE_MAILING
    mail: MailSettings = field(default_factory=MailSettings)
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S
    interval_s: float = 10.0  # Quay's notification worker polls every 10 s
    retry_after_s: float = 30.0  # Quay's retry_after_seconds; doubled per attempt
    max_attempts: int = 5
    expiry_scan_s: float = 3600.0
    hostname_blacklist: tuple[str, ...] = HOSTNAME_BLACKLIST
    extra_ca_dir: Path | None = None

    @property
    def worker_off_because(self) -> str | None:
        """Why the configuration leaves the ``notifications`` worker off; None when it is on."""
        return "REGISTRY_APP_NOTIFICATION_INTERVAL is 0" if self.interval_s == 0 else None

    @classmethod
    def from_values(
        cls, values: Mapping[str, Any], scheme: str, hostname: str, config_dir: Path | None = None
    ) -> NotificationSettings:
        extra = values.get("WEBHOOK_HOSTNAME_BLACKLIST") or []
        return cls(
            scheme=scheme,
            hostname=hostname,
            mailing=bool(values.get("FEATURE_MAILING", False)),
            mail=MailSettings.from_values(values),
            send_timeout_s=_number(values, "NOTIFICATION_SEND_TIMEOUT", DEFAULT_SEND_TIMEOUT_S),
            interval_s=_number(values, "REGISTRY_APP_NOTIFICATION_INTERVAL", 10.0),
            retry_after_s=_number(values, "REGISTRY_APP_NOTIFICATION_RETRY_AFTER", 30.0),
            max_attempts=int(_number(values, "REGISTRY_APP_NOTIFICATION_MAX_ATTEMPTS", 5)),
            expiry_scan_s=_number(values, "REGISTRY_APP_NOTIFICATION_EXPIRY_SCAN_INTERVAL", 3600.0),
            hostname_blacklist=HOSTNAME_BLACKLIST + tuple(str(h).lower() for h in extra),
            extra_ca_dir=config_dir / "extra_ca_certs" if config_dir is not None else None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The system's CAs plus every file in the bundle's extra_ca_certs (read when called)."""
        ctx = ssl.create_default_context()
        if self.extra_ca_dir is not None and self.extra_ca_dir.is_dir():
            for pem in sorted(self.extra_ca_dir.iterdir()):
                if pem.is_file():
                    ctx.load_verify_locations(cafile=str(pem))
        return ctx


def _number(values: Mapping[str, Any], key: str, default: float) -> float:
    value = values.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

"""Quota settings (FEATURE_QUOTA_MANAGEMENT, DEFAULT_SYSTEM_REJECT_QUOTA_BYTES; services/quota.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QuotaSettings:
    enabled: bool  # FEATURE_QUOTA_MANAGEMENT
    default_reject_bytes: int  # DEFAULT_SYSTEM_REJECT_QUOTA_BYTES (0: none)
    scheme: str  # the external scheme, for the events' homepage
    hostname: str  # SERVER_HOSTNAME

    @classmethod
    def from_values(cls, values: Mapping[str, Any], hostname: str, scheme: str) -> QuotaSettings:
        return cls(
            enabled=bool(values.get("FEATURE_QUOTA_MANAGEMENT", False)),
            default_reject_bytes=int(values.get("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES") or 0),
            scheme=scheme,
            hostname=hostname,
        )

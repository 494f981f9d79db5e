"""Bounds on what one request may send (docs/security.md, "Limits")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_MANIFEST_SIZE = 4 * 1024 * 1024
DEFAULT_MAX_API_BODY_SIZE = 1024 * 1024
DEFAULT_BODY_IDLE_TIMEOUT_S = 60


@dataclass(frozen=True)
class LimitSettings:
    max_manifest_size: int = DEFAULT_MAX_MANIFEST_SIZE  # REGISTRY_APP_MAX_MANIFEST_SIZE, bytes
    max_api_body_size: int = DEFAULT_MAX_API_BODY_SIZE  # REGISTRY_APP_MAX_API_BODY_SIZE, bytes
    body_idle_timeout_s: float = DEFAULT_BODY_IDLE_TIMEOUT_S  # REGISTRY_APP_BODY_IDLE_TIMEOUT

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> LimitSettings:
        return cls(
            max_manifest_size=int(values.get("REGISTRY_APP_MAX_MANIFEST_SIZE", DEFAULT_MAX_MANIFEST_SIZE)),
            max_api_body_size=int(values.get("REGISTRY_APP_MAX_API_BODY_SIZE", DEFAULT_MAX_API_BODY_SIZE)),
            body_idle_timeout_s=float(values.get("REGISTRY_APP_BODY_IDLE_TIMEOUT", DEFAULT_BODY_IDLE_TIMEOUT_S)),
        )

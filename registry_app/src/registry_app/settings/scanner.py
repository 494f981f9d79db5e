"""Security scanning through Clair v4 (``FEATURE_SECURITY_SCANNER``): Quay's keys and defaults,
and the checks the schema cannot make (``scanner_problems``, run by the loader)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_app.settings.units import parse_size


def decode_psk(psk: str) -> bytes:
    """``SECURITY_SCANNER_V4_PSK``'s key bytes; ValueError when it is not base64 or decodes to nothing."""
    try:
        key = base64.b64decode(psk.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64 (Clair's auth.psk.key takes the same base64 string)") from None
    if not key:
        raise ValueError("decodes to an empty key")
    return key


def scanner_problems(values: Mapping[str, Any]) -> list[str]:
    """Checks the schema cannot make: the endpoint is required with the feature, the PSK must be
    base64 (the schema checks the endpoint's and the layer size's forms)."""
    problems = []
    if values.get("FEATURE_SECURITY_SCANNER") and not values.get("SECURITY_SCANNER_V4_ENDPOINT"):
        problems.append("SECURITY_SCANNER_V4_ENDPOINT: required when FEATURE_SECURITY_SCANNER is true")
    psk = values.get("SECURITY_SCANNER_V4_PSK")
    if isinstance(psk, str) and psk:
        try:
            decode_psk(psk)
        except ValueError as exc:
            problems.append(f"SECURITY_SCANNER_V4_PSK: {exc}")  # the value itself is never shown
    return problems


@dataclass(frozen=True)
class ScannerSettings:
    """What scanning needs, decided once. Clair fetches layers from ``scheme://hostname/v2/...``
    (the server's external URL, ``ServerSettings``); ``psk_key`` is the decoded PSK."""

    endpoint: str  # SECURITY_SCANNER_V4_ENDPOINT: Clair's API base URL
    hostname: str  # SERVER_HOSTNAME
    scheme: str = "http"  # ServerSettings.scheme
    psk_key: bytes | None = field(default=None, repr=False)  # SECURITY_SCANNER_V4_PSK, decoded
    interval_s: float = 30.0  # SECURITY_SCANNER_INDEXING_INTERVAL
    reindex_threshold_s: int = 86400  # SECURITY_SCANNER_V4_REINDEX_THRESHOLD
    batch_size: int = 0  # SECURITY_SCANNER_V4_BATCH_SIZE (0: every candidate each round)
    max_layer_size: int | None = None  # SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE in bytes
    max_retries: int = 3  # REGISTRY_APP_SECSCAN_MAX_RETRIES
    cleanup: bool = True  # SECURITY_SCANNER_V4_MANIFEST_CLEANUP
    notifications: bool = False  # FEATURE_SECURITY_NOTIFICATIONS (or SECURITY_SCANNER_NOTIFICATIONS)
    notify_on_new_index: bool = False  # FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX
    min_severity_on_new_index: str = "High"  # NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX

    @property
    def cleanup_off_because(self) -> str | None:
        """Why the ``clair-cleanup`` worker is off with scanning on; None when it is on."""
        return None if self.cleanup else "SECURITY_SCANNER_V4_MANIFEST_CLEANUP is false"

    @classmethod
    def from_values(cls, values: Mapping[str, Any], hostname: str, scheme: str) -> ScannerSettings | None:
        """None when ``FEATURE_SECURITY_SCANNER`` is off."""
        if not values.get("FEATURE_SECURITY_SCANNER"):
            return None
        psk = values.get("SECURITY_SCANNER_V4_PSK")
        return cls(
            endpoint=str(values["SECURITY_SCANNER_V4_ENDPOINT"]),
            hostname=hostname,
            scheme=scheme,
            psk_key=decode_psk(str(psk)) if psk else None,
            interval_s=float(values.get("SECURITY_SCANNER_INDEXING_INTERVAL") or 30),
            reindex_threshold_s=int(values.get("SECURITY_SCANNER_V4_REINDEX_THRESHOLD", 86400)),
            batch_size=int(values.get("SECURITY_SCANNER_V4_BATCH_SIZE") or 0),
            max_layer_size=parse_size(values.get("SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE")),
            max_retries=int(values.get("REGISTRY_APP_SECSCAN_MAX_RETRIES", 3)),
            cleanup=bool(values.get("SECURITY_SCANNER_V4_MANIFEST_CLEANUP", True)),
            notifications=bool(
                values.get("FEATURE_SECURITY_NOTIFICATIONS") or values.get("SECURITY_SCANNER_NOTIFICATIONS")
            ),
            notify_on_new_index=bool(values.get("FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX")),
            min_severity_on_new_index=str(values.get("NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX") or "High"),
        )

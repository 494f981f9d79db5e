"""Online garbage collection (docs/gc.md): whether the gc and blob-gc workers run, how often, and
how long a manifest pushed by digest and an unreferenced blob link are kept. The time-machine
window of namespaces that set none is the tags area's DEFAULT_TAG_EXPIRATION."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry_app.settings.units import parse_duration

DEFAULT_INTERVAL_S = 30  # Quay's GARBAGE_COLLECTION_FREQUENCY default
DEFAULT_GRACE = "1h"


@dataclass(frozen=True)
class GcSettings:
    """FEATURE_GARBAGE_COLLECTION (Quay, default true), GARBAGE_COLLECTION_FREQUENCY (Quay,
    seconds, default 30) and REGISTRY_APP_GC_GRACE (registry_app, default 1h)."""

    enabled: bool = True
    interval_s: float = DEFAULT_INTERVAL_S
    grace_s: int = parse_duration(DEFAULT_GRACE)

    @property
    def workers_off_because(self) -> str | None:
        """Why the configuration leaves the gc and blob-gc workers off; None when they run."""
        if not self.enabled:
            return "FEATURE_GARBAGE_COLLECTION is false"
        if self.interval_s <= 0:
            return "GARBAGE_COLLECTION_FREQUENCY is 0: only `registry-app gc` collects"
        return None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> GcSettings:
        interval = values.get("GARBAGE_COLLECTION_FREQUENCY")
        grace = values.get("REGISTRY_APP_GC_GRACE")
        return cls(
            enabled=bool(values.get("FEATURE_GARBAGE_COLLECTION", True)),
            interval_s=float(DEFAULT_INTERVAL_S if interval is None else interval),
            grace_s=parse_duration(str(grace or DEFAULT_GRACE)),
        )

"""Abandoned blob uploads: how long an idle one lives, how often they are collected, how many
one account may have open (docs/security.md, "Upload collection")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry_app.settings.units import parse_duration

DEFAULT_MAX_AGE = "24h"
DEFAULT_INTERVAL = "1h"
DEFAULT_MAX_OPEN = 100
ORPHAN_GRACE_S = 15 * 60
OURS_INTERVAL = "REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL"
QUAYS_INTERVAL = "BLOBUPLOAD_CLEANUP_FREQUENCY"


@dataclass(frozen=True)
class UploadSettings:
    """Quay's BLOBUPLOAD_DELETION_DATE_THRESHOLD (minutes) and BLOBUPLOAD_CLEANUP_FREQUENCY
    (seconds) are used when the registry_app keys are absent. ``interval_key`` names the key the
    interval came from (empty: the default), for saying why the collector is off."""

    max_age_s: float = parse_duration(DEFAULT_MAX_AGE)
    interval_s: float = parse_duration(DEFAULT_INTERVAL)
    max_open_per_account: int = DEFAULT_MAX_OPEN
    interval_key: str = ""

    @property
    def touch_interval_s(self) -> float:
        """How often an upload in use is marked active: well inside the age, at most once a minute."""
        return min(self.max_age_s / 4, 60.0)

    @property
    def orphan_grace_s(self) -> float:
        return min(self.max_age_s, ORPHAN_GRACE_S)

    @property
    def collector_off_because(self) -> str | None:
        """Why the configuration leaves the ``uploads`` worker off (interval 0); None when it is on."""
        if self.interval_s > 0:
            return None
        key = f"{QUAYS_INTERVAL} is 0" if self.interval_key == QUAYS_INTERVAL else f"{OURS_INTERVAL} is 0s"
        return f"{key}: only `registry-app uploads cleanup` collects"

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> UploadSettings:
        if values.get("REGISTRY_APP_UPLOAD_MAX_AGE") is not None:
            max_age = float(parse_duration(str(values["REGISTRY_APP_UPLOAD_MAX_AGE"])))
        elif values.get("BLOBUPLOAD_DELETION_DATE_THRESHOLD") is not None:
            max_age = float(values["BLOBUPLOAD_DELETION_DATE_THRESHOLD"]) * 60
        else:
            max_age = float(parse_duration(DEFAULT_MAX_AGE))
        interval_key = ""
        if values.get(OURS_INTERVAL) is not None:
            interval, interval_key = float(parse_duration(str(values[OURS_INTERVAL]))), OURS_INTERVAL
        elif values.get(QUAYS_INTERVAL) is not None:
            interval, interval_key = float(values[QUAYS_INTERVAL]), QUAYS_INTERVAL
        else:
            interval = float(parse_duration(DEFAULT_INTERVAL))
        max_open = int(values.get("REGISTRY_APP_MAX_OPEN_UPLOADS", DEFAULT_MAX_OPEN))
        return cls(
            max_age_s=max(1.0, max_age),
            interval_s=interval,
            max_open_per_account=max(0, max_open),
            interval_key=interval_key,
        )

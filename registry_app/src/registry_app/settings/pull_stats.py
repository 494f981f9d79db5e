"""Pull statistics (Quay's FEATURE_IMAGE_PULL_STATS): the /v2 manifest GET counts pulls per tag
and manifest, the pull-stats worker moves them (through Redis when there is one) into the
database, and the API shows them (``services/pull_stats.py``). Off by default, as in Quay."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PullStatsSettings:
    enabled: bool = False  # FEATURE_IMAGE_PULL_STATS

    @property
    def off_because(self) -> str | None:
        """Why the pull-stats worker and API are off; None: on."""
        return None if self.enabled else "FEATURE_IMAGE_PULL_STATS is not true"

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PullStatsSettings:
        return cls(enabled=bool(values.get("FEATURE_IMAGE_PULL_STATS", False)))

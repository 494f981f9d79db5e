"""The deployment's secret keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Secrets:
    """``SECRET_KEY`` (registry tokens, credential fingerprints) and ``DATABASE_SECRET_KEY`` (the
    encryption of robot and app-specific tokens; ``SECRET_KEY`` when not set, as before). Never in
    a repr or str, so a logged Settings shows neither."""

    secret_key: str = field(repr=False)
    database_secret_key: str = field(default="", repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Secrets:
        secret = str(values.get("SECRET_KEY") or "")
        return cls(secret_key=secret, database_secret_key=str(values.get("DATABASE_SECRET_KEY") or secret))

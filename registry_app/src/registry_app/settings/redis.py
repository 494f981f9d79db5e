"""The Redis several app hosts share (``clients/redis.py``): Quay's ``USER_EVENTS_REDIS``, else
``BUILDLOGS_REDIS`` (a Quay bundle may set only one of them; the quay.registry collection writes
both with the same Redis). None of them set: no Redis, every caller uses its fallback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORT = 6379
DEFAULT_TIMEOUT_S = 0.5
DEFAULT_RETRY_AFTER_S = 5.0
KEYS = ("USER_EVENTS_REDIS", "BUILDLOGS_REDIS")


@dataclass(frozen=True)
class RedisSettings:
    """One Redis server. Short timeouts and a retry delay for the client's breaker: a dead Redis
    costs a request at most one timeout. The password is left out of the repr."""

    host: str
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry_after_s: float = DEFAULT_RETRY_AFTER_S

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RedisSettings | None:
        """The first of ``KEYS`` the configuration sets (schema-checked: ``host`` is required),
        or None."""
        for key in KEYS:
            block = values.get(key)
            if block:
                return cls(
                    host=str(block["host"]),
                    port=int(block.get("port") or DEFAULT_PORT),
                    password=block.get("password") or None,
                    ssl=bool(block.get("ssl", False)),
                )
        return None

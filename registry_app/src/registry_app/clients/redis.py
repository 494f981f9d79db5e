"""The Redis connection several app hosts share (Quay's ``USER_EVENTS_REDIS``), behind a breaker.

Redis holds state that every process and host must see at once (the login backoff counters) but
that the registry can live without: when Redis is down, pushes, pulls and logins go on with each
caller's fallback. So every call goes through ``RedisClient.call``, which:

- uses short connect and socket timeouts (half a second by default) and no retries of its own, so
  a dead or unreachable Redis costs a request at most one timeout;
- opens the breaker on the first failure: ``RedisUnavailable`` is raised at once, without touching
  the network, until ``retry_after_s`` has passed; then one call tries again (half-open), and a
  success closes the breaker;
- logs once when Redis goes away and once when it is back: the host, port and error class with its
  first line, never the password (redis-py's messages do not carry it; the settings' ``repr`` hides
  it).

The settings come from Quay's keys: ``USER_EVENTS_REDIS`` (``host``, ``port``, ``password``,
``ssl``), else ``BUILDLOGS_REDIS`` (a Quay bundle may set only one of them; the quay.registry
collection writes both with the same Redis).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("registry_app.redis")

T = TypeVar("T")

DEFAULT_PORT = 6379
DEFAULT_TIMEOUT_S = 0.5
DEFAULT_RETRY_AFTER_S = 5.0
KEYS = ("USER_EVENTS_REDIS", "BUILDLOGS_REDIS")


class RedisUnavailable(Exception):
    """Redis is not configured, down, or the breaker is open: use the fallback."""


@dataclass(frozen=True)
class RedisSettings:
    host: str
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry_after_s: float = DEFAULT_RETRY_AFTER_S

    @staticmethod
    def from_config(config: Any) -> RedisSettings | None:
        """The first of ``KEYS`` the configuration sets (schema-checked: ``host`` is required),
        or None: no Redis, every caller uses its fallback."""
        for key in KEYS:
            block = config.get(key)
            if block:
                return RedisSettings(
                    host=str(block["host"]),
                    port=int(block.get("port") or DEFAULT_PORT),
                    password=block.get("password") or None,
                    ssl=bool(block.get("ssl", False)),
                )
        return None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class RedisClient:
    """One process's connection pool to Redis and its breaker (thread-safe)."""

    def __init__(self, settings: RedisSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None  # None: closed (Redis answered last time)
        self._retry_at = 0.0
        self.redis = redis.Redis(
            host=settings.host,
            port=settings.port,
            password=settings.password,
            ssl=settings.ssl,
            socket_connect_timeout=settings.timeout_s,
            socket_timeout=settings.timeout_s,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 0),  # the breaker decides when to try again
            decode_responses=True,
        )

    @property
    def available(self) -> bool:
        """Whether the last call reached Redis (False while the breaker is open)."""
        return self._down_since is None

    def call(self, fn: Callable[[redis.Redis], T]) -> T:
        """``fn(redis)``, or RedisUnavailable when Redis cannot be used now (see the module)."""
        with self._lock:
            if self._down_since is not None and self._clock() < self._retry_at:
                raise RedisUnavailable(self.settings.where)
        try:
            result = fn(self.redis)
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError, OSError) as exc:
            self._failed(exc)
            raise RedisUnavailable(self.settings.where) from None
        except redis.ResponseError as exc:
            # Redis answered (e.g. a read-only replica, OOM): unusable for now, like a dead one.
            self._failed(exc)
            raise RedisUnavailable(self.settings.where) from None
        self._succeeded()
        return result

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._down_since is None
            now = self._clock()
            if first:
                self._down_since = now
            self._retry_at = now + self.settings.retry_after_s
        if first:
            log.warning(
                "Redis at %s is unavailable (%s); using the fallback, retrying every %gs",
                self.settings.where,
                _short(exc),
                self.settings.retry_after_s,
            )

    def _succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            was = self._down_since
            self._down_since = None
        if was is not None:
            log.warning("Redis at %s is back; shared state resumes", self.settings.where)

    def close(self) -> None:
        self.redis.close()


def make_redis(config: Any) -> RedisClient | None:
    """The configured Redis (``USER_EVENTS_REDIS`` / ``BUILDLOGS_REDIS``), or None without one."""
    settings = RedisSettings.from_config(config)
    return RedisClient(settings) if settings is not None else None

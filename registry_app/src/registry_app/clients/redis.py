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

The client takes ``settings/redis.py``'s RedisSettings (Quay's ``USER_EVENTS_REDIS``, else
``BUILDLOGS_REDIS``: ``host``, ``port``, ``password``, ``ssl``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from registry_app.settings.redis import RedisSettings

log = logging.getLogger("registry_app.redis")

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis is not configured, down, or the breaker is open: use the fallback."""


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


def make_redis(settings: RedisSettings | None) -> RedisClient | None:
    """A client for the configured Redis (``settings.redis``), or None without one."""
    return RedisClient(settings) if settings is not None else None

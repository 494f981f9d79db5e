"""Pull statistics (Quay's ``FEATURE_IMAGE_PULL_STATS``): pull counts and the last pull per tag and
per manifest, counted in Redis and flushed to the database by the ``pull-stats`` worker.

A pull must not wait for Redis, so ``record()`` only adds to this process's buffer (no I/O, safe
on the event loop). The worker (workers/pull_stats.py, in every process) then, every round:

1. moves the buffer into Redis: one hash per tag and per manifest (``HINCRBY count``, ``HSET
   last_ms``/``digest``), its key added to a pending set, in one MULTI;
2. drains up to ``BATCH`` pending keys from Redis into the database with a Lua script that pops
   each key and takes and deletes its hash in one step, so any number of processes and hosts
   drain at once without counting a pull twice.

With Redis unavailable (or not configured) step 1 writes the buffer to the database directly: the
counts stay right, only the database takes one write per round per process. Counts taken from Redis
whose database write fails go back into the buffer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry_app.clients.redis import RedisClient, RedisUnavailable
from registry_app.db.pull_stats import PullCount, PullStatsRow, PullStatsStore

PREFIX = "registry_app:pulls:"
PENDING = PREFIX + "pending"
BATCH = 500

# KEYS[1]: the pending set; ARGV[1]: how many keys at most. Returns [key, {field, value, ...}, ...].
_DRAIN = """
local out = {}
local keys = redis.call('SPOP', KEYS[1], ARGV[1])
for _, key in ipairs(keys) do
  local fields = redis.call('HGETALL', key)
  redis.call('DEL', key)
  if #fields > 0 then
    table.insert(out, key)
    table.insert(out, fields)
  end
end
return out
"""


@dataclass(frozen=True)
class PullStatistics:
    """What the API shows (Quay's field names are made by the handler)."""

    pull_count: int
    last_pull_ms: int | None
    manifest_digest: str | None = None


class PullStats:
    def __init__(self, store: PullStatsStore, redis: RedisClient | None) -> None:
        self.store = store
        self.redis = redis
        self._lock = threading.Lock()
        self._buffer: dict[tuple[int, str | None, str], list[int]] = {}  # -> [count, last_ms]
        self._drain = redis.redis.register_script(_DRAIN) if redis is not None else None

    def record(self, repository_id: int, tag: str | None, digest: str) -> None:
        """One pull of ``digest`` (by ``tag``, or None when pulled by digest)."""
        t = int(time.time() * 1000)
        with self._lock:
            entry = self._buffer.setdefault((repository_id, tag, digest), [0, 0])
            entry[0] += 1
            entry[1] = max(entry[1], t)

    def _take(self) -> list[PullCount]:
        with self._lock:
            buffer, self._buffer = self._buffer, {}
        return [PullCount(r, tag, d, c, last) for (r, tag, d), (c, last) in buffer.items()]

    def _put_back(self, counts: Iterable[PullCount]) -> None:
        with self._lock:
            for c in counts:
                entry = self._buffer.setdefault((c.repository_id, c.tag, c.digest), [0, 0])
                entry[0] += c.count
                entry[1] = max(entry[1], c.last_ms)

    def flush(self) -> int:
        """Steps 1 and 2 of the module docstring; returns how many counts reached the database."""
        counts = self._take()
        if self.redis is None or not counts:
            written = self._write(counts)
            return written + self._drain_redis()
        try:
            self.redis.call(lambda r: self._push(r, counts))
        except RedisUnavailable:
            return self._write(counts)
        return self._drain_redis()

    def _write(self, counts: list[PullCount]) -> int:
        try:
            return self.store.add(counts)
        except Exception:
            self._put_back(counts)
            raise

    @staticmethod
    def _push(r: Any, counts: list[PullCount]) -> None:
        pipe = r.pipeline(transaction=True)
        for c in counts:
            # Tag and manifest counts are drained separately: a manifest pulled by tag counts once
            # under each, as in Quay (the database adds the manifest's share in PullStatsStore.add).
            key = f"{PREFIX}{c.repository_id}:{'t:' + c.tag if c.tag is not None else 'd:'}\0{c.digest}"
            pipe.hincrby(key, "count", c.count)
            pipe.hset(key, "last_ms", str(c.last_ms))
            pipe.sadd(PENDING, key)
        pipe.execute()

    def _drain_redis(self) -> int:
        if self.redis is None or self._drain is None:
            return 0
        script = self._drain
        try:
            raw = self.redis.call(lambda r: script(keys=[PENDING], args=[BATCH], client=r))
        except RedisUnavailable:
            return 0
        counts = []
        for i in range(0, len(raw), 2):
            key, flat = str(raw[i]), raw[i + 1]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            repo, rest = key[len(PREFIX) :].split(":", 1)
            head, digest = rest.split("\0", 1)
            tag = head[2:] if head.startswith("t:") else None
            counts.append(PullCount(int(repo), tag, digest, int(fields["count"]), int(fields["last_ms"])))
        try:
            return self.store.add(counts)
        except Exception:
            self._put_back(counts)  # pushed to Redis again next round
            raise

    # -- what the API shows --------------------------------------------------------------------
    def tag(self, repository_id: int, tag: str) -> PullStatistics:
        return _stats(self.store.tag(repository_id, tag))

    def manifest(self, repository_id: int, digest: str) -> PullStatistics:
        return _stats(self.store.manifest(repository_id, digest))


def _stats(row: PullStatsRow | None) -> PullStatistics:
    if row is None:
        return PullStatistics(0, None, None)
    return PullStatistics(row.pull_count, row.last_pull_ms, row.manifest_digest)

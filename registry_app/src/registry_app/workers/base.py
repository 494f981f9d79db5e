"""The one base every background worker stands on (Quay's ``workers/worker.py`` is the model).

A worker declares its ``name``, its ``mode`` and ``run_once()``; it is built with its interval
(from the settings) and, for a singleton, a ``Lease``. The base gives it a thread that runs
``run_once()`` every interval (with jitter, so that processes started together spread out), a
graceful stop, a database lease for singletons, logging and counters (``stats()``, and the
Prometheus counters ``quay_worker_*`` by worker name, so that every worker has them). The same object runs inside
``registry-app serve`` (started and stopped by the ASGI lifespan) or in a process of its own
(``registry-app worker NAME``): nothing in a worker knows which.

Modes:
- ``SINGLETON``: one at a time per deployment, whatever the number of processes and hosts. Each
  round first takes (or renews) the lease ``Lease.name`` in the database for this process's holder
  id; a process that does not get it skips the round. Long rounds call ``keep_going()`` between
  items, which renews the lease (at most every third of its lifetime) and says stop when it was
  lost. A holder that dies is replaced once its lease expires: within ``ttl + interval`` at most.
- ``QUEUE``: runs in every process; rows are shared out with claims (``db/claims.ClaimQueue``:
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a compare-and-set under ``BEGIN IMMEDIATE`` on SQLite).
- ``LOCAL``: runs in every process on that process's own state (the audit log's buffer); it is
  not chosen by name: every process that has the state runs it.

Stopping: ``stop(timeout_s)`` asks the thread to end (``stopping`` becomes true, the wait between
rounds ends at once), waits at most ``timeout_s`` for the current round, then calls ``on_stop()``
(e.g. a final flush) and gives the lease back. A round that does not end in time is left to die
with the process (the thread is a daemon), and its lease is not released but expires, so that no
other process starts while it may still be working.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

from registry_app.db.leases import LeaseStore
from registry_app.observability import metrics

DEFAULT_JITTER = 0.1
DEFAULT_STOP_TIMEOUT_S = 10.0
MIN_LEASE_TTL_S = 60.0


class Mode(enum.Enum):
    SINGLETON = "singleton"
    QUEUE = "queue"
    LOCAL = "local"


_holder: tuple[int, str] | None = None


def process_holder_id() -> str:
    """``host:pid:random``, unique per process (and made again after a fork, since a forked child
    must not share its parent's id): the holder of leases and claims."""
    global _holder
    pid = os.getpid()
    if _holder is None or _holder[0] != pid:
        _holder = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _holder[1]


def jittered(interval_s: float, jitter: float, rand: Callable[[], float] = random.random) -> float:
    """``interval_s`` times a factor drawn uniformly from [1 - jitter, 1 + jitter]."""
    return interval_s * (1.0 + jitter * (2.0 * rand() - 1.0))


def lease_ttl_s(interval_s: float) -> float:
    """A singleton's lease lifetime for its interval: three intervals and at least a minute (a
    holder renews it every round and between items; a dead one is replaced within about that)."""
    return max(MIN_LEASE_TTL_S, 3 * interval_s)


@dataclass(frozen=True)
class Lease:
    """The database lease a singleton worker needs: its name (one per worker kind, shared by every
    process of the deployment) and how long a holder keeps it without renewing."""

    store: LeaseStore
    name: str
    ttl_s: float

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl_s * 1000)


@dataclass(frozen=True)
class WorkerStats:
    """A worker's counters since it was built."""

    rounds: int = 0  # rounds that ran run_once()
    items: int = 0  # the sum of what run_once() returned
    failures: int = 0  # rounds that raised
    skipped: int = 0  # rounds not run because another process holds the lease
    last_round_ms: int = 0  # POSIX ms when the last round ended (0: none yet)
    last_error: str = ""


def short_error(exc: BaseException) -> str:
    """One line for the log: a domain error's message, or the first line of the (driver's)
    exception text. Never a traceback or SQL parameters (they may hold tokens)."""
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Worker(ABC):
    """Subclasses set ``name`` and ``mode`` and implement ``run_once()``; see the module docstring."""

    name: ClassVar[str]
    mode: ClassVar[Mode]

    def __init__(
        self,
        interval_s: float,
        *,
        jitter: float = DEFAULT_JITTER,
        lease: Lease | None = None,
        holder: str | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"{self.name}: the interval must be positive, got {interval_s!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"{self.name}: jitter is a fraction of the interval in [0, 1), got {jitter!r}")
        if (self.mode is Mode.SINGLETON) != (lease is not None):
            raise ValueError(f"{self.name}: a lease is what a singleton worker needs, and only it")
        self.interval_s = float(interval_s)
        self.jitter = float(jitter)
        self.lease = lease
        self.holder = holder or process_holder_id()
        self.log = logging.getLogger(f"registry_app.workers.{self.name}")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = WorkerStats()
        self._stats_lock = threading.Lock()
        self._renewed_at: float | None = None  # monotonic time of the last successful lease renewal
        self._rand = random.Random()  # noqa: S311 (spreads schedules; nothing secret)
        for counter in (metrics.worker_rounds, metrics.worker_errors, metrics.worker_items, metrics.worker_skipped):
            counter.labels(self.name)  # every worker of the process is in the scrape from the start, at 0

    # -- what a worker implements ---------------------------------------------------------------
    @abstractmethod
    def run_once(self) -> int:
        """One round of work; returns how many items it handled (for the counters). A round that
        may take long checks ``keep_going()`` between items and returns when it is False."""

    def on_start(self) -> None:  # noqa: B027 (an optional hook)
        """Called by ``start()`` before the thread starts."""

    def on_stop(self) -> None:  # noqa: B027 (an optional hook)
        """Called by ``stop()`` once the thread has ended (or the stop timed out)."""

    # -- what the base gives a worker ----------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def keep_going(self) -> bool:
        """False once a stop was asked for or (singletons) the lease is lost: check between items."""
        if self._stop.is_set():
            return False
        if self.lease is None:
            return True
        if self._renewed_at is not None and time.monotonic() - self._renewed_at < self.lease.ttl_s / 3:
            return True
        return self._take_lease()

    def _take_lease(self) -> bool:
        assert self.lease is not None
        now = time.monotonic()
        if self.lease.store.acquire(self.lease.name, self.holder, self.lease.ttl_ms):
            if self._renewed_at is None:
                self.log.info("%s: this process (%s) holds the lease %s", self.name, self.holder, self.lease.name)
            self._renewed_at = now
            return True
        if self._renewed_at is not None:
            self.log.warning("%s: lost the lease %s to another process", self.name, self.lease.name)
        self._renewed_at = None
        return False

    # -- running -------------------------------------------------------------------------------
    def round(self) -> bool:
        """One round now, in the calling thread: (singletons) take or renew the lease, skipping the
        round without it; then ``run_once()``, counted and logged. Never raises. True when
        ``run_once()`` ran (even if it failed)."""
        if self.lease is not None:
            try:
                if not self._take_lease():
                    self._count(skipped=1)
                    return False
            except Exception as exc:  # the database is away: try again next round
                self.log.error("%s: cannot take the lease %s: %s", self.name, self.lease.name, short_error(exc))
                self._count(failures=1, error=short_error(exc))
                return False
        started = time.monotonic()
        try:
            items = int(self.run_once() or 0)
        except Exception as exc:  # never let the thread die: log and try again next round
            self.log.error("%s: round failed: %s", self.name, short_error(exc))
            self._count(rounds=1, failures=1, error=short_error(exc))
            return True
        self._count(rounds=1, items=items)
        if items:
            self.log.debug("%s: %d items in %.2fs", self.name, items, time.monotonic() - started)
        return True

    def _count(self, rounds: int = 0, items: int = 0, failures: int = 0, skipped: int = 0, error: str = "") -> None:
        for counter, n in (
            (metrics.worker_rounds, rounds),
            (metrics.worker_items, items),
            (metrics.worker_errors, failures),
            (metrics.worker_skipped, skipped),
        ):
            if n:
                counter.labels(self.name).inc(n)  # the name is the class's: a fixed set
        with self._stats_lock:
            s = self._stats
            self._stats = replace(
                s,
                rounds=s.rounds + rounds,
                items=s.items + items,
                failures=s.failures + failures,
                skipped=s.skipped + skipped,
                last_round_ms=int(time.time() * 1000) if rounds else s.last_round_ms,
                last_error=error or s.last_error,
            )

    def stats(self) -> WorkerStats:
        with self._stats_lock:
            return self._stats

    def start(self) -> None:
        """Run rounds in a daemon thread: the first after a random part of ``jitter * interval``,
        then every ``jittered(interval)`` or at once after ``wake()``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.on_start()
        self._thread = threading.Thread(target=self._run, name=f"worker-{self.name}", daemon=True)
        self._thread.start()
        self.log.info("%s: started (%s, every %gs)", self.name, self.mode.value, self.interval_s)

    def _run(self) -> None:
        delay = self._rand.uniform(0.0, self.jitter * self.interval_s)
        while True:
            if self._wake.wait(delay):
                self._wake.clear()
            if self._stop.is_set():
                return
            self.round()
            delay = jittered(self.interval_s, self.jitter, self._rand.random)

    def wake(self) -> None:
        """Run the next round now rather than at the end of the interval (new work arrived)."""
        self._wake.set()

    def request_stop(self) -> None:
        """Ask the thread to end after the current item; returns at once."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> bool:
        """Stop gracefully: wait at most ``timeout_s`` for the running round, then ``on_stop()``
        and release the lease. True when the thread ended in time (or never ran)."""
        self.request_stop()
        finished = True
        if self._thread is not None:
            self._thread.join(max(0.0, timeout_s))
            finished = not self._thread.is_alive()
            if finished:
                self._thread = None
            else:
                self.log.warning("%s: still in a round after %gs; left to end with the process", self.name, timeout_s)
        try:
            self.on_stop()
        except Exception as exc:
            self.log.warning("%s: on stop: %s", self.name, short_error(exc))
        if self.lease is not None and finished and self._renewed_at is not None:
            try:
                self.lease.store.release(self.lease.name, self.holder)
            except Exception as exc:
                self.log.warning("%s: cannot release the lease %s: %s", self.name, self.lease.name, short_error(exc))
            self._renewed_at = None
        s = self.stats()
        self.log.info(
            "%s: stopped (%d rounds, %d items, %d failed, %d skipped)",
            *(self.name, s.rounds, s.items, s.failures, s.skipped),
        )
        return finished


class WorkerGroup:
    """The workers one process runs: started together, stopped together within one bound."""

    def __init__(self, workers: Iterable[Worker] = ()) -> None:
        self._workers: dict[str, Worker] = {}
        for worker in workers:
            if worker.name in self._workers:
                raise ValueError(f"two workers named {worker.name}")
            self._workers[worker.name] = worker

    def __iter__(self) -> Iterator[Worker]:
        return iter(self._workers.values())

    def __len__(self) -> int:
        return len(self._workers)

    @property
    def names(self) -> list[str]:
        return list(self._workers)

    def get(self, name: str) -> Worker | None:
        return self._workers.get(name)

    def start(self) -> None:
        for worker in self:
            worker.start()

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> bool:
        """Ask every worker to stop, then wait for them all within ``timeout_s`` in total."""
        for worker in self:
            worker.request_stop()
        deadline = time.monotonic() + timeout_s
        finished = True
        for worker in self:
            finished = worker.stop(deadline - time.monotonic()) and finished
        return finished

    def stats(self) -> dict[str, WorkerStats]:
        return {name: worker.stats() for name, worker in self._workers.items()}


__all__ = [
    "DEFAULT_JITTER",
    "DEFAULT_STOP_TIMEOUT_S",
    "MIN_LEASE_TTL_S",
    "Lease",
    "Mode",
    "Worker",
    "WorkerGroup",
    "WorkerStats",
    "jittered",
    "lease_ttl_s",
    "process_holder_id",
    "short_error",
]

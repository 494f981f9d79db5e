"""The workers' base (workers/base.py) on real databases: jitter, the thread's rounds, graceful and
bounded stops, counters, the singleton lease (exclusive, renewed, released, taken over when its
holder dies) on SQLite and on a real PostgreSQL, and holder ids unique per process.

Waits poll with generous deadlines; nothing asserts how long anything took."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry_app.db.engine import make_engine, migrate
from registry_app.db.leases import LeaseStore
from registry_app.workers.base import (
    Lease,
    Mode,
    Worker,
    WorkerGroup,
    jittered,
    process_holder_id,
)

DEADLINE_S = 60.0


def eventually(what: str, probe: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen in {deadline_s:.0f}s")
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeaseStore]:
    uri = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(uri)
    migrate(engine)
    try:
        yield LeaseStore(engine)
    finally:
        engine.dispose()


class Recorder(Worker):
    """A worker that records its rounds; ``body`` is what a round does."""

    name = "recorder"
    mode = Mode.LOCAL

    def __init__(
        self,
        interval_s: float = 3600.0,
        body: Callable[[Recorder], int] | None = None,
        *,
        jitter: float = 0.1,
        lease: Lease | None = None,
        holder: str | None = None,
    ) -> None:
        super().__init__(interval_s, jitter=jitter, lease=lease, holder=holder)
        self.body = body or (lambda _w: 1)
        self.calls = 0
        self.stopped_hook = 0

    def run_once(self) -> int:
        self.calls += 1
        return self.body(self)

    def on_stop(self) -> None:
        self.stopped_hook += 1


class Single(Recorder):
    name = "single"
    mode = Mode.SINGLETON


# -- scheduling -----------------------------------------------------------------------------------
def test_jitter_stays_within_its_bounds_and_spreads() -> None:
    assert jittered(10.0, 0.1, lambda: 0.0) == pytest.approx(9.0)
    assert jittered(10.0, 0.1, lambda: 0.5) == pytest.approx(10.0)
    assert jittered(10.0, 0.1, lambda: 0.999999) == pytest.approx(11.0, abs=1e-4)
    samples = [jittered(10.0, 0.2) for _ in range(2000)]
    assert all(8.0 <= s <= 12.0 for s in samples)
    assert min(samples) < 9.0 and max(samples) > 11.0  # spread over the range, not a constant
    assert {jittered(10.0, 0.0) for _ in range(10)} == {10.0}


def test_a_worker_declares_what_it_needs(leases: LeaseStore) -> None:
    with pytest.raises(ValueError, match="lease"):
        Single()  # a singleton without a lease
    with pytest.raises(ValueError, match="lease"):
        Recorder(lease=Lease(leases, "x", 60))  # a lease for a worker that is not a singleton
    with pytest.raises(ValueError, match="interval"):
        Recorder(0)
    with pytest.raises(ValueError, match="jitter"):
        Recorder(1, jitter=1.5)
    with pytest.raises(ValueError, match="two workers named"):
        WorkerGroup([Recorder(), Recorder()])


def test_rounds_run_in_a_thread_wake_runs_one_now_and_failures_are_counted() -> None:
    def body(w: Recorder) -> int:
        if w.calls == 2:
            raise RuntimeError("database is locked\nSELECT ... [parameters: ('secret',)]")
        return 3

    worker = Recorder(3600.0, body, jitter=0.0)  # no jitter: the first round starts at once
    worker.start()
    try:
        eventually("the first round", lambda: worker.stats().rounds == 1)
        worker.wake()  # an hour before the next round is due
        eventually("the woken round", lambda: worker.stats().rounds == 2)
        worker.wake()
        eventually("a round after the failure", lambda: worker.stats().rounds == 3)
    finally:
        assert worker.stop()
    stats = worker.stats()
    assert (stats.rounds, stats.items, stats.failures, stats.skipped) == (3, 6, 1, 0)
    assert stats.last_error == "database is locked"  # the first line only: no SQL parameters
    assert stats.last_round_ms > 0 and worker.stopped_hook == 1


def test_stop_ends_a_long_round_between_items() -> None:
    started = threading.Event()
    items: list[int] = []

    def body(w: Recorder) -> int:
        started.set()
        while w.keep_going():  # a round that would go on for ever without a stop
            items.append(1)
            time.sleep(0.01)
        return len(items)

    worker = Recorder(3600.0, body, jitter=0.0)
    worker.start()
    assert started.wait(DEADLINE_S)
    assert worker.stop(timeout_s=DEADLINE_S)  # the thread ended: the round saw the stop
    assert worker.stopping and worker.stopped_hook == 1
    assert worker.stats().items == len(items) > 0


def test_a_round_that_ignores_the_stop_is_left_behind_after_the_timeout(leases: LeaseStore) -> None:
    inside = threading.Event()
    release = threading.Event()

    def body(_w: Recorder) -> int:
        inside.set()
        release.wait(DEADLINE_S)  # ignores keep_going()
        return 1

    worker = Single(3600.0, body, jitter=0.0, lease=Lease(leases, "stuck", 60), holder="a")
    worker.start()
    assert inside.wait(DEADLINE_S)
    assert worker.stop(timeout_s=0.1) is False  # reported, not waited for
    assert worker.stopped_hook == 1
    # Its lease is not released while the round may still be working: nobody else may start.
    assert leases.holder_of("stuck") == "a"
    assert not leases.acquire("stuck", "b", 60_000)
    release.set()


def test_a_group_stops_every_worker() -> None:
    class Other(Recorder):
        name = "other"

    group = WorkerGroup([Recorder(jitter=0.0), Other(jitter=0.0)])
    assert group.names == ["recorder", "other"]
    group.start()
    eventually("both first rounds", lambda: all(s.rounds == 1 for s in group.stats().values()))
    assert group.stop(timeout_s=DEADLINE_S)
    assert all(w.stopping and isinstance(w, Recorder) and w.stopped_hook == 1 for w in group)


# -- the singleton lease --------------------------------------------------------------------------
def test_lease_is_exclusive_renewed_and_released(leases: LeaseStore) -> None:
    a = Single(lease=Lease(leases, "job", 60), holder="host-a:1:x")
    b = Single(lease=Lease(leases, "job", 60), holder="host-b:2:y")
    assert a.round() and not b.round()
    assert a.round() and not b.round()  # a renews; b still skipped
    assert leases.holder_of("job") == "host-a:1:x"
    assert a.stop()  # a graceful stop gives the lease back at once
    assert leases.holder_of("job") is None
    assert b.round() and not a.round()
    assert (a.calls, b.calls) == (2, 1)
    assert (a.stats().skipped, b.stats().skipped) == (1, 2)


def test_a_dead_holders_lease_is_taken_over_and_the_old_holder_stops(leases: LeaseStore) -> None:
    ttl = 2.0
    a = Single(lease=Lease(leases, "job", ttl), holder="a")
    b = Single(lease=Lease(leases, "job", ttl), holder="b")
    assert a.round() and not b.round()
    # a "dies": it neither renews nor releases. b gets the lease once a's has expired.
    eventually("b taking the lease over", b.round)
    assert leases.holder_of("job") == "b"
    # a comes back (a paused process): its next renewal fails, so a long round would end there...
    eventually("a's renewal to be due", lambda: a.keep_going() is False)
    # ...and its rounds are skipped while b keeps renewing.
    assert b.round() and not a.round()


def test_two_singletons_in_threads_never_work_at_once(leases: LeaseStore) -> None:
    inside = 0
    most = 0
    lock = threading.Lock()

    def body(_w: Recorder) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        with lock:
            inside -= 1
        return 1

    a = Single(0.01, body, lease=Lease(leases, "job", 60), holder="a")
    b = Single(0.01, body, lease=Lease(leases, "job", 60), holder="b")
    a.start()
    b.start()
    try:
        eventually("rounds in both threads", lambda: all(w.stats().rounds + w.stats().skipped >= 5 for w in (a, b)))
        calls = (a.calls, b.calls)  # before the stop: the first to stop releases, and the other may go on
    finally:
        a.request_stop()
        b.request_stop()
        assert a.stop(DEADLINE_S) and b.stop(DEADLINE_S)
    assert most == 1
    assert (calls[0] == 0) != (calls[1] == 0)  # exactly one of them worked


def _child_holder(out: multiprocessing.Queue[str]) -> None:
    out.put(process_holder_id())


def test_holder_ids_are_unique_per_process_even_after_fork() -> None:
    mine = process_holder_id()
    assert process_holder_id() == mine  # stable within the process
    ctx = multiprocessing.get_context("fork")  # the child inherits the parent's cached id
    out: multiprocessing.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_child_holder, args=(out,))
    child.start()
    theirs = out.get(timeout=DEADLINE_S)
    child.join(DEADLINE_S)
    assert theirs != mine
    host, pid, _ = theirs.split(":")
    assert int(pid) == child.pid and host == mine.split(":")[0]

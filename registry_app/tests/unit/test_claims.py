"""Row claims (db/claims.py) on SQLite and on a real PostgreSQL: what a claim takes and gives back,
and two processes claiming from one queue at once never getting the same row (FOR UPDATE SKIP
LOCKED on PostgreSQL, the compare-and-set under BEGIN IMMEDIATE on SQLite)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, insert, select

from registry_app.db.claims import ClaimQueue
from registry_app.db.engine import make_engine

META = MetaData()
JOBS = Table(
    "jobs",
    META,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(128)),
    Column("claimed_until_ms", BigInteger, nullable=False, default=0),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'q.db'}" if request.param == "sqlite" else str(request.getfixturevalue("pg_database"))
    engine = make_engine(uri)
    META.create_all(engine)
    engine.dispose()
    return uri


@pytest.fixture
def engine(db_uri: str) -> Iterator[Engine]:
    e = make_engine(db_uri)
    try:
        yield e
    finally:
        e.dispose()


def fill(engine: Engine, n: int, kind: str = "a") -> list[int]:
    with engine.begin() as conn:
        conn.execute(insert(JOBS), [{"kind": kind, "attempts": 0, "claimed_until_ms": 0} for _ in range(n)])
        return [r[0] for r in conn.execute(select(JOBS.c.id).where(JOBS.c.kind == kind).order_by(JOBS.c.id))]


def rows(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(JOBS))}


def test_a_table_without_claim_columns_is_refused(engine: Engine) -> None:
    bare = Table("bare", MetaData(), Column("id", Integer, primary_key=True))
    with pytest.raises(ValueError, match="claimed_by, claimed_until_ms"):
        ClaimQueue(engine, bare)


def test_claims_are_exclusive_until_given_back_or_expired(engine: Engine) -> None:
    ids = fill(engine, 5)
    others = fill(engine, 2, kind="b")
    q = ClaimQueue(engine, JOBS)
    first = q.claim("p1", 3, 60_000, where=JOBS.c.kind == "a")
    assert [r["id"] for r in first] == ids[:3]  # in order
    assert all(r["claimed_by"] == "p1" and r["claimed_until_ms"] > time.time() * 1000 for r in first)
    second = q.claim("p2", 10, 60_000, where=JOBS.c.kind == "a")
    assert [r["id"] for r in second] == ids[3:]  # the claimed rows are not handed out again
    assert q.claim("p3", 10, 60_000, where=JOBS.c.kind == "a") == []

    assert q.complete([ids[0], ids[3]], "p1") == 1  # only p1's own row goes
    assert q.release([ids[1]], "p1", attempts=1) == 1  # back at once, with a value set
    assert q.release([ids[2]], "p1", delay_ms=60_000, attempts=2) == 1  # back in a minute
    assert q.release([ids[4]], "p1") == 0  # p2's
    table = rows(engine)
    assert ids[0] not in table and ids[3] in table
    assert (table[ids[1]].attempts, table[ids[1]].claimed_by) == (1, None)
    assert table[ids[2]].attempts == 2
    again = q.claim("p3", 10, 60_000, where=JOBS.c.kind == "a")
    assert [r["id"] for r in again] == [ids[1]]  # ids[2] waits for its delay

    assert q.extend([ids[3], ids[4], ids[1]], "p2", 60_000) == {ids[3], ids[4]}
    assert [r["id"] for r in q.claim("p4", 10, 60_000)] == others  # no filter: the other kind


def test_an_expired_claim_is_claimed_again(engine: Engine) -> None:
    [row] = fill(engine, 1)
    q = ClaimQueue(engine, JOBS)
    assert [r["id"] for r in q.claim("dead", 1, 1)] == [row]  # a consumer that then dies
    time.sleep(0.01)
    [taken] = q.claim("alive", 1, 60_000)
    assert (taken["id"], taken["claimed_by"]) == (row, "alive")
    assert q.complete([row], "dead") == 0  # the late consumer cannot complete what it lost
    assert q.complete([row], "alive") == 1


ROWS = 600
BATCH = 2


def _consume(uri: str, holder: str, go: Any, out: Any) -> None:
    """One consumer process: claim until the queue has no free row left; never complete, so a
    row handed out twice would show up in two consumers' lists."""
    engine = make_engine(uri)
    q = ClaimQueue(engine, JOBS)
    got: list[int] = []
    go.wait(60)
    while batch := q.claim(holder, BATCH, 600_000):
        got.extend(r["id"] for r in batch)
    engine.dispose()
    out.put((holder, got))


def test_two_processes_claiming_from_one_queue_never_get_the_same_row(db_uri: str, engine: Engine) -> None:
    ids = fill(engine, ROWS)
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=_consume, args=(db_uri, name, go, out)) for name in ("p1", "p2")]
    for p in procs:
        p.start()
    go.set()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    both = results["p1"] + results["p2"]
    assert len(both) == len(set(both)), "a row was claimed by both processes"
    assert sorted(both) == ids  # and every row was claimed
    assert results["p1"] and results["p2"], "the two consumers did not overlap"
    claimed = {r.id: r.claimed_by for r in rows(engine).values()}
    assert all(claimed[i] == "p1" for i in results["p1"]) and all(claimed[i] == "p2" for i in results["p2"])

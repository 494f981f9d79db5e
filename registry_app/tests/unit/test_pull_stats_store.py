"""Pull statistics SQL (db/pull_stats.py) on SQLite and PostgreSQL: counts add up across flushes,
the last pull is the latest whatever the order of the flushes, a tag follows its latest manifest,
and a digest pull counts for the manifest only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_app.db.engine import make_engine, migrate
from registry_app.db.pull_stats import PullCount, PullStatsStore
from registry_app.db.store import Store

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, PullStatsStore]]:
    uri = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(uri)
    migrate(engine)
    try:
        yield Store(engine), PullStatsStore(engine)
    finally:
        engine.dispose()


def test_counts_add_up(stores: tuple[Store, PullStatsStore]) -> None:
    store, stats = stores
    repo = store.create_repo("acme", "web", "private", True).id
    assert stats.tag(repo, "latest") is None and stats.manifest(repo, A) is None
    assert stats.add([PullCount(repo, "latest", A, 2, 2000), PullCount(repo, None, A, 1, 3000)]) == 2
    assert stats.add([PullCount(repo, "latest", B, 5, 1000)]) == 1  # an older flush arrives late
    tag = stats.tag(repo, "latest")
    assert tag is not None and (tag.pull_count, tag.last_pull_ms, tag.manifest_digest) == (7, 2000, B)
    a = stats.manifest(repo, A)
    assert a is not None and (a.pull_count, a.last_pull_ms) == (3, 3000)
    b = stats.manifest(repo, B)
    assert b is not None and (b.pull_count, b.last_pull_ms) == (5, 1000)
    assert stats.add([]) == 0

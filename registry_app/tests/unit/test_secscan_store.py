"""The security worker's SQL (db/secscan.py) on SQLite and on a real PostgreSQL: the lease that
keeps one worker per deployment, the candidate queries, statuses, events and the notification queue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_app.db import secscan as db
from registry_app.db.engine import make_engine, migrate
from registry_app.db.secscan import SecscanStore
from registry_app.db.store import Store

OCI = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, SecscanStore]]:
    uri = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(uri)
    migrate(engine)
    try:
        yield Store(engine), SecscanStore(engine)
    finally:
        engine.dispose()


def push(store: Store, repo_id: int, digest: str, tag: str | None) -> int:
    store.put_manifest(
        repo_id, digest, OCI, None, None, None, json.dumps({"d": digest}).encode(), [], [], [tag] if tag else []
    )
    row = store.resolve("acme", "web", digest, True)
    assert row is not None and row[1] is not None
    return row[1].id


def test_only_one_holder_has_the_lease(stores: tuple[Store, SecscanStore]) -> None:
    _, sec = stores
    assert sec.acquire_lease("w", "a", 60_000)
    assert sec.acquire_lease("w", "a", 60_000)  # renewal
    assert not sec.acquire_lease("w", "b", 60_000)
    sec.release_lease("w", "a")
    assert sec.acquire_lease("w", "b", 1)
    time.sleep(0.01)
    assert sec.acquire_lease("w", "a", 60_000)  # b's lease expired


def test_candidates_statuses_events_and_notifications(stores: tuple[Store, SecscanStore]) -> None:
    store, sec = stores
    repo = store.create_repo("acme", "web", "private", True)
    new = push(store, repo.id, "sha256:" + "1" * 64, "latest")
    done = push(store, repo.id, "sha256:" + "2" * 64, None)
    failed = push(store, repo.id, "sha256:" + "3" * 64, None)
    exhausted = push(store, repo.id, "sha256:" + "4" * 64, None)
    assert sec.set_status(done, repo.id, db.COMPLETED, "state-1")
    assert sec.set_status(failed, repo.id, db.FAILED, "state-1", {"err": "x"}, retries=1)
    assert sec.set_status(exhausted, repo.id, db.FAILED, "state-1", "x", retries=3)
    assert not sec.set_status(999_999, repo.id, db.COMPLETED, "s")  # a deleted manifest
    now = int(time.time() * 1000)

    def ids(state: str, before: int) -> set[int]:
        return {c.manifest_id for c in sec.candidates(state, before, 3, 100)}

    assert ids("state-1", now + 1000) == {new, failed}
    assert ids("state-2", now - 60_000) == {new, failed}  # re-index only after the threshold
    assert ids("state-2", now + 1000) == {new, failed, done, exhausted}  # Clair's state changed
    status = sec.status(failed)
    assert status is not None and (status.index_status, status.retries) == (db.FAILED, 1)
    assert json.loads(status.error_json or "") == {"err": "x"}
    assert sec.candidates("state-1", now + 1000, 3, 1)[0].manifest_id == new  # batches by id
    assert [c.manifest_id for c in sec.candidates("state-1", now + 1000, 3, 10, after_id=new)] == [failed]

    assert sec.tag_names(new, 100) == ["latest"]
    assert [m for m, _ in sec.manifests_with_digest("sha256:" + "1" * 64)] == [new]
    assert sec.digest_in_use("sha256:" + "1" * 64) and not sec.digest_in_use("sha256:" + "9" * 64)
    assert sorted(sec.repository_digests(repo.id))[0] == "sha256:" + "1" * 64

    sec.record_events([("vulnerability_found", repo.id, {"repository": "acme/web"})])
    [event] = sec.events(repo.id, "vulnerability_found")
    assert event["payload"] == {"repository": "acme/web"}

    sec.queue_notification("n1")
    sec.queue_notification("n1")  # Clair may deliver twice
    [queued] = sec.due_notifications()
    assert (queued.notification_id, queued.next_page, queued.attempts) == ("n1", None, 0)
    sec.update_notification("n1", "page-2", 1, 60_000)
    assert sec.due_notifications() == []
    sec.delete_notification("n1")

    assert store.delete_manifest(repo.id, "sha256:" + "2" * 64)
    assert sec.status(done) is None  # the status goes with its manifest

"""Abandoned uploads below HTTP (services/uploads.py, db/store.py, storage): the collection against
a real database (SQLite, and PostgreSQL where marked) and real files, the bound on open uploads
under concurrency, the settings and their Quay fallbacks, and the upload writer's close/abort."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry_app.db.engine import make_engine, migrate
from registry_app.db.store import Store
from registry_app.services.uploads import (
    FILE_WITHOUT_ROW,
    IDLE,
    ROW_WITHOUT_FILE,
    collect_abandoned_uploads,
)
from registry_app.settings.units import parse_duration
from registry_app.settings.uploads import UploadSettings
from registry_app.storage.filesystem import FilesystemStorage

HOUR_MS = 3_600_000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, FilesystemStorage, int]]:
    uri = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(uri)
    migrate(engine)
    storage = FilesystemStorage(tmp_path / "storage")
    storage.check()
    store = Store(engine)
    repo = store.create_repo("acme", "web", "private", True)
    try:
        yield store, storage, repo.id
    finally:
        engine.dispose()


def open_upload(store: Store, storage: FilesystemStorage, repo_id: int, data: bytes = b"", file: bool = True) -> str:
    upload_id = str(uuid.uuid4())
    assert store.create_upload(upload_id, repo_id, "sha256", None)
    if file:
        storage.create_upload(upload_id)
        (storage.uploads / upload_id).write_bytes(data)
    return upload_id


def age(store: Store, storage: FilesystemStorage, upload_id: str, ms: int) -> None:
    from sqlalchemy import text

    then = int(time.time() * 1000) - ms
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE upload SET updated_ms = :t WHERE id = :id"), {"t": then, "id": upload_id})
    path = storage.uploads / upload_id
    if path.exists():
        os.utime(path, (then / 1000, then / 1000))


def test_collection(world: tuple[Store, FilesystemStorage, int]) -> None:
    store, storage, repo_id = world
    idle = open_upload(store, storage, repo_id, b"x" * 10)
    age(store, storage, idle, 2 * HOUR_MS)
    fresh = open_upload(store, storage, repo_id, b"y")
    no_row = str(uuid.uuid4())
    (storage.uploads / no_row).write_bytes(b"z" * 7)
    os.utime(storage.uploads / no_row, (time.time() - 3600, time.time() - 3600))
    young_no_row = str(uuid.uuid4())
    (storage.uploads / young_no_row).write_bytes(b"")
    no_file = open_upload(store, storage, repo_id, file=False)
    age(store, storage, no_file, 20 * 60_000)  # past the 15-minute grace, within the hour

    dry = collect_abandoned_uploads(store, storage, 3600, dry_run=True)
    found = {(c.upload_id, c.reason, c.size) for c in dry.collected}
    assert found == {(idle, IDLE, 10), (no_row, FILE_WITHOUT_ROW, 7), (no_file, ROW_WITHOUT_FILE, 0)}
    assert dry.freed_bytes == 17 and dry.summary().startswith("would remove 3 uploads")
    assert set(store.upload_activity()) == {idle, fresh, no_file}  # nothing removed

    done = collect_abandoned_uploads(store, storage, 3600)
    assert {(c.upload_id, c.reason) for c in done.collected} == {(i, r) for i, r, _ in found}
    assert set(store.upload_activity()) == {fresh}
    assert {i.upload_id for i in storage.list_uploads()} == {fresh, young_no_row}
    assert collect_abandoned_uploads(store, storage, 3600).collected == []


def test_a_touched_upload_is_not_collected(world: tuple[Store, FilesystemStorage, int]) -> None:
    """Compare-and-delete: an upload made active after it was found idle stays."""
    store, storage, repo_id = world
    upload_id = open_upload(store, storage, repo_id, b"data")
    age(store, storage, upload_id, 2 * HOUR_MS)
    cutoff = int(time.time() * 1000) - HOUR_MS
    assert store.touch_uploads([upload_id]) == 1
    assert not store.delete_upload_if_idle(upload_id, cutoff)
    assert collect_abandoned_uploads(store, storage, 3600).collected == []
    assert store.touch_uploads(["no-such-upload"]) == 0


def test_bound_on_open_uploads_holds_under_concurrency(world: tuple[Store, FilesystemStorage, int]) -> None:
    store, _storage, repo_id = world
    account = store.create_repo("bob", "x", "private", True).namespace_id

    def one(_: int) -> bool:
        return store.create_upload(str(uuid.uuid4()), repo_id, "sha256", None, account_id=account, max_open=5)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(24)))
    assert results.count(True) == 5
    assert store.create_upload(str(uuid.uuid4()), repo_id, "sha256", None, account_id=None, max_open=5)  # anonymous
    assert store.create_upload(str(uuid.uuid4()), repo_id, "sha256", None, account_id=account, max_open=0)  # no bound


def test_settings_and_quay_fallbacks() -> None:
    assert parse_duration("24h") == 86400 and parse_duration("2s") == 2 and parse_duration("2w") == 1209600
    for bad in ("", "h", "1.5h", "-1h", "10", "1y", "\u0661h"):  # the last: an Arabic-Indic digit
        with pytest.raises(ValueError):
            parse_duration(bad)
    default = UploadSettings.from_values({})
    assert (default.max_age_s, default.interval_s, default.max_open_per_account) == (86400, 3600, 100)
    assert default.touch_interval_s == 60 and default.orphan_grace_s == 900
    quay = UploadSettings.from_values({"BLOBUPLOAD_DELETION_DATE_THRESHOLD": 2880, "BLOBUPLOAD_CLEANUP_FREQUENCY": 600})
    assert (quay.max_age_s, quay.interval_s) == (172800, 600)
    ours = UploadSettings.from_values(
        {
            "REGISTRY_APP_UPLOAD_MAX_AGE": "2s",
            "REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL": "0s",
            "REGISTRY_APP_MAX_OPEN_UPLOADS": 0,
            "BLOBUPLOAD_DELETION_DATE_THRESHOLD": 2880,
        }
    )
    assert (ours.max_age_s, ours.interval_s, ours.max_open_per_account) == (2, 0, 0)
    assert ours.touch_interval_s == 0.5 and ours.orphan_grace_s == 2


def test_writer_abort_after_close_touches_nothing(tmp_path: Path) -> None:
    """A PATCH whose size could not be recorded is aborted after its writer closed: the file
    descriptor must not be closed twice (its number may belong to another file by then)."""
    storage = FilesystemStorage(tmp_path)
    storage.check()
    storage.create_upload("u")
    writer = storage.open_upload("u", 0)
    writer.write(b"durable bytes")
    assert writer.close() == 13
    other = os.open(tmp_path / "other", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        writer.abort()  # before the fix: os.close on a closed (or reused) descriptor
        os.write(other, b"still open")
    finally:
        os.close(other)
    assert (storage.uploads / "u").read_bytes() == b"durable bytes"

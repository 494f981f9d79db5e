"""The upload path below HTTP: the background hashing thread (HashPipe), hash states that lag the
upload's size and are caught up from the upload file, uploads continued by another worker (a second
RegistryService on the same database and storage) and dropped appends. Real SQLite and files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_app.db.engine import make_engine, migrate
from registry_app.db.store import Store
from registry_app.services.auth import ANONYMOUS
from registry_app.services.errors import DigestInvalid
from registry_app.services.registry import Access, HashPipe, RegistryService
from registry_app.storage.filesystem import FilesystemStorage
from registry_app.storage.hashing import hashed_bytes, new_hasher

MiB = 1024 * 1024


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Store, FilesystemStorage, Access]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    storage = FilesystemStorage(tmp_path / "data")
    storage.check()
    store = Store(engine)
    repo = store.create_repo("acme", "web", "private", True)
    try:
        yield store, storage, Access("acme/web", "acme", "web", repo, ANONYMOUS)
    finally:
        engine.dispose()


def service(store: Store, storage: FilesystemStorage) -> RegistryService:
    return RegistryService(store, storage, None)  # type: ignore[arg-type]  # uploads need no auth


def append(svc: RegistryService, acc: Access, upload_id: str, data: bytes, piece: int = 300_000) -> int:
    session = svc.open_append(acc, upload_id, None)
    for off in range(0, len(data), piece):
        session.write(data[off : off + piece])
    return svc.finish_append(session)


@pytest.mark.parametrize("alg", ["sha256", "sha512"])
def test_hashed_bytes_reads_the_count_from_the_state(alg: str) -> None:
    for n in (0, 1, 63, 64, 65, 1_000_003):
        h = new_hasher(alg)
        h.update(os.urandom(n))
        state = h.state()
        assert state is not None
        assert hashed_bytes(alg, state) == n


def test_pipe_hashes_in_order_and_snapshots_a_prefix() -> None:
    data = os.urandom(9 * MiB + 5)
    pipe = HashPipe(new_hasher("sha256"), 0)
    pieces = [data[i : i + 417_792] for i in range(0, len(data), 417_792)]
    for piece in pieces:
        pipe.feed(piece)
    state = pipe.snapshot()
    assert state is not None
    done = hashed_bytes("sha256", state)
    resumed = new_hasher("sha256", state)
    resumed.update(data[done:])
    assert resumed.hexdigest() == hashlib.sha256(data).hexdigest()
    assert pipe.hexdigest() == hashlib.sha256(data).hexdigest()
    assert pipe.fed == len(data)


def test_small_buffers_are_hashed_inline_and_mixed_with_queued_ones() -> None:
    data = os.urandom(3 * MiB)
    pipe = HashPipe(new_hasher("sha512"), 0)
    off = 0
    for size in (10, 70_000, 1, MiB, 5, 64 * 1024, 2 * MiB):
        pipe.feed(data[off : off + size])
        off += size
    pipe.feed(data[off:])
    assert pipe.hexdigest() == hashlib.sha512(data).hexdigest()


def test_feeding_while_the_thread_finishes_keeps_the_order() -> None:
    """Small buffers fed while the hashing thread works (or is just running out of work) must be
    queued behind the earlier ones, never hashed inline ahead of them."""
    data = os.urandom(64 * 1024 * 3)
    for _ in range(300):  # bounded; each round races the thread's exit once
        pipe = HashPipe(new_hasher("sha256"), 0)
        pipe.feed(data[: 100_000])
        pipe.feed(data[100_000:100_010])
        pipe.feed(data[100_010:])
        pipe.feed(b"z")
        assert pipe.hexdigest() == hashlib.sha256(data + b"z").hexdigest()


def test_chunked_upload_continued_by_another_worker(world: tuple[Store, FilesystemStorage, Access]) -> None:
    store, storage, acc = world
    first, second = service(store, storage), service(store, storage)
    data = os.urandom(20 * MiB + 3)
    upload_id = first.start_upload(acc)
    assert append(first, acc, upload_id, data[: 12 * MiB]) == 12 * MiB
    assert append(second, acc, upload_id, data[12 * MiB : 15 * MiB]) == 15 * MiB
    assert append(first, acc, upload_id, data[15 * MiB :]) == len(data)  # its own pipe is stale now
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    second.complete_upload(acc, upload_id, digest)
    assert store.blob_in_repo(acc.repo.id, digest) == len(data)  # type: ignore[union-attr]
    assert storage.read_blob(digest) == data
    assert store.get_upload(upload_id, acc.repo.id) is None  # type: ignore[union-attr]


def test_lagging_state_is_caught_up_from_the_upload_file(world: tuple[Store, FilesystemStorage, Access]) -> None:
    """A restart between the 202 and the end of the background hashing leaves a stored state that
    covers fewer bytes than the upload has; whoever continues re-hashes the difference from disk."""
    store, storage, acc = world
    assert acc.repo is not None
    data = os.urandom(6 * MiB + 11)
    svc = service(store, storage)
    upload_id = svc.start_upload(acc)
    assert append(svc, acc, upload_id, data[: 5 * MiB]) == 5 * MiB
    old = new_hasher("sha256")
    old.update(data[:1_000_001])
    assert store.advance_upload(upload_id, 5 * MiB, 5 * MiB, old.state())  # as if saved early

    restarted = service(store, storage)
    assert append(restarted, acc, upload_id, data[5 * MiB :]) == len(data)
    row = store.get_upload(upload_id, acc.repo.id)
    assert row is not None and row.hash_state is not None
    assert hashed_bytes("sha256", row.hash_state) >= 5 * MiB  # the catch-up was saved too

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    store.advance_upload(upload_id, len(data), len(data), old.state())  # lagging again, by more
    service(store, storage).complete_upload(acc, upload_id, digest)
    assert storage.read_blob(digest) == data


def test_wrong_digest_stores_nothing(world: tuple[Store, FilesystemStorage, Access]) -> None:
    store, storage, acc = world
    assert acc.repo is not None
    svc = service(store, storage)
    data = os.urandom(3 * MiB)
    upload_id = svc.start_upload(acc)
    append(svc, acc, upload_id, data)
    wrong = "sha256:" + hashlib.sha256(data[:-1] + b"x").hexdigest()
    with pytest.raises(DigestInvalid):
        svc.complete_upload(acc, upload_id, wrong)
    assert store.get_upload(upload_id, acc.repo.id) is None
    assert storage.blob_size(wrong) is None
    assert storage.blob_size("sha256:" + hashlib.sha256(data).hexdigest()) is None


def test_dropped_append_is_not_hashed(world: tuple[Store, FilesystemStorage, Access]) -> None:
    store, storage, acc = world
    svc = service(store, storage)
    data = os.urandom(4 * MiB)
    upload_id = svc.start_upload(acc)
    assert append(svc, acc, upload_id, data[: 2 * MiB]) == 2 * MiB
    session = svc.open_append(acc, upload_id, None)
    session.write(os.urandom(MiB))  # a client that disconnects after this
    svc.abort_append(session)
    assert append(svc, acc, upload_id, data[2 * MiB :]) == len(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    svc.complete_upload(acc, upload_id, digest)
    assert storage.read_blob(digest) == data


def test_final_digest_with_another_algorithm_rehashes(world: tuple[Store, FilesystemStorage, Access]) -> None:
    store, storage, acc = world
    svc = service(store, storage)
    data = os.urandom(MiB + 1)
    upload_id = svc.start_upload(acc)  # sha256 by default
    append(svc, acc, upload_id, data)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    svc.complete_upload(acc, upload_id, digest)
    assert storage.read_blob(digest) == data

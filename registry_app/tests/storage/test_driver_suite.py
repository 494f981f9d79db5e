"""The suite every storage driver must pass (distribution's ``driver/testsuites`` is the model).

Each test runs once per registered storage class, on an empty storage from that class's test
factory (tests/storage/factories.py), and uses the driver only through ``BlobStorage``, the
way the services do: the state returned by ``create_upload`` and ``UploadWriter.close`` is kept
with the size and passed back, as the upload row does.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from registry_app.storage import (
    BlobInfo,
    BlobLocation,
    BlobStorage,
    LocalFile,
    NotFound,
    Redirect,
    StorageError,
    Streamed,
    UploadState,
)
from registry_app.storage.base import MAX_READ_PIECE
from tests.storage.factories import DriverUnderTest

MiB = 1024 * 1024
# Sizes around what drivers care about: empty, one byte, odd, above an object store's 5 MiB part.
SIZES = [0, 1, 4097, 6 * MiB + 1]


@dataclass
class Upload:
    """An upload as the services keep it: id, size and the driver's state at that size."""

    upload_id: str
    size: int = 0
    state: UploadState = None


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pieces(data: bytes, seed: int = 0) -> list[bytes]:
    """``data`` cut at random places, with some empty pieces, as a request body arrives."""
    rnd = random.Random(seed)  # noqa: S311 -- reproducible cut points, not secrets
    out, off = [], 0
    while off < len(data):
        n = rnd.choice([0, 1, 100, 65_536, 1_000_003, 2 * MiB])
        out.append(data[off : off + n])
        off += n
    return out


def start(storage: BlobStorage) -> Upload:
    upload_id = str(uuid.uuid4())
    return Upload(upload_id, 0, storage.create_upload(upload_id))


def append(storage: BlobStorage, up: Upload, data: bytes, seed: int = 0) -> Upload:
    """One append session (a PATCH): returns the upload as the row would hold it afterwards."""
    writer = storage.open_upload(up.upload_id, up.size, up.state)
    assert writer.offset == up.size
    batch = pieces(data, seed)
    writer.write_chunks(batch[: len(batch) // 2])
    for piece in batch[len(batch) // 2 :]:
        writer.write(piece)
    assert writer.offset == up.size + len(data)
    size = writer.close()
    assert size == up.size + len(data)
    return Upload(up.upload_id, size, writer.state)


def put(storage: BlobStorage, data: bytes, digest: str | None = None) -> str:
    up = append(storage, start(storage), data)
    digest = digest or sha256(data)
    storage.commit_upload(up.upload_id, up.size, digest, up.state)
    return digest


def read_upload(storage: BlobStorage, up: Upload, start_at: int = 0) -> bytes:
    return b"".join(storage.read_upload(up.upload_id, up.size - start_at, start_at, up.state))


def read_location(storage: BlobStorage, digest: str, location: BlobLocation) -> bytes:
    """The blob as a client gets it from ``locate``: the file, the redirect's target, or what the
    registry streams from ``read_range``."""
    if isinstance(location, LocalFile):
        with open(location.path, "rb") as fh:
            return fh.read()
    if isinstance(location, Streamed):
        return read_all(storage, digest, 0, location.size)
    assert isinstance(location, Redirect)
    r = httpx.get(location.url, timeout=60)
    r.raise_for_status()
    return r.content


def read_all(storage: BlobStorage, digest: str, start_at: int, length: int) -> bytes:
    chunks = list(storage.read_range(digest, start_at, length))
    assert all(0 < len(c) <= MAX_READ_PIECE for c in chunks)
    return b"".join(chunks)


def digests_sharing_prefixes() -> list[bytes]:
    """Three small contents whose sha256 digests share the first two hex digits, two of them the
    first three as well (found by counting, so the same every run)."""
    by2: dict[str, list[tuple[str, bytes]]] = {}
    for i in range(1_000_000):  # bounded; such a triple turns up within a few hundred
        data = f"blob {i}".encode()
        h = hashlib.sha256(data).hexdigest()
        group = by2.setdefault(h[:2], [])
        group.append((h, data))
        for h3 in {x[:3] for x, _ in group}:
            same = [d for x, d in group if x[:3] == h3]
            other = [d for x, d in group if x[:3] != h3]
            if len(same) >= 2 and other:
                return [same[0], same[1], other[0]]
    raise AssertionError("no digests sharing prefixes found")


def expect_error(fn: Callable[[], object], internals: Iterable[str], kind: type[StorageError] = StorageError) -> None:
    """``fn`` raises ``kind`` (a StorageError), whose client-facing message shows no internals."""
    with pytest.raises(StorageError) as err:
        result = fn()
        if isinstance(result, Iterator):
            list(result)
    assert isinstance(err.value, kind), repr(err.value)
    assert err.value.message and str(err.value) == err.value.message
    for secret in internals:
        assert secret not in err.value.message, (secret, err.value.message)
    for leak in ("Traceback", "Errno", "/", "\\"):
        assert leak not in err.value.message, err.value.message


# -- blobs: write, commit, read -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_write_commit_read(driver: DriverUnderTest, size: int) -> None:
    storage = driver.storage
    data = os.urandom(size)
    digest = put(storage, data)
    info = storage.stat_blob(digest)
    assert info is not None and info.digest == digest and info.size == size
    assert storage.blob_size(digest) == size
    assert storage.read_blob(digest) == data
    assert read_all(storage, digest, 0, size) == data
    assert read_location(storage, digest, storage.locate(digest, size)) == data
    assert [b.digest for b in storage.walk_blobs()] == [digest]


def test_upload_in_many_sessions(driver: DriverUnderTest) -> None:
    """Resume after a closed writer, at its offset with its state, across sizes that straddle an
    object store's part size; read the upload back from any offset."""
    storage = driver.storage
    parts = [b"x", os.urandom(5 * MiB + 7), b"", os.urandom(3), os.urandom(2 * MiB), os.urandom(6 * MiB)]
    up = start(storage)
    for i, part in enumerate(parts):
        up = append(storage, up, part, seed=i)
    data = b"".join(parts)
    assert up.size == len(data)
    for offset in (0, 1, 5 * MiB, 5 * MiB + 8, len(data) - 1, len(data)):
        assert read_upload(storage, up, offset) == data[offset:]
    digest = sha256(data)
    storage.commit_upload(up.upload_id, up.size, digest, up.state)
    assert storage.read_blob(digest) == data


def test_bytes_past_the_recorded_size_are_dropped(driver: DriverUnderTest) -> None:
    """A session that closed but whose size was never recorded (its request lost a race, or the
    process died before the row moved): the next session opens at the recorded size and state."""
    storage = driver.storage
    a, lost, b = os.urandom(MiB + 3), os.urandom(6 * MiB), os.urandom(700_001)
    recorded = append(storage, start(storage), a)
    append(storage, recorded, lost, seed=1)  # closed, never recorded
    up = append(storage, recorded, b, seed=2)
    assert read_upload(storage, up) == a + b
    storage.commit_upload(up.upload_id, up.size, sha256(a + b), up.state)
    assert storage.read_blob(sha256(a + b)) == a + b


def test_abort_drops_what_the_writer_wrote(driver: DriverUnderTest) -> None:
    storage = driver.storage
    a, b = os.urandom(2 * MiB + 1), os.urandom(3 * MiB)
    up = append(storage, start(storage), a)
    writer = storage.open_upload(up.upload_id, up.size, up.state)
    writer.write_chunks([os.urandom(MiB)] * 6)  # a client that disconnects after this
    writer.abort()
    assert read_upload(storage, up) == a
    up = append(storage, up, b)
    digest = sha256(a + b)
    storage.commit_upload(up.upload_id, up.size, digest, up.state)
    assert storage.read_blob(digest) == a + b


def test_abort_of_the_first_session_leaves_an_empty_upload(driver: DriverUnderTest) -> None:
    storage = driver.storage
    up = start(storage)
    writer = storage.open_upload(up.upload_id, 0, up.state)
    writer.write(os.urandom(100_000))
    writer.abort()
    digest = sha256(b"")
    storage.commit_upload(up.upload_id, 0, digest, up.state)
    assert storage.read_blob(digest) == b""


def test_commit_takes_the_first_size_bytes(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(MiB + 100)
    up = append(storage, start(storage), data)
    digest = sha256(data[:MiB])
    storage.commit_upload(up.upload_id, MiB, digest, up.state)
    assert storage.read_blob(digest) == data[:MiB]
    assert storage.blob_size(digest) == MiB


def test_commit_is_atomic(driver: DriverUnderTest) -> None:
    """Readers polling a digest while it is uploaded and committed see no blob or all of it."""
    storage = driver.storage
    data = os.urandom(12 * MiB + 5)
    digest = sha256(data)
    seen: list[str] = []
    done = threading.Event()
    failures: list[str] = []

    def poll() -> None:
        while True:  # bounded: ends with the first look after the commit
            finished = done.is_set()
            info = storage.stat_blob(digest)
            if info is None:
                seen.append("absent")
            elif info.size != len(data):
                failures.append(f"stat showed {info.size} bytes")
            else:
                try:
                    body = storage.read_blob(digest)
                except NotFound:
                    body = None
                if body is not None and body != data:
                    failures.append(f"read {len(body)} bytes that are not the blob")
                seen.append("whole" if body is not None else "absent")
            if any(b.digest == digest and b.size != len(data) for b in storage.walk_blobs("sha256:")):
                failures.append("walk listed a partial blob")
            if finished:
                return

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        up = start(storage)
        for i in range(4):
            up = append(storage, up, data[i * 3 * MiB : (i + 1) * 3 * MiB], seed=i)
        up = append(storage, up, data[12 * MiB :], seed=9)
        assert storage.stat_blob(digest) is None
        storage.commit_upload(up.upload_id, up.size, digest, up.state)
    finally:
        done.set()
        reader.join()
    assert not failures, failures
    assert seen and seen[-1] == "whole"


def test_commit_removes_the_upload(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(5000)
    up = append(storage, start(storage), data)
    storage.commit_upload(up.upload_id, up.size, sha256(data), up.state)
    assert up.upload_id not in {u.upload_id for u in storage.list_uploads()}
    expect_error(lambda: storage.read_upload(up.upload_id, up.size, 0, up.state), driver.internals, NotFound)
    expect_error(lambda: storage.open_upload(up.upload_id, up.size, up.state), driver.internals, NotFound)
    expect_error(
        lambda: storage.commit_upload(up.upload_id, up.size, sha256(data), up.state), driver.internals, NotFound
    )
    assert storage.read_blob(sha256(data)) == data


def test_same_content_committed_twice_is_one_blob(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(3 * MiB)
    first, second = append(storage, start(storage), data), append(storage, start(storage), data, seed=5)
    storage.commit_upload(first.upload_id, first.size, sha256(data), first.state)
    storage.commit_upload(second.upload_id, second.size, sha256(data), second.state)
    assert [(b.digest, b.size) for b in storage.walk_blobs()] == [(sha256(data), len(data))]
    assert storage.read_blob(sha256(data)) == data
    left = {u.upload_id for u in storage.list_uploads()}
    assert first.upload_id not in left and second.upload_id not in left


# -- layout, stat, walk, delete ------------------------------------------------------------------


def test_blobs_are_addressed_by_digest(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(10_000)
    d256 = put(storage, data)
    d512 = put(storage, data, "sha512:" + hashlib.sha512(data).hexdigest())
    other = put(storage, data[:-1])
    near = d256[:-1] + ("0" if d256[-1] != "0" else "1")
    assert storage.stat_blob(near) is None
    assert storage.read_blob(d512) == data and storage.read_blob(other) == data[:-1]
    storage.delete_blob(d256)
    assert storage.stat_blob(d256) is None
    assert storage.read_blob(d512) == data
    assert {b.digest for b in storage.walk_blobs()} == {d512, other}


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "sha256",
        "sha256:",
        "md5:" + "0" * 32,
        "sha256:" + "A" * 64,
        "sha256:" + "0" * 63,
        "sha256:" + "0" * 128,
        "sha256:../../../../etc/passwd",
        "sha256:" + "0" * 62 + "/x",
        "sha512:" + "0" * 64,
    ],
)
def test_malformed_digests_are_refused(driver: DriverUnderTest, bad: str) -> None:
    storage = driver.storage
    up = append(storage, start(storage), b"data")
    for call in (
        lambda: storage.stat_blob(bad),
        lambda: storage.blob_size(bad),
        lambda: storage.read_blob(bad),
        lambda: storage.read_range(bad, 0, 1),
        lambda: storage.locate(bad, 1),
        lambda: storage.delete_blob(bad),
        lambda: storage.commit_upload(up.upload_id, up.size, bad, up.state),
    ):
        expect_error(call, driver.internals)
    assert list(storage.walk_blobs()) == []
    assert read_upload(storage, up) == b"data"


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "x" * 200, "sp ace", "nul\0"])
def test_malformed_upload_ids_are_refused(driver: DriverUnderTest, bad: str) -> None:
    storage = driver.storage
    for call in (
        lambda: storage.create_upload(bad),
        lambda: storage.open_upload(bad, 0),
        lambda: storage.read_upload(bad, 0),
        lambda: storage.commit_upload(bad, 0, sha256(b"")),
        lambda: storage.delete_upload(bad),
    ):
        expect_error(call, driver.internals)
    assert list(storage.list_uploads()) == []


def test_stat(driver: DriverUnderTest) -> None:
    storage = driver.storage
    before = time.time()
    data = os.urandom(123_457)
    digest = put(storage, data)
    after = time.time()
    info = storage.stat_blob(digest)
    assert info is not None
    assert info == BlobInfo(digest, len(data), info.modified)
    # A value check, not a timing one: the store's clock may differ from ours by a little.
    assert before - 300 <= info.modified <= after + 300
    assert storage.stat_blob(sha256(b"never stored")) is None
    assert storage.blob_size(sha256(b"never stored")) is None


def test_walk_by_prefix(driver: DriverUnderTest) -> None:
    storage = driver.storage
    contents = digests_sharing_prefixes() + [os.urandom(n) for n in (0, 1, 77, 4096, 70_000)]
    stored = {put(storage, c): len(c) for c in contents}
    for c in contents[:3]:
        d512 = "sha512:" + hashlib.sha512(c).hexdigest()
        stored[put(storage, c, d512)] = len(c)
    everything = sorted(stored)
    walked = storage.walk_blobs()
    assert iter(walked) is walked  # an iterator, not a list
    infos = list(walked)
    assert [b.digest for b in infos] == everything
    assert all(b.size == stored[b.digest] for b in infos)
    shared = sha256(contents[0])
    prefixes = [
        "",
        "sha",
        "sha256",
        "sha256:",
        "sha512:",
        shared[:8],
        shared[:9],
        shared[:10],
        shared[:11],
        shared,
        "sha384:",
        "sha256:zz",
        "md5",
        "sha256:" + "f" * 70,
    ]
    for prefix in prefixes:
        expected = [d for d in everything if d.startswith(prefix)]
        assert [b.digest for b in storage.walk_blobs(prefix)] == expected, prefix
    assert len([d for d in everything if d.startswith(shared[:9])]) >= 3  # the prefix cases are real
    assert len([d for d in everything if d.startswith(shared[:10])]) >= 2


def test_walk_while_deleting(driver: DriverUnderTest) -> None:
    """The garbage collector's loop: delete what the walk yields, as it yields it."""
    storage = driver.storage
    stored = {put(storage, os.urandom(n)) for n in range(1, 40)}
    deleted = set()
    for info in storage.walk_blobs():
        storage.delete_blob(info.digest)
        deleted.add(info.digest)
    assert deleted == stored
    assert list(storage.walk_blobs()) == []


def test_delete_blob(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(2 * MiB)
    digest = put(storage, data)
    keep = put(storage, b"keep")
    storage.delete_blob(digest)
    assert storage.stat_blob(digest) is None and storage.blob_size(digest) is None
    expect_error(lambda: storage.read_blob(digest), driver.internals, NotFound)
    expect_error(lambda: storage.read_range(digest, 0, 10), driver.internals, NotFound)
    assert [b.digest for b in storage.walk_blobs()] == [keep]
    storage.delete_blob(digest)  # again: not an error
    storage.delete_blob(sha256(b"never stored"))
    assert put(storage, data) == digest  # and it can come back
    assert storage.read_blob(digest) == data


# -- uploads -------------------------------------------------------------------------------------


def test_list_uploads(driver: DriverUnderTest) -> None:
    storage = driver.storage
    before = time.time()
    empty = start(storage)
    small = append(storage, start(storage), os.urandom(1000))
    big = append(storage, append(storage, start(storage), os.urandom(6 * MiB + 3)), os.urandom(5))
    after = time.time()
    listed = storage.list_uploads()
    assert iter(listed) is listed
    infos = {u.upload_id: u for u in listed}
    assert {k: u.size for k, u in infos.items()} == {empty.upload_id: 0, small.upload_id: 1000, big.upload_id: big.size}
    assert all(before - 300 <= u.modified <= after + 300 for u in infos.values())

    storage.delete_upload(small.upload_id, small.state)
    storage.delete_upload(small.upload_id, small.state)  # again: not an error
    storage.delete_upload(str(uuid.uuid4()))  # never existed: not an error
    storage.commit_upload(big.upload_id, big.size, sha256(read_upload(storage, big)), big.state)
    assert {u.upload_id for u in storage.list_uploads()} == {empty.upload_id}
    expect_error(lambda: storage.read_upload(small.upload_id, 1000, 0, small.state), driver.internals, NotFound)


def test_resume_beyond_what_is_stored_is_an_error(driver: DriverUnderTest) -> None:
    storage = driver.storage
    up = append(storage, start(storage), os.urandom(1000))
    expect_error(lambda: storage.open_upload(up.upload_id, 1001, up.state), driver.internals)
    expect_error(lambda: storage.read_upload(up.upload_id, 1001, 0, up.state), driver.internals)
    expect_error(lambda: storage.read_upload(up.upload_id, 2, 999, up.state), driver.internals)
    assert read_upload(storage, up, 999) == read_upload(storage, up)[999:]
    expect_error(lambda: storage.commit_upload(up.upload_id, 1001, sha256(b"x"), up.state), driver.internals)


def test_unknown_uploads_are_not_found(driver: DriverUnderTest) -> None:
    storage = driver.storage
    unknown = str(uuid.uuid4())
    expect_error(lambda: storage.open_upload(unknown, 0), driver.internals, NotFound)
    expect_error(lambda: storage.read_upload(unknown, 0), driver.internals, NotFound)
    expect_error(lambda: storage.commit_upload(unknown, 0, sha256(b"")), driver.internals, NotFound)
    assert storage.stat_blob(sha256(b"")) is None


def test_check_leaves_nothing_behind(driver: DriverUnderTest) -> None:
    storage = driver.storage
    storage.check()
    storage.check()
    assert list(storage.list_uploads()) == [] and list(storage.walk_blobs()) == []


# -- reads -----------------------------------------------------------------------------------------


def test_range_reads(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(9 * MiB + 13)
    digest = put(storage, data)
    n = len(data)
    for start_at, length in [
        (0, n),
        (0, 1),
        (1, 10),
        (n - 1, 1),
        (4 * MiB - 1, 2),
        (1_234_567, 5 * MiB + 1),
        (n - 10, 100),  # clipped at the end
        (0, n + MiB),
        (n, 10),  # at the end: nothing
    ]:
        assert read_all(storage, digest, start_at, length) == data[start_at : start_at + length], (start_at, length)


def test_concurrent_readers(driver: DriverUnderTest) -> None:
    storage = driver.storage
    data = os.urandom(6 * MiB + 99)
    digest = put(storage, data)
    results: list[bool] = []
    errors: list[BaseException] = []

    def reader(i: int) -> None:
        try:
            for _ in range(3):
                if i % 3 == 0:
                    results.append(storage.read_blob(digest) == data)
                elif i % 3 == 1:
                    off = i * 100_000
                    results.append(read_all(storage, digest, off, 3 * MiB) == data[off : off + 3 * MiB])
                else:
                    results.append(read_location(storage, digest, storage.locate(digest, len(data))) == data)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 27 and all(results)

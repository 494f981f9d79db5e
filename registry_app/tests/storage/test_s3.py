"""What the S3 driver does beyond the shared suite, on the real SeaweedFS (``s3_server``):
Quay's parameters, the object layout, the upload state's invariants (parts of at least 5 MiB,
resumable by another driver instance), presigned URLs that the server verifies, assembly with
copied parts split to size or read back (RadosGW ``server_side_assembly: false``), multipart
uploads left by dead sessions, and errors that never show a key, endpoint or bucket."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from registry_app.storage import (
    NotFound,
    Redirect,
    StorageError,
    Streamed,
    UploadState,
    make_storage,
    param_problems,
)
from registry_app.storage.s3 import S3_MIN_PART, S3BlobStorage
from registry_app.storage.s3_classes import endpoint_from_host
from registry_app.storage.s3_state import Segment, cut, decode_state, encode_state, split_range
from tests.support.s3 import SeaweedServer

MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def prefix(s3_server: SeaweedServer) -> Iterator[str]:
    """A fresh storage_path in the shared bucket, emptied afterwards."""
    path = f"s3test-{uuid.uuid4().hex[:12]}"
    yield path
    s3_server.empty(s3_server.shared_bucket(), path + "/")


def s3(server: SeaweedServer, path: str, **extra: Any) -> S3BlobStorage:
    storage = make_storage("S3Storage", server.s3_storage_params(server.shared_bucket(), path, **extra))
    assert isinstance(storage, S3BlobStorage)
    return storage


def append(
    storage: S3BlobStorage, upload_id: str, size: int, state: UploadState, data: bytes
) -> tuple[int, UploadState]:
    writer = storage.open_upload(upload_id, size, state)
    writer.write(data)
    return writer.close(), writer.state


# -- pure logic: no server ---------------------------------------------------------------------------


def test_endpoint_from_host_is_quays() -> None:
    assert endpoint_from_host("s3.example.com", None, True) == "https://s3.example.com"
    assert endpoint_from_host("s3.example.com", 8080, False) == "http://s3.example.com:8080"
    assert endpoint_from_host("http://gw:7480", 9999, True) == "http://gw:7480"  # a port already there wins
    assert endpoint_from_host("https://gw", 443, False) == "https://gw:443"


def test_cut_and_split() -> None:
    segs = [Segment("a", 10), Segment("b", 5), Segment("c", 7)]
    assert cut(segs, 0) == []
    assert cut(segs, 12) == [Segment("a", 10), Segment("b", 2)]
    assert cut(segs, 22) == segs
    assert cut(segs, 23) is None
    for length, most in [(1, 10), (10, 10), (11, 10), (100 * MiB + 1, 100 * MiB), (23, 5)]:
        ranges = split_range(length, most)
        assert ranges[0][0] == 0 and ranges[-1][1] == length - 1
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
        assert all(hi - lo + 1 <= most for lo, hi in ranges)
        if len(ranges) > 1:  # even: no small tail part
            assert min(hi - lo + 1 for lo, hi in ranges) >= most // 2
    assert split_range(0, 10) == []


@pytest.mark.parametrize(
    "state",
    [b"", b"null", b"{}", b'{"v":2,"s":[]}', b'{"v":1,"s":[["../../blobs/x",1]]}', b'{"v":1,"s":[["x",1]]}',
     b'{"v":1,"s":[["00000000000000000000-ab",-1]]}', b"\xff"],
)  # fmt: skip
def test_a_state_it_did_not_write_is_refused(state: bytes) -> None:
    with pytest.raises(StorageError) as err:
        decode_state(state)
    assert err.value.message == "upload state is damaged"
    seg = [Segment("00000000000000000000-abcdef", 5)]
    assert decode_state(encode_state(seg)) == seg and decode_state(None) == []


def test_parameters_as_quay_names_them() -> None:
    assert param_problems("S3Storage", {"storage_path": "/p", "s3_bucket": "b"}) == []
    problems = param_problems("S3Storage", {"s3_access_key": "AKIAEXAMPLE", "s3_secret_key": "hunter2-secret"})
    assert "S3Storage needs storage_path" in problems[0] and "S3Storage needs s3_bucket" in problems[1]
    assert param_problems("S3Storage", {"storage_path": "/p", "s3_bucket": "b", "port": "x", "bucket_name": "b"}) == [
        "S3Storage has no parameter 'bucket_name' (known: aws_session_token, endpoint_url, host, is_secure, "
        "maximum_chunk_size_gb, minimum_chunk_size_mb, port, presigned_url_expiry_seconds, proxy_downloads, "
        "s3_access_key, s3_bucket, s3_region, s3_secret_key, signature_version, storage_path)",
        "S3Storage parameter port must be an integer",
    ]
    rados = param_problems("RadosGWStorage", {"hostname": "gw", "secret_key": "hunter2-secret"})
    assert rados == [
        "RadosGWStorage needs is_secure (https (true) or http (false))",
        "RadosGWStorage needs storage_path (the key prefix in the bucket)",
        "RadosGWStorage needs access_key (access key id)",
        "RadosGWStorage needs bucket_name (the bucket)",
    ]
    assert not any("hunter2" in p or "AKIAEXAMPLE" in p for p in problems + rados)


def test_secret_key_is_in_no_attribute_or_repr(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, prefix)
    assert s3_server.secret_key not in repr(storage)
    assert all(s3_server.secret_key not in repr(v) for v in vars(storage).values())
    assert s3_server.secret_key not in repr(storage.settings)


# -- layout and the upload state ----------------------------------------------------------------------


def test_layout_under_storage_path(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, f"/{prefix}/registry/")
    upload_id = str(uuid.uuid4())
    state = storage.create_upload(upload_id)
    size, state = append(storage, upload_id, 0, state, b"hello")
    keys = s3_server.keys(s3_server.shared_bucket(), prefix + "/")
    assert keys[0] == f"{prefix}/registry/uploads/{upload_id}/00000000000000000000-" + keys[0].rsplit("-", 1)[1]
    assert keys[1] == f"{prefix}/registry/uploads/{upload_id}/info"
    storage.commit_upload(upload_id, size, sha256(b"hello"), state)
    hexpart = sha256(b"hello").split(":")[1]
    assert s3_server.keys(s3_server.shared_bucket(), prefix + "/") == [
        f"{prefix}/registry/blobs/sha256/{hexpart[:2]}/{hexpart}"
    ]


def test_many_small_sessions_keep_parts_of_at_least_5_mib(s3_server: SeaweedServer, prefix: str) -> None:
    """A push of 1.5 MiB PATCHes: every segment but the last reaches 5 MiB before a new one starts,
    so the state grows by one entry per 5 MiB and the commit's parts are all valid."""
    storage = s3(s3_server, prefix)
    upload_id = str(uuid.uuid4())
    state, size, data = storage.create_upload(upload_id), 0, b""
    for i in range(9):
        chunk = os.urandom(1536 * 1024 + i)
        size, state = append(storage, upload_id, size, state, chunk)
        data += chunk
        segments = decode_state(state)
        assert sum(s.length for s in segments) == size
        assert all(s.length >= S3_MIN_PART for s in segments[:-1]), segments
        assert len(segments) <= size // S3_MIN_PART + 1
    assert len(decode_state(state)) == 3  # 13.5 MiB: 6 + 6 + 1.5
    storage.commit_upload(upload_id, size, sha256(data), state)
    assert storage.read_blob(sha256(data)) == data
    assert s3_server.multipart_uploads(s3_server.shared_bucket(), prefix + "/") == []


def test_another_instance_continues_from_the_state_alone(s3_server: SeaweedServer, prefix: str) -> None:
    """What a PATCH on another app host does: a new driver object, nothing shared but the state."""
    first, second, third = (s3(s3_server, prefix) for _ in range(3))
    upload_id = str(uuid.uuid4())
    a, b, c = os.urandom(7 * MiB), os.urandom(2 * MiB + 1), os.urandom(9)
    size, state = append(first, upload_id, 0, first.create_upload(upload_id), a)
    size, state = append(second, upload_id, size, state, b)
    size, state = append(third, upload_id, size, state, c)
    assert b"".join(first.read_upload(upload_id, size, 0, state)) == a + b + c
    second.commit_upload(upload_id, size, sha256(a + b + c), state)
    assert first.read_blob(sha256(a + b + c)) == a + b + c


def test_a_large_session_is_a_multipart_upload_and_abort_removes_it(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, prefix)
    bucket = s3_server.shared_bucket()
    upload_id = str(uuid.uuid4())
    state = storage.create_upload(upload_id)
    writer = storage.open_upload(upload_id, 0, state)
    writer.write_chunks([os.urandom(MiB)] * 12)  # two parts sent, two MiB buffered
    assert len(s3_server.multipart_uploads(bucket, prefix + "/")) == 1
    writer.abort()
    assert s3_server.multipart_uploads(bucket, prefix + "/") == []
    assert writer.state == state and writer.offset == 0
    data = os.urandom(11 * MiB + 3)
    size, state = append(storage, upload_id, 0, state, data)
    assert [s.length for s in decode_state(state)] == [len(data)]
    assert s3_server.multipart_uploads(bucket, prefix + "/") == []  # completed
    storage.commit_upload(upload_id, size, sha256(data), state)
    assert storage.read_blob(sha256(data)) == data


@pytest.mark.parametrize("server_side", [True, False])
def test_radosgw_assembly_copied_in_ranges_or_read_back(
    s3_server: SeaweedServer, prefix: str, server_side: bool
) -> None:
    """maximum_chunk_size_mb splits big segments into copied parts of even size; with
    server_side_assembly false the parts are read back and uploaded (Quay's client-side join)."""
    params = s3_server.radosgw_params(
        s3_server.shared_bucket(), prefix, maximum_chunk_size_mb=10, server_side_assembly=server_side
    )
    storage = make_storage("RadosGWStorage", params)
    upload_id = str(uuid.uuid4())
    a, b = os.urandom(23 * MiB + 5), os.urandom(3 * MiB)
    size, state = append(storage, upload_id, 0, storage.create_upload(upload_id), a)  # type: ignore[arg-type]
    size, state = append(storage, upload_id, size, state, b)  # type: ignore[arg-type]
    storage.commit_upload(upload_id, size, sha256(a + b), state)
    assert storage.read_blob(sha256(a + b)) == a + b
    assert list(storage.list_uploads()) == []


def test_an_upload_only_a_multipart_upload_stands_for_is_listed_and_deleted(
    s3_server: SeaweedServer, prefix: str
) -> None:
    """A session that died mid-part after its upload was deleted elsewhere: no object is left, only
    a multipart upload; the collector must still see the id and delete_upload must abort it."""
    storage = s3(s3_server, prefix)
    upload_id = str(uuid.uuid4())
    client = s3_server.client()
    bucket = s3_server.shared_bucket()
    key = f"{prefix}/uploads/{upload_id}/00000000000000000000-abcdef"
    client.create_multipart_upload(Bucket=bucket, Key=key)
    listed = {u.upload_id: u for u in storage.list_uploads()}
    assert set(listed) == {upload_id} and listed[upload_id].size == 0
    storage.delete_upload(upload_id)
    assert s3_server.multipart_uploads(bucket, prefix + "/") == []
    assert list(storage.list_uploads()) == []


# -- downloads -------------------------------------------------------------------------------------------


def test_presigned_url_is_verified_by_the_server(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, prefix, presigned_url_expiry_seconds=120)
    data = os.urandom(70_000)
    upload_id = str(uuid.uuid4())
    size, state = append(storage, upload_id, 0, storage.create_upload(upload_id), data)
    storage.commit_upload(upload_id, size, sha256(data), state)
    location = storage.locate(sha256(data), len(data))
    assert isinstance(location, Redirect)
    query = parse_qs(urlsplit(location.url).query)
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert s3_server.secret_key not in location.url
    assert httpx.get(location.url).content == data
    ranged = httpx.get(location.url, headers={"range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    tampered = location.url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered).status_code == 403
    unsigned = location.url.split("?", 1)[0]
    assert httpx.get(unsigned).status_code == 403  # the bucket is not public: only the signature lets it out
    default = s3(s3_server, prefix).locate(sha256(data), len(data))
    assert isinstance(default, Redirect) and parse_qs(urlsplit(default.url).query)["X-Amz-Expires"] == ["60"]


def test_proxy_downloads_streams(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, prefix, proxy_downloads=True)
    data = os.urandom(3 * MiB + 7)
    upload_id = str(uuid.uuid4())
    size, state = append(storage, upload_id, 0, storage.create_upload(upload_id), data)
    storage.commit_upload(upload_id, size, sha256(data), state)
    assert storage.locate(sha256(data), len(data)) == Streamed(len(data))
    assert b"".join(storage.read_range(sha256(data), 0, len(data))) == data


# -- errors -----------------------------------------------------------------------------------------------


def assert_clean(err: StorageError, server: SeaweedServer, *more: str) -> None:
    for secret in (*server.internals(), *more):
        assert secret not in err.message, err.message
    assert server.secret_key not in err.detail


def test_wrong_secret_key_is_refused(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, prefix, s3_secret_key="not-" + s3_server.secret_key)
    with pytest.raises(StorageError) as err:
        storage.check()
    assert err.value.message == "storage refused access: check the storage credentials"
    assert_clean(err.value, s3_server, s3_server.shared_bucket(), prefix, "not-")
    assert s3_server.endpoint in err.value.detail  # the operator learns where


def test_missing_bucket_and_unreachable_endpoint(s3_server: SeaweedServer, prefix: str) -> None:
    params = s3_server.s3_storage_params("no-such-bucket-here", prefix)
    with pytest.raises(StorageError) as err:
        make_storage("S3Storage", params).check()
    assert err.value.message == "storage bucket does not exist" and not isinstance(err.value, NotFound)
    assert_clean(err.value, s3_server, "no-such-bucket-here")
    from tests.support.server import free_port

    dead = s3_server.s3_storage_params(
        s3_server.shared_bucket(), prefix, endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(StorageError) as err:
        make_storage("S3Storage", dead).check()
    assert err.value.message == "storage is not reachable"
    assert_clean(err.value, s3_server, s3_server.shared_bucket())


def test_a_damaged_state_or_a_lost_segment_is_a_storage_error(s3_server: SeaweedServer, prefix: str) -> None:
    storage = s3(s3_server, prefix)
    upload_id = str(uuid.uuid4())
    size, state = append(storage, upload_id, 0, storage.create_upload(upload_id), os.urandom(1000))
    with pytest.raises(StorageError, match="upload state is damaged"):
        storage.open_upload(upload_id, size, b'{"v":1,"s":[["../x",1]]}')
    assert state is not None
    name = json.loads(state)["s"][0][0]
    s3_server.client().delete_object(Bucket=s3_server.shared_bucket(), Key=f"{prefix}/uploads/{upload_id}/{name}")
    with pytest.raises(StorageError) as err:
        list(storage.read_upload(upload_id, size, 0, state))
    assert not isinstance(err.value, NotFound) and err.value.message == "upload data is missing"


def test_errors_are_logged_without_secrets(
    s3_server: SeaweedServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    storage = s3(s3_server, prefix, s3_secret_key="wrong-secret-value")  # noqa: S106 -- a wrong one, on purpose
    with pytest.raises(StorageError):
        storage.check()
    assert "wrong-secret-value" not in caplog.text and s3_server.secret_key not in caplog.text

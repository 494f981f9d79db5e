"""S3-compatible blob storage through boto3: the driver behind Quay's ``S3Storage`` and
``RadosGWStorage`` (their parameters: storage/s3_classes.py; the upload state: storage/s3_state.py).

Layout under the bucket, below ``storage_path`` (as Quay's ``_init_path``: leading "/" dropped):

    blobs/<alg>/<hex[:2]>/<hex>             a blob, as the filesystem driver lays it out
    uploads/<id>/info                       an upload exists (empty object, made by create_upload)
    uploads/<id>/<offset:020d>-<random>     a segment: the bytes one append session wrote

An upload is a list of segments, each a whole object, kept in the opaque upload state the
services store in the upload row (JSON ``{"v": 1, "s": [[name, length], ...]}``), so that the next
PATCH may land on any process of any app host. Every segment but the last is at least
``minimum_chunk_size_mb`` (5 MiB, S3's smallest multipart part): a session that opens after a
smaller last segment reads it back (one GET) and writes it again with its own bytes. A session
writes its segment with one PutObject, or as its own multipart upload once it has more than one
part's worth. ``commit_upload`` assembles the blob server-side (a multipart upload at the blob's key
whose parts are UploadPartCopy ranges of the segments, or, with RadosGW's
``server_side_assembly: false``, parts read back and uploaded), which S3 shows only once complete:
readers see the whole blob or none. docs/architecture.md, "Storage drivers", has the design.

Blob GETs are answered by a presigned GET URL (``Redirect``), or with ``proxy_downloads: true``
(a registry_app extension) streamed through the registry (``Streamed``) for clients that cannot
reach the object store.

Errors are StorageError whose ``message`` names neither bucket, key, endpoint nor credentials;
``detail`` names the endpoint, bucket and key (never a key secret). The secret key is handed to
boto3 and kept nowhere else: not in an attribute of the driver, not in its repr.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from registry_app.storage.base import (
    BlobInfo,
    BlobLocation,
    BlobStorage,
    NotFound,
    Redirect,
    StorageError,
    Streamed,
    UploadInfo,
    UploadState,
    UploadWriter,
    check_upload_id,
    split_digest,
)
from registry_app.storage.hashing import DIGEST_HEX_LEN
from registry_app.storage.s3_state import Segment, cut, decode_state, encode_state, is_segment_name, split_range

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB
S3_MIN_PART = 5 * MiB  # S3's smallest part (but the last) of a multipart upload
S3_MAX_PARTS = 10_000
# The pieces read_range and read_upload yield: one ASGI body message each when streaming.
READ_PIECE = 512 * 1024
# Parts read back and uploaded when the server cannot copy parts (RadosGW server_side_assembly off).
CLIENT_JOIN_PART = 16 * MiB
_MARKER = "info"
_HEX = frozenset("0123456789abcdef")
# S3 error codes, and what they mean here.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})
_DENIED = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "403",
        "Forbidden",
        "AuthorizationHeaderMalformed",
        "InvalidToken",
        "ExpiredToken",
        "AllAccessDisabled",
    }
)
_FULL = frozenset({"QuotaExceeded", "XMinioStorageFull", "StorageFull", "EntityTooLarge", "InsufficientStorage"})
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ProxyConnectionError", "SSLError")


# -- the driver -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class S3Settings:
    """What the driver is built from, whichever Quay class named the parameters."""

    bucket: str
    storage_path: str
    endpoint_url: str | None  # None: AWS's endpoint for the region
    region: str | None
    access_key: str | None
    signature_version: str | None
    min_part: int
    max_copy_part: int
    server_side_assembly: bool
    proxy_downloads: bool
    presign_expiry_s: int


class S3BlobStorage(BlobStorage):
    """The S3 driver; ``S3Storage`` and ``RadosGWStorage`` differ only in their parameter names."""

    def __init__(self, settings: S3Settings, secret_key: str | None, session_token: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.settings = settings
        s = settings
        self.bucket = s.bucket
        root = s.storage_path.strip("/")
        self.root = f"{root}/" if root else ""
        config = Config(
            signature_version=s.signature_version,
            s3={"addressing_style": "path" if s.endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=64,
            # Checksums only where S3 requires them: servers other than AWS (RadosGW, SeaweedFS,
            # older MinIO) refuse or mishandle the CRC trailers botocore >= 1.36 adds by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=s.endpoint_url,
            region_name=s.region,
            aws_access_key_id=s.access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=config,
        )
        self._where = f"{s.endpoint_url or 'AWS S3'} bucket {s.bucket}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.class_name} {self._where} path {self.root or '/'}>"

    # -- errors ------------------------------------------------------------------------------------
    def _error(self, action: str, what: str, exc: Exception, key: str = "") -> StorageError:
        """The StorageError for a failed S3 call: a message without internals, a detail with the
        endpoint, bucket, key and S3's answer (which never holds a secret)."""
        from botocore.exceptions import ClientError

        where = f"{self._where} key {key}" if key else self._where
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            detail = f"S3 {code or status} ({err.get('Message', '')}) while {action} {what} at {where}"
            if code in _MISSING:
                return NotFound(f"{what} not found", detail=detail)
            if code == "NoSuchBucket":
                return StorageError("storage bucket does not exist", detail=detail)
            if code in _DENIED or status == 403:
                return StorageError("storage refused access: check the storage credentials", detail=detail)
            if code in _FULL or status == 507:
                return StorageError("storage is full", detail=detail, full=True)
            return StorageError(f"storage error while {action} {what}", detail=detail)
        detail = f"{type(exc).__name__}: {exc} while {action} {what} at {where}"
        if type(exc).__name__ in _UNREACHABLE:
            return StorageError("storage is not reachable", detail=detail)
        return StorageError(f"storage error while {action} {what}", detail=detail)

    def _call(self, action: str, what: str, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(Bucket=..., **kwargs)`` with every failure turned into a StorageError."""
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except Exception as exc:  # botocore's ClientError, BotoCoreError, urllib3 and OS errors
            raise self._error(action, what, exc, key) from None

    # -- keys --------------------------------------------------------------------------------------
    def _blob_key(self, digest: str) -> str:
        alg, hexpart = split_digest(digest)
        return f"{self.root}blobs/{alg}/{hexpart[:2]}/{hexpart}"

    def _upload_prefix(self, upload_id: str) -> str:
        return f"{self.root}uploads/{check_upload_id(upload_id)}/"

    # -- health ------------------------------------------------------------------------------------
    def check(self) -> None:
        """The bucket answers and takes a write: a small probe object, put and deleted (outside
        blobs/ and uploads/, so no walk or listing ever sees it)."""
        try:
            self._call("reaching", "the bucket", "", self._client.head_bucket)
        except NotFound as exc:  # HeadBucket has no body: its 404 carries no NoSuchBucket code
            raise StorageError("storage bucket does not exist", detail=exc.detail) from None
        key = f"{self.root}probe-{secrets.token_hex(8)}"
        self._call("writing", "a probe object", key, self._client.put_object, Key=key, Body=b"ok")
        self._call("deleting", "a probe object", key, self._client.delete_object, Key=key)

    # -- blobs -------------------------------------------------------------------------------------
    def stat_blob(self, digest: str) -> BlobInfo | None:
        key = self._blob_key(digest)
        try:
            head = self._call("reading", "a blob", key, self._client.head_object, Key=key)
        except NotFound:
            return None
        return BlobInfo(digest, int(head["ContentLength"]), _seconds(head["LastModified"]))

    def locate(self, digest: str, size: int) -> BlobLocation:
        key = self._blob_key(digest)
        if self.settings.proxy_downloads:
            return Streamed(size)
        try:
            url = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=min(max(self.settings.presign_expiry_s, 1), 7 * 24 * 3600),  # SigV4's longest
            )
        except Exception as exc:  # no request is sent: only a configuration can fail here
            raise self._error("signing", "a download URL", exc, key) from None
        return Redirect(url)

    def read_blob(self, digest: str) -> bytes:
        key = self._blob_key(digest)
        obj = self._call("reading", "a blob", key, self._client.get_object, Key=key)
        try:
            with obj["Body"] as body:
                return bytes(body.read())
        except Exception as exc:
            raise self._error("reading", "a blob", exc, key) from None

    def read_range(self, digest: str, start: int, length: int) -> Iterator[bytes]:
        key = self._blob_key(digest)
        return self._read_object("a blob", key, start, length)

    def _read_object(self, what: str, key: str, start: int, length: int, exact: bool = False) -> Iterator[bytes]:
        """Bytes ``[start, start + length)`` of an object, clipped at its end (``exact``: a
        StorageError if it ends before), in pieces of at most READ_PIECE."""
        if length <= 0:
            self._call("reading", what, key, self._client.head_object, Key=key)  # NotFound if missing
            return
        try:
            obj = self._call(
                "reading", what, key, self._client.get_object, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except StorageError as exc:
            if "InvalidRange" not in exc.detail:  # 416: the object ends before start
                raise
            if exact:
                raise StorageError(f"{what} is shorter than recorded", detail=exc.detail) from None
            return
        skip = 0 if "ContentRange" in obj else start  # a server that ignored Range sent it all
        left = length
        body = obj["Body"]
        try:
            for piece in body.iter_chunks(READ_PIECE):
                if skip:
                    drop = min(skip, len(piece))
                    piece, skip = piece[drop:], skip - drop
                piece = piece[:left]
                if piece:
                    left -= len(piece)
                    yield bytes(piece)
                if left <= 0:
                    break
        except Exception as exc:
            raise self._error("reading", what, exc, key) from None
        finally:
            body.close()
        if exact and left > 0:
            raise StorageError(f"{what} is shorter than recorded", detail=f"{key} ends {left} bytes early")

    def walk_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        key_prefix = self._walk_prefix(prefix)
        if key_prefix is None:
            return
        base = f"{self.root}blobs/"
        for item in self._list(key_prefix, "listing", "blobs"):
            digest = _digest_of(item["Key"][len(base) :])
            if digest is not None and digest.startswith(prefix):
                yield BlobInfo(digest, int(item["Size"]), _seconds(item["LastModified"]))

    def _walk_prefix(self, prefix: str) -> str | None:
        """The key prefix under which every blob whose digest starts with ``prefix`` lies (keys sort
        as digests do), or None when no digest can start with it."""
        alg, colon, hexpart = prefix.partition(":")
        base = f"{self.root}blobs/"
        if not colon:
            return base + alg
        if alg not in DIGEST_HEX_LEN or not _HEX.issuperset(hexpart) or len(hexpart) > DIGEST_HEX_LEN[alg]:
            return None
        return f"{base}{alg}/{hexpart}" if len(hexpart) < 2 else f"{base}{alg}/{hexpart[:2]}/{hexpart}"

    def _list(self, prefix: str, action: str, what: str) -> Iterator[dict[str, Any]]:
        """ListObjectsV2 under ``prefix``, one page (up to 1000 keys) at a time, in key order."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Prefix": prefix}
            if token:
                args["ContinuationToken"] = token
            page = self._call(action, what, prefix, self._client.list_objects_v2, **args)
            yield from page.get("Contents", ())
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _list_multipart(self, prefix: str) -> Iterator[dict[str, Any]]:
        """ListMultipartUploads under ``prefix``, one page at a time."""
        markers: dict[str, str] = {}
        while True:
            page = self._call(
                "listing", "multipart uploads", prefix, self._client.list_multipart_uploads, Prefix=prefix, **markers
            )
            yield from page.get("Uploads", ())
            if not page.get("IsTruncated"):
                return
            markers = {"KeyMarker": page.get("NextKeyMarker", ""), "UploadIdMarker": page.get("NextUploadIdMarker", "")}
            if not markers["KeyMarker"]:
                return

    def delete_blob(self, digest: str) -> None:
        key = self._blob_key(digest)
        self._call("deleting", "a blob", key, self._client.delete_object, Key=key)  # S3 deletes are idempotent

    # -- uploads -----------------------------------------------------------------------------------
    def create_upload(self, upload_id: str) -> UploadState:
        key = self._upload_prefix(upload_id) + _MARKER
        self._call("creating", "an upload", key, self._client.put_object, Key=key, Body=b"")
        return encode_state([])

    def _require_upload(self, upload_id: str) -> str:
        """The upload's key prefix; NotFound if the upload was never created, or was committed or
        deleted (its marker is gone)."""
        prefix = self._upload_prefix(upload_id)
        self._call("reading", "an upload", prefix + _MARKER, self._client.head_object, Key=prefix + _MARKER)
        return prefix

    def open_upload(self, upload_id: str, offset: int, state: UploadState = None) -> UploadWriter:
        segments = decode_state(state)
        prefix = self._require_upload(upload_id)
        kept = cut(segments, offset)
        if kept is None:
            have = sum(s.length for s in segments)
            raise StorageError(
                "upload is shorter than its recorded size",
                detail=f"upload {prefix} has {have} bytes in its state, {offset} recorded",
            )
        carry = b""
        if kept and kept[-1].length < self.settings.min_part:
            last = kept[-1]  # too small to be a part but the last: read back and written again
            carry = b"".join(self._read_object("an upload", prefix + last.name, 0, last.length, exact=True))
        return _S3Writer(self, prefix, offset, kept, carry)

    def read_upload(self, upload_id: str, length: int, start: int = 0, state: UploadState = None) -> Iterator[bytes]:
        segments = decode_state(state)
        prefix = self._upload_prefix(upload_id)
        return self._read_segments(upload_id, prefix, segments, start, length)

    def _read_segments(
        self, upload_id: str, prefix: str, segments: list[Segment], start: int, length: int
    ) -> Iterator[bytes]:
        end = start + length
        if length <= 0 or sum(s.length for s in segments) < end:
            self._require_upload(upload_id)
            if length <= 0:
                return
            raise StorageError(
                "upload is shorter than its recorded size",
                detail=f"upload {prefix} has {sum(s.length for s in segments)} bytes in its state, {end} asked",
            )
        seg_start = 0
        for seg in segments:
            seg_end = seg_start + seg.length
            lo, hi = max(start, seg_start), min(end, seg_end)
            if lo < hi:
                try:
                    yield from self._read_object("an upload", prefix + seg.name, lo - seg_start, hi - lo, exact=True)
                except NotFound:
                    self._require_upload(upload_id)  # NotFound: the upload is gone (committed)
                    raise StorageError(
                        "upload data is missing", detail=f"segment {prefix}{seg.name} of a live upload is missing"
                    ) from None
            seg_start = seg_end
            if seg_start >= end:
                return

    def commit_upload(self, upload_id: str, size: int, digest: str, state: UploadState = None) -> None:
        key = self._blob_key(digest)
        segments = decode_state(state)
        prefix = self._require_upload(upload_id)
        parts = cut(segments, size)
        if parts is None:
            raise StorageError(
                "upload is shorter than its recorded size",
                detail=f"upload {prefix} has {sum(s.length for s in segments)} bytes in its state, {size} recorded",
            )
        if size == 0:
            self._call("committing", "a blob", key, self._client.put_object, Key=key, Body=b"")
        else:
            self._assemble(key, prefix, parts)
        self._remove_upload(prefix)

    def _assemble(self, key: str, prefix: str, parts: list[Segment]) -> None:
        """One multipart upload at ``key`` made of the segments' bytes, completed (then visible, whole)
        or aborted."""
        server_side = self.settings.server_side_assembly
        most = self.settings.max_copy_part if server_side else CLIENT_JOIN_PART
        ranges = [(seg, lo, hi) for seg in parts for lo, hi in split_range(seg.length, most)]
        if len(ranges) > S3_MAX_PARTS:
            raise StorageError(
                "upload has too many parts to be assembled",
                detail=f"upload {prefix} needs {len(ranges)} parts (S3 allows {S3_MAX_PARTS})",
            )
        mpu = self._call("committing", "a blob", key, self._client.create_multipart_upload, Key=key)
        upload = mpu["UploadId"]
        done: list[dict[str, Any]] = []
        try:
            for number, (seg, lo, hi) in enumerate(ranges, start=1):
                source = prefix + seg.name
                if server_side:
                    res = self._call(
                        "committing", "a blob", source, self._client.upload_part_copy,
                        Key=key, UploadId=upload, PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": source}, CopySourceRange=f"bytes={lo}-{hi}",
                    )  # fmt: skip
                    etag = res["CopyPartResult"]["ETag"]
                else:
                    data = b"".join(self._read_object("an upload", source, lo, hi - lo + 1, exact=True))
                    res = self._call(
                        "committing", "a blob", key, self._client.upload_part,
                        Key=key, UploadId=upload, PartNumber=number, Body=data,
                    )  # fmt: skip
                    etag = res["ETag"]
                done.append({"ETag": etag, "PartNumber": number})
            self._call(
                "committing", "a blob", key, self._client.complete_multipart_upload,
                Key=key, UploadId=upload, MultipartUpload={"Parts": done},
            )  # fmt: skip
        except BaseException:
            self._abort_quietly(key, upload)
            raise

    def _abort_quietly(self, key: str, upload: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        except Exception as exc:  # left for the bucket's lifecycle rule or the upload collector
            detail = self._error("aborting", "an upload", exc, key).detail
            log.warning("storage: multipart upload not aborted: %s", detail)

    def _remove_upload(self, prefix: str) -> None:
        """After a commit: the marker first (the upload is then gone for every caller), then the
        segments and any multipart upload under the prefix (orphans of lost sessions included).
        A failure past the marker only leaves garbage that list_uploads shows to the collector."""
        self._call("removing", "an upload", prefix + _MARKER, self._client.delete_object, Key=prefix + _MARKER)
        try:
            self._delete_prefix(prefix)
        except StorageError as exc:
            log.warning("storage: committed upload not cleaned up: %s", exc.detail)

    def delete_upload(self, upload_id: str, state: UploadState = None) -> None:
        self._delete_prefix(self._upload_prefix(upload_id))

    def _delete_prefix(self, prefix: str) -> None:
        for mpu in self._list_multipart(prefix):
            self._call(
                "deleting", "an upload", mpu["Key"], self._client.abort_multipart_upload,
                Key=mpu["Key"], UploadId=mpu["UploadId"],
            )  # fmt: skip
        batch: list[str] = []
        for item in self._list(prefix, "deleting", "an upload"):
            batch.append(item["Key"])
            if len(batch) == 1000:
                self._delete_keys(batch)
                batch = []
        if batch:
            self._delete_keys(batch)

    def _delete_keys(self, keys: list[str]) -> None:
        res = self._call(
            "deleting", "an upload", keys[0], self._client.delete_objects,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )  # fmt: skip
        failed = [e for e in res.get("Errors", ()) if e.get("Code") not in _MISSING]
        if failed:
            first = failed[0]
            raise StorageError(
                "storage error while deleting an upload",
                detail=f"S3 {first.get('Code')} ({first.get('Message')}) deleting {first.get('Key')} at {self._where}",
            )

    def list_uploads(self) -> Iterator[UploadInfo]:
        """Upload areas by their objects (sizes of the segments summed, the newest time), then the
        ids that only a multipart upload still stands for (a session that died before it completed
        and whose marker and segments are gone)."""
        base = f"{self.root}uploads/"
        seen: set[str] = set()
        current: str | None = None
        size, modified = 0, 0.0
        for item in self._list(base, "listing", "uploads"):
            upload_id, slash, name = item["Key"][len(base) :].partition("/")
            if not slash or not _valid_id(upload_id) or not (name == _MARKER or is_segment_name(name)):
                continue
            if upload_id != current:
                if current is not None:
                    yield UploadInfo(current, size, modified)
                current, size, modified = upload_id, 0, 0.0
                seen.add(upload_id)
            if name != _MARKER:
                size += int(item["Size"])
            modified = max(modified, _seconds(item["LastModified"]))
        if current is not None:
            yield UploadInfo(current, size, modified)
        for mpu in self._list_multipart(base):
            upload_id = mpu["Key"][len(base) :].partition("/")[0]
            if upload_id not in seen and _valid_id(upload_id):
                seen.add(upload_id)
                yield UploadInfo(upload_id, 0, _seconds(mpu["Initiated"]))


class _S3Writer(UploadWriter):
    """One append session: its bytes become one new segment at ``close()``. Up to a part's worth
    is buffered; past that the segment is a multipart upload of its own and every full buffer is
    one UploadPart. Part sizes grow by the minimum part every 1000 parts, so one session can hold
    55 000 minimum parts (275 GiB at 5 MiB) within S3's 10 000."""

    def __init__(self, store: S3BlobStorage, prefix: str, offset: int, kept: list[Segment], carry: bytes) -> None:
        self.store = store
        self.prefix = prefix
        self.offset = offset
        self.opened_at = offset
        self.state = encode_state(kept)
        # The new segment starts where the kept ones end, less a small last one read back (carry).
        self.base = kept[:-1] if carry else kept
        self.seg_start = offset - len(carry)
        self.name = f"{self.seg_start:020d}-{secrets.token_hex(6)}"
        self.buffer: list[bytes] = [carry] if carry else []
        self.buffered = len(carry)
        self.upload: str | None = None  # the segment's multipart upload, once it has a part
        self.parts: list[dict[str, Any]] = []
        self.closed = False

    @property
    def key(self) -> str:
        return self.prefix + self.name

    def _part_size(self) -> int:
        return self.store.settings.min_part * (1 + len(self.parts) // 1000)

    def write(self, data: bytes) -> None:
        self.write_chunks((data,))

    def write_chunks(self, chunks: Sequence[bytes]) -> None:
        if self.closed:
            raise StorageError("upload writer is closed", detail=f"write after close on {self.key}")
        for chunk in chunks:
            if chunk:
                self.buffer.append(bytes(chunk))
                self.buffered += len(chunk)
                self.offset += len(chunk)
                if self.buffered >= self._part_size():
                    self._send_part()

    def _take(self) -> bytes:
        data = b"".join(self.buffer)
        self.buffer, self.buffered = [], 0
        return data

    def _send_part(self) -> None:
        client = self.store._client
        if self.upload is None:
            mpu = self.store._call("writing", "an upload", self.key, client.create_multipart_upload, Key=self.key)
            self.upload = str(mpu["UploadId"])
        number = len(self.parts) + 1
        if number > S3_MAX_PARTS:
            detail = f"segment {self.key} would need more than {S3_MAX_PARTS} parts"
            raise StorageError("upload is too large", detail=detail)
        res = self.store._call(
            "writing", "an upload", self.key, client.upload_part,
            Key=self.key, UploadId=self.upload, PartNumber=number, Body=self._take(),
        )  # fmt: skip
        self.parts.append({"ETag": res["ETag"], "PartNumber": number})

    def close(self) -> int:
        if self.closed:
            return self.offset
        client = self.store._client
        if self.offset > self.opened_at or self.upload is not None:
            if self.upload is not None:
                if self.buffered:
                    self._send_part()
                self.store._call(
                    "writing", "an upload", self.key, client.complete_multipart_upload,
                    Key=self.key, UploadId=self.upload, MultipartUpload={"Parts": self.parts},
                )  # fmt: skip
            else:
                self.store._call("writing", "an upload", self.key, client.put_object, Key=self.key, Body=self._take())
            self.state = encode_state([*self.base, Segment(self.name, self.offset - self.seg_start)])
        self.closed = True
        self.buffer, self.buffered = [], 0
        return self.offset

    def abort(self) -> None:
        """Drop what this writer wrote: its multipart upload is aborted, its buffer let go. After
        ``close`` the segment stays (the state of the recorded size does not name it)."""
        if self.closed:
            return
        self.closed = True
        self.buffer, self.buffered = [], 0
        if self.upload is not None:
            self.store._abort_quietly(self.key, self.upload)
        self.offset = self.opened_at


def _valid_id(upload_id: str) -> bool:
    try:
        check_upload_id(upload_id)
    except StorageError:
        return False
    return True


def _digest_of(rel: str) -> str | None:
    """The digest of a key below blobs/ (``<alg>/<hex[:2]>/<hex>``), or None for any other key."""
    parts = rel.split("/")
    if len(parts) != 3:
        return None
    alg, shard, hexpart = parts
    hex_len = DIGEST_HEX_LEN.get(alg)
    if hex_len is None or len(hexpart) != hex_len or not _HEX.issuperset(hexpart) or hexpart[:2] != shard:
        return None
    return f"{alg}:{hexpart}"


def _seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)

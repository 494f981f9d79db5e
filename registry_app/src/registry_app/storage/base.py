"""The one interface every blob storage driver implements.

Blobs are content-addressed by digest. Uploads go to a temporary object first and become a blob
only through ``commit_upload``, after the caller verified the digest. Reads are described by a
``BlobLocation``: a local file the HTTP layer can send with zero copy, a URL to redirect the
client to (an S3-compatible driver answers GET with a presigned URL), or a blob the HTTP layer
streams from ``read_range``. The services never look at
paths, keys or URLs themselves, so a new driver needs no change above this layer.

An upload may be continued by another process or another app host (a chunked push's PATCHes
land anywhere behind a load balancer). Whatever a driver must remember about an upload besides
its bytes (an object store's part list) is the opaque ``upload state``: ``create_upload`` and
``UploadWriter.close`` return it, the service stores it in the upload's database row next to the
size, and hands it back to every later call on that upload. The filesystem driver needs none
(its state is always None). docs/architecture.md, "Storage drivers", has the whole design.

Errors are ``StorageError``: ``message`` is safe to show a client (what failed, never a path, key,
bucket, host or exception text), ``detail`` is for the log and the operator.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from registry_app.storage.hashing import DIGEST_HEX_LEN

# The largest piece read_range and read_upload yield: what one read may hold in memory.
MAX_READ_PIECE = 8 * 1024 * 1024


class StorageError(Exception):
    """The storage cannot do what was asked.

    ``message`` says what, in words a client may see; ``detail`` (defaults to ``message``) adds
    where and why (paths, errno text) for logs and the command line. ``full`` marks a full disk or
    quota, which the services answer differently (507) from other failures (503).
    """

    def __init__(self, message: str, *, detail: str | None = None, full: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.full = full

    def __str__(self) -> str:
        return self.message


class NotFound(StorageError):
    """The blob or upload does not exist (never written, deleted, or already committed)."""


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Streamed:
    """The registry sends the blob itself, read with ``read_range`` (an object store that the
    clients cannot reach: S3's ``proxy_downloads``)."""

    size: int


BlobLocation = LocalFile | Redirect | Streamed


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: its digest, size in bytes and last modification (POSIX seconds)."""

    digest: str
    size: int
    modified: float


@dataclass(frozen=True)
class UploadInfo:
    """An upload area as the storage holds it. ``size`` is what the storage has, which may exceed
    the upload row's size (bytes of an interrupted append) or belong to no row at all (a crash
    between creating the upload and recording it); the row's size is the truth."""

    upload_id: str
    size: int
    modified: float


# What a driver must remember about an upload between requests, persisted by the service.
UploadState = bytes | None


@dataclass(frozen=True)
class Param:
    """One parameter a driver takes from Quay's ``[ClassName, {params}]`` storage config tuple.

    ``kind`` is str, int, float or bool; an int or float parameter also accepts a string of
    digits (YAML users quote numbers), nothing else is converted. Error messages name the
    parameter and the expected kind, never the value (parameters may be secrets)."""

    name: str
    kind: type
    required: bool = False
    default: Any = None
    doc: str = ""


_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]+)$")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def split_digest(digest: str) -> tuple[str, str]:
    """(algorithm, hex) of a well-formed digest; StorageError otherwise. Drivers call this before
    turning a digest into a path or key, so no caller can reach outside the blob area."""
    m = _DIGEST.match(digest) if isinstance(digest, str) else None
    if m is None or len(m.group(2)) != DIGEST_HEX_LEN[m.group(1)]:
        raise StorageError("invalid digest", detail=f"invalid digest {digest!r}")
    return m.group(1), m.group(2)


def check_upload_id(upload_id: str) -> str:
    """An upload id is a short token of letters, digits, '-' and '_' (the services use UUIDs)."""
    if not isinstance(upload_id, str) or _UPLOAD_ID.match(upload_id) is None:
        raise StorageError("invalid upload id", detail=f"invalid upload id {upload_id!r}")
    return upload_id


class UploadWriter(abc.ABC):
    """Appends to one upload. Not thread-safe; one writer per upload at a time.

    ``offset`` is the upload's size so far (where the next byte goes). After ``close()``,
    ``state`` is what the service must store with the new size and pass to the next call on
    this upload (None for drivers that need nothing)."""

    offset: int
    state: UploadState = None

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    def write_chunks(self, chunks: Sequence[bytes]) -> None:
        """Append several buffers in order (a driver may do it in one call, without joining them)."""
        for chunk in chunks:
            self.write(chunk)

    @abc.abstractmethod
    def close(self) -> int:
        """Make everything written durable and return the new size; sets ``state``."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop what this writer wrote (the upload is as it was when the writer was opened)."""


class BlobStorage(abc.ABC):
    """A content-addressed blob store with a temporary upload area.

    A driver registers under a Quay storage class name (``@register("LocalStorage")`` in
    storage/drivers.py), declares the ``PARAMS`` it takes from the config tuple, and passes the
    driver suite in registry_app/tests/storage/. Every method may raise StorageError; none lets
    an OSError or a client library's exception out.
    """

    # Set by @register: the Quay class name this driver is configured by.
    class_name: ClassVar[str] = ""
    # The parameters of the config tuple ``[class_name, {params}]``.
    PARAMS: ClassVar[tuple[Param, ...]] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Build the driver from checked parameters (every declared one present, defaults filled)."""
        return cls(**params)

    @abc.abstractmethod
    def check(self) -> None:
        """Raise StorageError if the storage cannot be written (checked at start-up and in health)."""

    # -- blobs ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def stat_blob(self, digest: str) -> BlobInfo | None:
        """The blob's size and modification time, or None if there is no such blob."""

    def blob_size(self, digest: str) -> int | None:
        info = self.stat_blob(digest)
        return None if info is None else info.size

    @abc.abstractmethod
    def locate(self, digest: str, size: int) -> BlobLocation:
        """Where a client reads the whole blob: a local file to send, a URL to redirect to, or
        ``Streamed`` (the registry sends ``read_range``'s pieces)."""

    @abc.abstractmethod
    def read_blob(self, digest: str) -> bytes:
        """Read a (small) blob whole, e.g. an image config. NotFound if it does not exist."""

    @abc.abstractmethod
    def read_range(self, digest: str, start: int, length: int) -> Iterator[bytes]:
        """The bytes ``[start, start + length)`` of a blob, clipped at its end, in pieces of at most
        MAX_READ_PIECE bytes. NotFound (raised by the first ``next()``) if the blob does not exist."""

    @abc.abstractmethod
    def walk_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose digest starts with ``prefix`` ("", "sha256", "sha256:", "sha256:ab"),
        in digest order, lazily: a driver holds at most one directory or listing page at a time.
        Blobs deleted or added while the walk runs may or may not be seen."""

    @abc.abstractmethod
    def delete_blob(self, digest: str) -> None:
        """Remove the blob. Deleting a blob that does not exist is not an error."""

    # -- uploads -------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_upload(self, upload_id: str) -> UploadState:
        """Start an empty upload; returns its initial state."""

    @abc.abstractmethod
    def open_upload(self, upload_id: str, offset: int, state: UploadState = None) -> UploadWriter:
        """A writer that appends at ``offset`` (bytes past it, from an interrupted or dropped
        write, are discarded). ``state`` is the one stored with that size. NotFound if the upload
        does not exist; StorageError if it holds fewer than ``offset`` bytes."""

    @abc.abstractmethod
    def read_upload(self, upload_id: str, length: int, start: int = 0, state: UploadState = None) -> Iterator[bytes]:
        """``length`` bytes of an upload from offset ``start``, for re-hashing, in pieces of at most
        MAX_READ_PIECE bytes. NotFound if there is no such upload, StorageError if it ends before
        ``start + length`` (both raised while iterating)."""

    @abc.abstractmethod
    def commit_upload(self, upload_id: str, size: int, digest: str, state: UploadState = None) -> None:
        """Atomically make the first ``size`` bytes of the upload the blob ``digest`` and remove
        the upload. Readers see no blob or the whole blob, never a part. Committing a digest that
        already exists leaves one blob (the content is the same by construction)."""

    @abc.abstractmethod
    def delete_upload(self, upload_id: str, state: UploadState = None) -> None:
        """Remove the upload and everything stored for it. An unknown upload is not an error."""

    @abc.abstractmethod
    def list_uploads(self) -> Iterator[UploadInfo]:
        """Every upload area in the storage (in no particular order), lazily, for collecting
        abandoned uploads: ids the database does not know, or that it knows as stale."""

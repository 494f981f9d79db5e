"""The one interface every blob storage driver implements.

Blobs are content-addressed by digest. Uploads go to a temporary object first and become a blob
only through ``commit_upload``, after the caller verified the digest. Reads are described by a
``BlobLocation``: a local file the HTTP layer can send with zero copy, or a URL to redirect the
client to (an S3-compatible driver answers GET with a presigned URL). The services never look at
paths or URLs themselves, so a new driver needs no change above this layer.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


class StorageError(Exception):
    """The storage cannot do what was asked. ``message`` says what and where, without a traceback."""

    def __init__(self, message: str, *, full: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.full = full


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int


@dataclass(frozen=True)
class Redirect:
    url: str


BlobLocation = LocalFile | Redirect


class UploadWriter(abc.ABC):
    """Appends to one upload. Not thread-safe; one writer per upload at a time."""

    offset: int

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    def write_chunks(self, chunks: Sequence[bytes]) -> None:
        """Append several buffers in order (a driver may do it in one call, without joining them)."""
        for chunk in chunks:
            self.write(chunk)

    @abc.abstractmethod
    def close(self) -> int:
        """Flush durably and return the new size."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop what this writer wrote (restore the size it started at)."""


class BlobStorage(abc.ABC):
    """A content-addressed blob store with a temporary upload area."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise StorageError if the storage cannot be written (checked at start-up and in health)."""

    @abc.abstractmethod
    def blob_size(self, digest: str) -> int | None: ...

    @abc.abstractmethod
    def locate(self, digest: str, size: int) -> BlobLocation: ...

    @abc.abstractmethod
    def read_blob(self, digest: str) -> bytes:
        """Read a (small) blob whole, e.g. an image config."""

    @abc.abstractmethod
    def read_range(self, digest: str, start: int, length: int) -> Iterator[bytes]: ...

    @abc.abstractmethod
    def delete_blob(self, digest: str) -> None: ...

    @abc.abstractmethod
    def create_upload(self, upload_id: str) -> None: ...

    @abc.abstractmethod
    def open_upload(self, upload_id: str, offset: int) -> UploadWriter:
        """A writer that appends at ``offset`` (bytes past it, from an interrupted write, are dropped)."""

    @abc.abstractmethod
    def read_upload(self, upload_id: str, size: int, start: int = 0) -> Iterator[bytes]:
        """``size`` bytes of an upload from offset ``start``, for re-hashing."""

    @abc.abstractmethod
    def commit_upload(self, upload_id: str, size: int, digest: str) -> None:
        """Atomically make the first ``size`` bytes of the upload the blob ``digest``."""

    @abc.abstractmethod
    def delete_upload(self, upload_id: str) -> None: ...

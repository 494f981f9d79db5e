"""Filesystem blob storage (Quay's ``LocalStorage``): ``blobs/<alg>/<hex[:2]>/<hex>`` and
``uploads/<id>`` under ``storage_path``.

Writes are fsync'ed and published with an atomic rename, so a crash leaves either the whole blob
or none of it; an interrupted upload is only ever a file under ``uploads/``. An upload's file is
all there is to it: this driver's upload state is always None.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from registry_app.storage.base import (
    BlobInfo,
    BlobStorage,
    LocalFile,
    NotFound,
    Param,
    StorageError,
    UploadInfo,
    UploadState,
    UploadWriter,
    check_upload_id,
    split_digest,
)
from registry_app.storage.drivers import register
from registry_app.storage.hashing import DIGEST_HEX_LEN

READ_CHUNK = 1024 * 1024
# Reads of a blob range: each is one ASGI body message, and granian holds up to 4 of them per
# response besides the one being read, so this sets a range response's memory (about 5x this).
RANGE_CHUNK = 512 * 1024
# Start writeback of an upload's pages once this much has been written since the last start, so
# that the fsync before the upload's size is recorded finds most of the data already on disk.
WRITEBACK_STEP = 4 * 1024 * 1024
_IOV_MAX = 1024
_SYNC_FILE_RANGE_WRITE = 2  # <fcntl.h>: start writeback of dirty pages in the range, do not wait


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    """Linux sync_file_range(2) through libc (Python's os module has no binding)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int

    def start_writeback(fd: int, offset: int, length: int) -> None:
        fn(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # advisory: a failure only loses the head start

    return start_writeback


_start_writeback = _load_sync_file_range()


def _error(action: str, what: str, path: Path | str, exc: OSError) -> StorageError:
    """A StorageError whose message names the action and the kind of object, never the path or the
    OS's text (those go to ``detail``, for the log)."""
    detail = f"{exc.strerror or exc} while {action} {path}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError("storage is full: no space left on device", detail=detail, full=True)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        return StorageError(f"storage is not writable: {reason}", detail=f"storage is not writable: {detail}")
    return StorageError(f"storage error while {action} {what}", detail=f"storage error: {detail}")


class _FileWriter(UploadWriter):
    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.start = offset
        self.offset = offset
        self.flushed = offset  # writeback started up to here
        try:
            self.fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            raise NotFound("upload not found", detail=f"upload file {path} is missing") from None
        except OSError as exc:
            raise _error("opening", "an upload", path, exc) from None
        try:
            size = os.fstat(self.fd).st_size
            if size < offset:
                raise StorageError(
                    "upload is shorter than its recorded size",
                    detail=f"upload file {path} has {size} bytes, {offset} recorded",
                )
            if size != offset:
                os.ftruncate(self.fd, offset)
            os.lseek(self.fd, offset, os.SEEK_SET)
        except OSError as exc:
            os.close(self.fd)
            raise _error("opening", "an upload", path, exc) from None
        except StorageError:
            os.close(self.fd)
            raise

    def write(self, data: bytes) -> None:
        self.write_chunks((data,))

    def write_chunks(self, chunks: Sequence[bytes]) -> None:
        """One writev(2) per up to 1024 buffers (no joining copy); writeback starts as we go."""
        views = [memoryview(c) for c in chunks if len(c)]
        i = 0
        try:
            while i < len(views):  # bounded: every pass writes at least one byte or raises
                n = os.writev(self.fd, views[i : i + _IOV_MAX])
                self.offset += n
                while i < len(views) and n >= len(views[i]):
                    n -= len(views[i])
                    i += 1
                if n:
                    views[i] = views[i][n:]
        except OSError as exc:
            raise _error("writing", "an upload", self.path, exc) from None
        if _start_writeback is not None and self.offset - self.flushed >= WRITEBACK_STEP:
            _start_writeback(self.fd, self.flushed, self.offset - self.flushed)
            self.flushed = self.offset

    def close(self) -> int:
        fd, self.fd = self.fd, -1  # closed exactly once: a second close could hit a reused number
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _error("syncing", "an upload", self.path, exc) from None
        finally:
            os.close(fd)
        return self.offset

    def abort(self) -> None:
        """Drop what this writer wrote. After ``close`` (whose caller then failed to record the
        size) the bytes stay: they lie past the recorded size, where the next append overwrites
        them, and another request may be writing there now."""
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        try:
            os.ftruncate(fd, self.start)
        except OSError:
            pass
        finally:
            os.close(fd)
        self.offset = self.start


def _sorted_entries(path: Path) -> list[os.DirEntry[str]]:
    """One directory's entries by name ([] if it does not exist): the unit of memory of a walk."""
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise _error("listing", "blobs", path, exc) from None


_HEX = frozenset("0123456789abcdef")


def _is_hex(name: str, length: int) -> bool:
    return len(name) == length and _HEX.issuperset(name)


@register("LocalStorage")
class FilesystemStorage(BlobStorage):
    PARAMS = (Param("storage_path", str, required=True, doc="the directory that holds blobs/ and uploads/"),)

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.uploads = self.root / "uploads"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        return cls(Path(params["storage_path"]))

    def check(self) -> None:
        for d in (self.root, self.blobs, self.uploads):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _error("creating", "the storage directory", d, exc) from None
        probe = self.uploads / f".probe-{os.getpid()}"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"ok")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise _error("writing", "a probe file", probe, exc) from None
        finally:
            try:
                probe.unlink()
            except OSError:
                pass

    # -- blobs ---------------------------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        alg, hexpart = split_digest(digest)
        return self.blobs / alg / hexpart[:2] / hexpart

    def stat_blob(self, digest: str) -> BlobInfo | None:
        path = self._blob_path(digest)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _error("reading", "a blob", path, exc) from None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def locate(self, digest: str, size: int) -> LocalFile:
        return LocalFile(str(self._blob_path(digest)), size)

    def read_blob(self, digest: str) -> bytes:
        path = self._blob_path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound("blob not found", detail=f"blob file {path} is missing") from None
        except OSError as exc:
            raise _error("reading", "a blob", path, exc) from None

    def read_range(self, digest: str, start: int, length: int) -> Iterator[bytes]:
        path = self._blob_path(digest)
        try:
            fh = open(path, "rb")  # closed by the with below, also when the caller stops early
        except FileNotFoundError:
            raise NotFound("blob not found", detail=f"blob file {path} is missing") from None
        except OSError as exc:
            raise _error("reading", "a blob", path, exc) from None
        with fh:
            try:
                fh.seek(start)
                left = length
                while left > 0:
                    chunk = fh.read(min(RANGE_CHUNK, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk
            except OSError as exc:
                raise _error("reading", "a blob", path, exc) from None

    def walk_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        alg_prefix, colon, hex_prefix = prefix.partition(":")
        algs = sorted(a for a in DIGEST_HEX_LEN if (a == alg_prefix if colon else a.startswith(alg_prefix)))
        if not _HEX.issuperset(hex_prefix):
            return
        for alg in algs:
            hex_len = DIGEST_HEX_LEN[alg]
            for shard in _sorted_entries(self.blobs / alg):
                name = shard.name
                if not _is_hex(name, 2) or not (name.startswith(hex_prefix) or hex_prefix.startswith(name)):
                    continue
                for entry in _sorted_entries(self.blobs / alg / name):
                    if not _is_hex(entry.name, hex_len) or not entry.name.startswith(hex_prefix):
                        continue
                    if entry.name[:2] != name:
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:  # deleted since the listing
                        continue
                    except OSError as exc:
                        raise _error("reading", "a blob", entry.path, exc) from None
                    yield BlobInfo(f"{alg}:{entry.name}", st.st_size, st.st_mtime)

    def delete_blob(self, digest: str) -> None:
        path = self._blob_path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _error("deleting", "a blob", path, exc) from None

    # -- uploads -------------------------------------------------------------------------------
    def _upload_path(self, upload_id: str) -> Path:
        return self.uploads / check_upload_id(upload_id)

    def create_upload(self, upload_id: str) -> UploadState:
        path = self._upload_path(upload_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.close(fd)
        except FileNotFoundError:
            self.check()
            return self.create_upload(upload_id)
        except OSError as exc:
            raise _error("creating", "an upload", path, exc) from None
        return None

    def open_upload(self, upload_id: str, offset: int, state: UploadState = None) -> UploadWriter:
        return _FileWriter(self._upload_path(upload_id), offset)

    def read_upload(self, upload_id: str, length: int, start: int = 0, state: UploadState = None) -> Iterator[bytes]:
        path = self._upload_path(upload_id)
        try:
            fh = open(path, "rb")  # closed by the with below, also when the caller stops early
        except FileNotFoundError:
            raise NotFound("upload not found", detail=f"upload file {path} is missing") from None
        except OSError as exc:
            raise _error("reading", "an upload", path, exc) from None
        with fh:
            try:
                fh.seek(start)
                left = length
                while left > 0:
                    chunk = fh.read(min(READ_CHUNK * 4, left))
                    if not chunk:
                        raise StorageError(
                            "upload is shorter than its recorded size",
                            detail=f"upload file {path} ends {left} bytes before {start + length}",
                        )
                    left -= len(chunk)
                    yield chunk
            except OSError as exc:
                raise _error("reading", "an upload", path, exc) from None

    def commit_upload(self, upload_id: str, size: int, digest: str, state: UploadState = None) -> None:
        src = self._upload_path(upload_id)
        dst = self._blob_path(digest)
        try:
            have = os.stat(src).st_size
        except FileNotFoundError:
            raise NotFound("upload not found", detail=f"upload file {src} is missing") from None
        except OSError as exc:
            raise _error("committing", "a blob", src, exc) from None
        if have < size:
            raise StorageError(
                "upload is shorter than its recorded size",
                detail=f"upload file {src} has {have} bytes, {size} recorded",
            )
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                if have != size:
                    os.truncate(src, size)
                os.replace(src, dst)  # same filesystem: atomic; identical content if it existed
            except FileNotFoundError:  # committed by a concurrent completion after the stat
                raise NotFound("upload not found", detail=f"upload file {src} is missing") from None
            dfd = os.open(dst.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise _error("committing", "a blob", dst, exc) from None

    def delete_upload(self, upload_id: str, state: UploadState = None) -> None:
        path = self._upload_path(upload_id)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _error("deleting", "an upload", path, exc) from None

    def list_uploads(self) -> Iterator[UploadInfo]:
        try:
            it = os.scandir(self.uploads)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _error("listing", "uploads", self.uploads, exc) from None
        with it:
            for entry in it:
                if entry.name.startswith("."):  # check()'s probe, being written
                    continue
                try:
                    check_upload_id(entry.name)
                    st = entry.stat()
                except StorageError:  # not an upload this driver made
                    continue
                except FileNotFoundError:  # committed or deleted since the listing
                    continue
                except OSError as exc:
                    raise _error("reading", "an upload", entry.path, exc) from None
                yield UploadInfo(entry.name, st.st_size, st.st_mtime)

"""Filesystem blob storage: ``blobs/<alg>/<hex[:2]>/<hex>`` and ``uploads/<id>``.

Writes are fsync'ed and published with an atomic rename, so a crash leaves either the whole blob
or none of it; an interrupted upload is only ever a file under ``uploads/``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from registry_app.storage.base import BlobStorage, LocalFile, StorageError, UploadWriter

READ_CHUNK = 1024 * 1024
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


def _error(action: str, path: Path | str, exc: OSError) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"storage is full: no space left on device while {action} {path}", full=True)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"storage is not writable: {exc.strerror} while {action} {path}")
    return StorageError(f"storage error while {action} {path}: {exc.strerror or exc}")


class _FileWriter(UploadWriter):
    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.start = offset
        self.offset = offset
        self.flushed = offset  # writeback started up to here
        try:
            self.fd = os.open(path, os.O_WRONLY)
            if os.fstat(self.fd).st_size != offset:
                os.ftruncate(self.fd, offset)
            os.lseek(self.fd, offset, os.SEEK_SET)
        except FileNotFoundError:
            raise StorageError(f"upload file {path} is missing") from None
        except OSError as exc:
            raise _error("opening", path, exc) from None

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
            raise _error("writing", self.path, exc) from None
        if _start_writeback is not None and self.offset - self.flushed >= WRITEBACK_STEP:
            _start_writeback(self.fd, self.flushed, self.offset - self.flushed)
            self.flushed = self.offset

    def close(self) -> int:
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise _error("syncing", self.path, exc) from None
        finally:
            os.close(self.fd)
        return self.offset

    def abort(self) -> None:
        try:
            os.ftruncate(self.fd, self.start)
        except OSError:
            pass
        finally:
            os.close(self.fd)
        self.offset = self.start


class FilesystemStorage(BlobStorage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.uploads = self.root / "uploads"

    def check(self) -> None:
        for d in (self.root, self.blobs, self.uploads):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _error("creating", d, exc) from None
        probe = self.uploads / f".probe-{os.getpid()}"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"ok")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise _error("writing", probe, exc) from None
        finally:
            try:
                probe.unlink()
            except OSError:
                pass

    def _blob_path(self, digest: str) -> Path:
        alg, _, hexpart = digest.partition(":")
        return self.blobs / alg / hexpart[:2] / hexpart

    def blob_size(self, digest: str) -> int | None:
        try:
            return os.stat(self._blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def locate(self, digest: str, size: int) -> LocalFile:
        return LocalFile(str(self._blob_path(digest)), size)

    def read_blob(self, digest: str) -> bytes:
        return self._blob_path(digest).read_bytes()

    def read_range(self, digest: str, start: int, length: int) -> Iterator[bytes]:
        with open(self._blob_path(digest), "rb") as fh:
            fh.seek(start)
            left = length
            while left > 0:
                chunk = fh.read(min(READ_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk

    def delete_blob(self, digest: str) -> None:
        try:
            self._blob_path(digest).unlink()
        except FileNotFoundError:
            pass

    def create_upload(self, upload_id: str) -> None:
        path = self.uploads / upload_id
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.close(fd)
        except FileNotFoundError:
            self.check()
            return self.create_upload(upload_id)
        except OSError as exc:
            raise _error("creating", path, exc) from None

    def open_upload(self, upload_id: str, offset: int) -> UploadWriter:
        return _FileWriter(self.uploads / upload_id, offset)

    def read_upload(self, upload_id: str, size: int, start: int = 0) -> Iterator[bytes]:
        with open(self.uploads / upload_id, "rb") as fh:
            fh.seek(start)
            left = size
            while left > 0:
                chunk = fh.read(min(READ_CHUNK * 4, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk

    def commit_upload(self, upload_id: str, size: int, digest: str) -> None:
        src = self.uploads / upload_id
        dst = self._blob_path(digest)
        try:
            if os.stat(src).st_size != size:
                os.truncate(src, size)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)  # same filesystem: atomic; identical content if it existed
            dfd = os.open(dst.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise _error("committing", dst, exc) from None

    def delete_upload(self, upload_id: str) -> None:
        try:
            (self.uploads / upload_id).unlink()
        except FileNotFoundError:
            pass

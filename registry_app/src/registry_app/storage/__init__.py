"""Blob storage drivers behind one interface (``base.BlobStorage``)."""

from __future__ import annotations

from registry_app.storage.base import BlobStorage, LocalFile, Redirect, StorageError, UploadWriter

__all__ = ["BlobStorage", "LocalFile", "Redirect", "StorageError", "UploadWriter", "make_storage"]


def make_storage(config: object) -> BlobStorage:
    from registry_app.config import Config
    from registry_app.storage.filesystem import FilesystemStorage

    assert isinstance(config, Config)
    return FilesystemStorage(config.storage_path)

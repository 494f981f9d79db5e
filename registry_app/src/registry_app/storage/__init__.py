"""Blob storage drivers behind one interface (``base.BlobStorage``), registered by Quay storage
class name (``drivers.register``) and built by ``make_storage(class_name, params)``.

This package imports nothing above it: the wiring reads the configuration and passes the class
name and parameters of the preferred ``DISTRIBUTED_STORAGE_CONFIG`` location in.
"""

from __future__ import annotations

from registry_app.storage import filesystem as _filesystem  # registers LocalStorage
from registry_app.storage.base import (
    BlobInfo,
    BlobLocation,
    BlobStorage,
    LocalFile,
    NotFound,
    Param,
    Redirect,
    StorageError,
    UploadInfo,
    UploadState,
    UploadWriter,
)
from registry_app.storage.drivers import (
    StorageConfigError,
    driver_class,
    make_storage,
    param_problems,
    register,
    registered,
)

del _filesystem

__all__ = [
    "BlobInfo",
    "BlobLocation",
    "BlobStorage",
    "LocalFile",
    "NotFound",
    "Param",
    "Redirect",
    "StorageConfigError",
    "StorageError",
    "UploadInfo",
    "UploadState",
    "UploadWriter",
    "driver_class",
    "make_storage",
    "param_problems",
    "register",
    "registered",
]

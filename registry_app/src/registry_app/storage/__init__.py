"""Blob storage drivers behind one interface (``base.BlobStorage``), registered by Quay storage
class name (``drivers.register``) and built by ``make_storage(class_name, params)``.

This package imports nothing above it: the wiring reads the configuration and passes the class
name and parameters of the preferred ``DISTRIBUTED_STORAGE_CONFIG`` location in.
"""

from __future__ import annotations

from registry_app.storage import filesystem as _filesystem  # registers LocalStorage
from registry_app.storage import s3_classes as _s3  # registers S3Storage, RadosGWStorage (boto3 loads on use)
from registry_app.storage.base import (
    BlobInfo,
    BlobLocation,
    BlobStorage,
    LocalFile,
    NotFound,
    Param,
    Redirect,
    StorageError,
    Streamed,
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

del _filesystem, _s3

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
    "Streamed",
    "UploadInfo",
    "UploadState",
    "UploadWriter",
    "driver_class",
    "make_storage",
    "param_problems",
    "register",
    "registered",
]

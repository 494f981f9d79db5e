"""How the driver suite gets a driver: one test factory per registered storage class.

A factory takes the test's ``pytest.FixtureRequest`` and a fresh temporary directory and returns
a ``DriverUnderTest``: an empty storage built through ``make_storage`` from the class name and
parameters a config.yaml would hold, plus the strings that are the driver's internals (root
directory, bucket, endpoint, keys), which no client-facing error message may contain. A factory
that needs a server gets it from a fixture (``request.getfixturevalue``) and skips through
``missing_dependency`` when it cannot run one; it cleans up with ``request.addfinalizer``.

A new driver adds its factory here with ``@driver_factory("ClassName")``; the suite fails for a
registered class without one (docs/architecture.md, "Storage drivers").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_app.storage import BlobStorage, make_storage
from tests.support.s3 import SeaweedServer


@dataclass(frozen=True)
class DriverUnderTest:
    storage: BlobStorage
    internals: tuple[str, ...]


Factory = Callable[[pytest.FixtureRequest, Path], DriverUnderTest]
FACTORIES: dict[str, Factory] = {}


def driver_factory(class_name: str) -> Callable[[Factory], Factory]:
    def deco(fn: Factory) -> Factory:
        FACTORIES[class_name] = fn
        return fn

    return deco


@driver_factory("LocalStorage")
def local_storage(request: pytest.FixtureRequest, tmp_path: Path) -> DriverUnderTest:
    root = tmp_path / "local-storage"
    return DriverUnderTest(make_storage("LocalStorage", {"storage_path": str(root)}), (str(root), str(tmp_path)))


def _s3_bucket(request: pytest.FixtureRequest) -> tuple[SeaweedServer, str]:
    """The session's SeaweedFS and its shared bucket, or a skip through ``missing_dependency``
    (from the ``s3_server`` fixture)."""
    server: SeaweedServer = request.getfixturevalue("s3_server")
    return server, server.shared_bucket()


@driver_factory("S3Storage")
def s3_storage(request: pytest.FixtureRequest, tmp_path: Path) -> DriverUnderTest:
    """S3Storage on the real SeaweedFS: an empty prefix (``storage_path``) of a shared bucket,
    emptied afterwards; blob GETs are presigned redirects."""
    server, bucket = _s3_bucket(request)
    prefix = f"suite-{uuid.uuid4().hex}"
    storage = make_storage("S3Storage", server.s3_storage_params(bucket, f"/{prefix}/registry"))
    request.addfinalizer(lambda: server.empty(bucket, prefix + "/"))
    return DriverUnderTest(storage, (bucket, prefix, *server.internals()))


@driver_factory("RadosGWStorage")
def radosgw_storage(request: pytest.FixtureRequest, tmp_path: Path) -> DriverUnderTest:
    """RadosGWStorage (Quay's parameter names) on the same server, with ``proxy_downloads`` so
    that the suite reads blobs through ``Streamed`` here."""
    server, bucket = _s3_bucket(request)
    prefix = f"suite-{uuid.uuid4().hex}"
    params = server.radosgw_params(bucket, prefix, proxy_downloads=True)
    storage = make_storage("RadosGWStorage", params)
    request.addfinalizer(lambda: server.empty(bucket, prefix + "/"))
    return DriverUnderTest(storage, (bucket, prefix, *server.internals()))

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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_app.storage import BlobStorage, make_storage


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

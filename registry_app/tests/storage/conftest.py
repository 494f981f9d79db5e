from __future__ import annotations

from pathlib import Path

import pytest

from registry_app.storage import registered
from tests.storage.factories import FACTORIES, DriverUnderTest


@pytest.fixture(params=registered())
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> DriverUnderTest:
    """Every registered storage driver in turn, empty and checked."""
    factory = FACTORIES.get(request.param)
    if factory is None:
        pytest.fail(f"storage class {request.param} has no test factory in tests/storage/factories.py")
    under_test = factory(request, tmp_path)
    under_test.storage.check()
    return under_test

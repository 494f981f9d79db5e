from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RegistryServer

ADMIN = ("admin", "admin-password-for-tests")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A fresh embedded-default server (SQLite + filesystem) with superuser ``admin``."""
    server = RegistryServer(data_dir=tmp_path / "data")
    server.create_user(*ADMIN, superuser=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()

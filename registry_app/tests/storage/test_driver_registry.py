"""Drivers by Quay storage class name: registration, parameters, errors, and the wiring from a
config (the embedded default keeps LocalStorage under DATA_DIR/storage)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_app.config import embedded_default
from registry_app.storage import (
    BlobStorage,
    Param,
    StorageConfigError,
    driver_class,
    make_storage,
    param_problems,
    register,
    registered,
)
from registry_app.storage import drivers as drivers_module
from registry_app.storage.filesystem import FilesystemStorage
from tests.storage.factories import FACTORIES


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(drivers_module, "_DRIVERS", dict(drivers_module._DRIVERS))
    yield


def test_every_registered_driver_has_a_test_factory() -> None:
    missing = [name for name in registered() if name not in FACTORIES]
    assert not missing, f"register a test factory in tests/storage/factories.py for {missing}"
    assert {"LocalStorage", "S3Storage", "RadosGWStorage"} <= set(registered())


def test_local_storage_by_class_name(tmp_path: Path) -> None:
    storage = make_storage("LocalStorage", {"storage_path": str(tmp_path / "s")})
    assert isinstance(storage, FilesystemStorage) and storage.root == tmp_path / "s"
    assert storage.class_name == "LocalStorage" and driver_class("LocalStorage") is FilesystemStorage
    assert param_problems("LocalStorage", {"storage_path": "/x"}) == []


def test_the_embedded_default_is_local_storage_under_the_data_dir(tmp_path: Path) -> None:
    config = embedded_default(tmp_path / "d")
    name, params = config.storage_driver
    storage = make_storage(name, params)
    storage.check()
    assert isinstance(storage, FilesystemStorage)
    assert storage.root == (tmp_path / "d" / "storage").resolve()
    assert (tmp_path / "d" / "storage" / "blobs").is_dir()


@pytest.mark.parametrize(
    ("name", "params", "needles"),
    [
        (
            "CloudFrontedS3Storage",
            {"s3_bucket": "b"},
            ["storage class 'CloudFrontedS3Storage' is not available", "LocalStorage, RadosGWStorage, S3Storage"],
        ),
        ("localstorage", {"storage_path": "/x"}, ["'localstorage' is not available"]),
        ("LocalStorage", {}, ["LocalStorage needs storage_path"]),
        ("LocalStorage", {"storage_path": None}, ["LocalStorage needs storage_path"]),
        ("LocalStorage", {"storage_path": ""}, ["storage_path must be a non-empty string"]),
        ("LocalStorage", {"storage_path": 987654}, ["storage_path must be a non-empty string"]),
        (
            "LocalStorage",
            {"storage_path": "/x", "s3_secret_key": "hunter2-secret"},
            ["has no parameter 's3_secret_key' (known: storage_path)"],
        ),
        ("LocalStorage", ["storage_path", "/x"], ["parameters must be a mapping"]),
    ],
)
def test_wrong_class_or_parameters_are_named(name: str, params: Any, needles: list[str]) -> None:
    with pytest.raises(StorageConfigError) as err:
        make_storage(name, params)
    text = "; ".join(err.value.problems)
    for needle in needles:
        assert needle in text, text
    assert "987654" not in text and "hunter2" not in text  # values are never echoed
    assert param_problems(name, params) == err.value.problems


def test_parameters_are_declared_converted_and_defaulted(scratch_registry: None, tmp_path: Path) -> None:
    @register("ExampleStorage")
    class Example(FilesystemStorage):
        PARAMS = (
            Param("storage_path", str, required=True),
            Param("port", int, default=443),
            Param("ratio", float, default=0.5),
            Param("is_secure", bool, default=True),
        )

        def __init__(self, storage_path: str, port: int, ratio: float, is_secure: bool) -> None:
            super().__init__(storage_path)
            self.port, self.ratio, self.is_secure = port, ratio, is_secure

        @classmethod
        def from_params(cls, params: Any) -> Example:
            return cls(**params)

    built = make_storage("ExampleStorage", {"storage_path": str(tmp_path), "port": " 8443", "ratio": 2})
    assert isinstance(built, Example) and (built.port, built.ratio, built.is_secure) == (8443, 2.0, True)
    problems = param_problems(
        "ExampleStorage", {"storage_path": "/x", "port": True, "ratio": "half", "is_secure": "no"}
    )
    assert problems == [
        "ExampleStorage parameter port must be an integer",
        "ExampleStorage parameter ratio must be a number",
        "ExampleStorage parameter is_secure must be true or false",
    ]
    assert "ExampleStorage" in registered()


def test_a_class_name_is_registered_once(scratch_registry: None) -> None:
    register("LocalStorage")(FilesystemStorage)  # the same class again: fine

    class Other(FilesystemStorage):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register("LocalStorage")(Other)

    class Twice(FilesystemStorage):
        PARAMS = (Param("a", str), Param("a", str))

    with pytest.raises(ValueError, match="twice"):
        register("TwiceStorage")(Twice)
    assert driver_class("LocalStorage") is FilesystemStorage


def test_a_driver_is_abstract_until_it_implements_everything() -> None:
    class Partial(BlobStorage):
        def check(self) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_storage_imports_nothing_above_it() -> None:
    """storage/ is the bottom layer: importing it (every driver included) loads no config,
    services, db or http module, and no client library (boto3 loads when an S3 driver is built)."""
    code = (
        "import sys, registry_app.storage, registry_app.storage.filesystem;"
        "print('\\n'.join(m for m in sys.modules if m.startswith(('registry_app', 'boto'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "registry_app.storage.filesystem" in out and "registry_app.storage.s3_classes" in out
    assert not [m for m in out if m.startswith("boto")], out
    above = [m for m in out if not (m == "registry_app" or m.startswith("registry_app.storage"))]
    assert above == [], above

"""Blob storage: the driver and its parameters, as ``storage.make_storage`` takes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class StorageSettings:
    """The first location of ``DISTRIBUTED_STORAGE_PREFERENCE``: its Quay storage class name and
    parameters from ``DISTRIBUTED_STORAGE_CONFIG``, passed to the driver as they are (the driver
    checks them; the loader already reported their problems). Parameters may hold object-store
    keys, so they are not in the repr."""

    location: str
    driver: str
    params: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> StorageSettings:
        location = str(values["DISTRIBUTED_STORAGE_PREFERENCE"][0])
        driver, params = values["DISTRIBUTED_STORAGE_CONFIG"][location]
        return cls(location=location, driver=str(driver), params=MappingProxyType(dict(params)))

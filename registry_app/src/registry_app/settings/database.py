"""The metadata database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class DatabaseSettings:
    """``DB_URI`` and ``DB_CONNECTION_ARGS``; both may hold a password, so neither is in the repr."""

    uri: str = field(repr=False)
    connection_args: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.uri.startswith("sqlite")

    @property
    def kind(self) -> str:
        """For messages: ``SQLite`` or ``PostgreSQL``."""
        return "SQLite" if self.is_sqlite else "PostgreSQL"

    def connect_args(self) -> dict[str, Any] | None:
        """A copy of ``DB_CONNECTION_ARGS`` for the engine (None when not set)."""
        return dict(self.connection_args) if self.connection_args is not None else None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> DatabaseSettings:
        args = values.get("DB_CONNECTION_ARGS")
        return cls(uri=str(values["DB_URI"]), connection_args=MappingProxyType(dict(args)) if args else None)

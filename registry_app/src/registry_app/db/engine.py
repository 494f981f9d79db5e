"""Engine construction and schema migration (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool


class DatabaseError(Exception):
    """The database cannot be used; the message says why and what to do."""


def normalise_uri(uri: str) -> str:
    """Quay writes ``postgresql://``; SQLAlchemy needs the psycopg 3 driver named."""
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def redact_uri(uri: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable DB_URI>"


def make_engine(uri: str, connect_args: dict[str, Any] | None = None) -> Engine:
    uri = normalise_uri(uri)
    if uri.startswith("sqlite"):
        path = uri.split("///", 1)[1] if "///" in uri else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(uri, connect_args={"timeout": 60, "check_same_thread": False, **(connect_args or {})})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the lock up front: a deferred transaction that upgrades to a write lock
            # fails with SQLITE_BUSY instead of waiting, which concurrent pushes would hit.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return engine
    return create_engine(
        uri,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, **(connect_args or {})},
    )


def make_null_engine(uri: str) -> Engine:
    return create_engine(normalise_uri(uri), poolclass=NullPool)


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("registry_app.db").joinpath("migrations")))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(engine: Engine) -> str:
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database {redact_uri(str(engine.url))}: {_short(exc)}") from None


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head. Returns (revision before, revision after)."""
    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), "head")
    return before, head_revision(engine)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def ensure_schema(engine: Engine, auto_migrate: bool) -> None:
    """SQLite: create/migrate in place. PostgreSQL: refuse to run on an older schema."""
    current = current_revision(engine)
    head = head_revision(engine)
    if current == head:
        return
    if auto_migrate:
        migrate(engine)
        return
    if current is None:
        raise DatabaseError(
            f"the database {redact_uri(str(engine.url))} has no registry schema yet: run `registry-app migrate` first"
        )
    script = ScriptDirectory.from_config(_alembic_config(engine))
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise DatabaseError(
            f"the database schema is at revision {current}, which this version of registry-app does not know "
            f"(newer code has migrated it?); refusing to start"
        )
    raise DatabaseError(
        f"the database schema is at revision {current} but this code needs {head}: run `registry-app migrate`"
    )


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite)."""
    with engine.connect() as conn:
        conn.info["write"] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("write", None)

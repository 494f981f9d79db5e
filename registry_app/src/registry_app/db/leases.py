"""Leases in the database (table ``worker_lease``): one holder at a time, of all processes on all
hosts, for a background job that must run once per deployment (a singleton worker). A lease
expires unless its holder renews it, so a dead holder's job is taken over once ``ttl_ms`` has
passed since its last renewal.

Times are the processes' own clocks (milliseconds since the epoch): hosts sharing a database must
keep their clocks in step (NTP) to well within a lease's lifetime.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from registry_app.db.engine import write_tx
from registry_app.db.models import WorkerLease
from registry_app.db.store import now_ms

L = cast(Table, WorkerLease.__table__)


class LeaseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def acquire(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while another holder's is valid.

        PostgreSQL: the row is made once (ON CONFLICT DO NOTHING) and then locked (FOR UPDATE), so
        two contenders are serialised on it. SQLite: ``write_tx`` begins IMMEDIATE, which already
        serialises every writer of the database."""
        now = now_ms()
        with write_tx(self.engine) as conn:
            if self.dialect == "postgresql":
                conn.execute(pg_insert(L).values(name=name, holder="", expires_ms=0).on_conflict_do_nothing())
                row = conn.execute(select(L.c.holder, L.c.expires_ms).where(L.c.name == name).with_for_update()).one()
            else:
                found = conn.execute(select(L.c.holder, L.c.expires_ms).where(L.c.name == name)).first()
                if found is None:
                    conn.execute(L.insert().values(name=name, holder=holder, expires_ms=now + ttl_ms))
                    return True
                row = found
            if row.holder != holder and row.expires_ms > now:
                return False
            conn.execute(update(L).where(L.c.name == name).values(holder=holder, expires_ms=now + ttl_ms))
            return True

    def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (a graceful stop), if ``holder`` still has it."""
        with write_tx(self.engine) as conn:
            conn.execute(update(L).where(L.c.name == name, L.c.holder == holder).values(expires_ms=0))

    def holder_of(self, name: str) -> str | None:
        """Who holds the lease now (None when nobody's is valid): for logs and tests."""
        with self.engine.connect() as conn:
            row = conn.execute(select(L.c.holder, L.c.expires_ms).where(L.c.name == name)).first()
        return str(row.holder) if row is not None and row.expires_ms > now_ms() else None


__all__ = ["LeaseStore"]

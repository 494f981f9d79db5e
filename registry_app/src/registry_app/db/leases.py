"""Leases in the database (table ``worker_lease``): one holder at a time, of all processes on all
hosts, for a background job that must run once per deployment (the security worker, the upload
collector). A lease expires unless renewed, so a dead holder's job is taken over."""

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
        """Take or renew the lease ``name`` for ``holder``; False while another holder's is valid."""
        now = now_ms()
        with write_tx(self.engine) as conn:
            if self.dialect == "postgresql":
                conn.execute(pg_insert(L).values(name=name, holder="", expires_ms=0).on_conflict_do_nothing())
                row = conn.execute(select(L.c.holder, L.c.expires_ms).where(L.c.name == name).with_for_update()).one()
            else:  # SQLite: BEGIN IMMEDIATE already serialises writers
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
        with write_tx(self.engine) as conn:
            conn.execute(update(L).where(L.c.name == name, L.c.holder == holder).values(expires_ms=0))


__all__ = ["LeaseStore"]

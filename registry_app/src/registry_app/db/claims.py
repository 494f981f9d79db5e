"""Row claims: a table used as a work queue that several consumers (processes, hosts) take from
at once without two of them ever holding the same row.

A queue table has an integer primary key ``id`` and two claim columns (``models.Claimable``):
``claimed_by`` (the consumer's holder id, NULL when free) and ``claimed_until_ms`` (POSIX ms; a row
is free once that has passed, so a consumer that dies loses its claims after ``claim_ms``).

How a claim is made:
- **PostgreSQL**: in one transaction, ``SELECT id ... WHERE claimed_until_ms <= now ... ORDER BY ...
  LIMIT n FOR UPDATE SKIP LOCKED``, then ``UPDATE ... SET claimed_by, claimed_until_ms WHERE id IN
  (...)``. Rows another consumer is claiming at that moment are locked and skipped rather than
  waited for; a row whose claim was committed meanwhile fails the re-checked WHERE (READ
  COMMITTED re-evaluates it on the newest row version) and is left out.
- **SQLite** has no row locks and one writer at a time. ``write_tx`` begins the transaction with
  ``BEGIN IMMEDIATE``, which takes the database's write lock before the SELECT, so no other
  consumer can claim between our SELECT and our UPDATE; the UPDATE is moreover a compare-and-set
  (``AND claimed_until_ms <= now``), so a row is claimed only if it is still free. That is the safe
  equivalent of SKIP LOCKED there (consumers queue for the lock instead of skipping rows; a claim
  holds the lock for two short statements).

Either way a claim first looks for a free row with a plain read, so polling an empty queue takes
no write lock (on SQLite, the whole database's).

Delivery is at least once: a consumer that outlives its claim (``claim_ms``) without ``extend``
may see its row claimed by another. ``complete`` and ``release`` only touch rows still claimed by
the caller. Times come from the consumers' clocks: hosts must keep them in step (NTP).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, delete, select, update

from registry_app.db.engine import write_tx
from registry_app.db.store import now_ms


class ClaimQueue:
    """Claims on the rows of ``table`` (see the module docstring for how)."""

    def __init__(self, engine: Engine, table: Table, order_by: Sequence[Any] | None = None) -> None:
        missing = {"id", "claimed_by", "claimed_until_ms"} - set(table.c.keys())
        if missing:
            raise ValueError(f"table {table.name} cannot be a claim queue: no column {', '.join(sorted(missing))}")
        self.engine = engine
        self.table = table
        self.order_by = list(order_by) if order_by else [table.c.id]
        self.postgres = engine.dialect.name == "postgresql"

    def claim(
        self, holder: str, limit: int, claim_ms: int, where: ColumnElement[bool] | None = None
    ) -> list[dict[str, Any]]:
        """Claim up to ``limit`` free rows (matching ``where``, in ``order_by`` order) for
        ``holder`` until now + ``claim_ms``. Returns them (with the claim columns updated)."""
        t = self.table
        now = now_ms()
        free = t.c.claimed_until_ms <= now
        q = select(t.c.id).where(free if where is None else free & where).order_by(*self.order_by).limit(limit)
        with self.engine.connect() as conn:  # an empty queue costs a read, not a write lock
            if conn.execute(q.limit(1)).first() is None:
                return []
        if self.postgres:
            q = q.with_for_update(skip_locked=True)
        with write_tx(self.engine) as conn:
            ids = [r[0] for r in conn.execute(q)]
            if not ids:
                return []
            claimed = conn.execute(
                update(t)
                .where(t.c.id.in_(ids), free)  # compare-and-set: only rows still free
                .values(claimed_by=holder, claimed_until_ms=now + claim_ms)
                .returning(*t.c)
            ).mappings()
            rows = {r["id"]: dict(r) for r in claimed}
        return [rows[i] for i in ids if i in rows]

    def extend(self, ids: Iterable[int], holder: str, claim_ms: int) -> set[int]:
        """Renew ``holder``'s claims for another ``claim_ms``; returns the ids it still holds."""
        t = self.table
        ids = list(ids)
        if not ids:
            return set()
        with write_tx(self.engine) as conn:
            rows = conn.execute(
                update(t)
                .where(t.c.id.in_(ids), t.c.claimed_by == holder)
                .values(claimed_until_ms=now_ms() + claim_ms)
                .returning(t.c.id)
            )
            return {r[0] for r in rows}

    def complete(self, ids: Iterable[int], holder: str) -> int:
        """Delete the rows (done); only those still claimed by ``holder``. Returns how many."""
        t = self.table
        ids = list(ids)
        if not ids:
            return 0
        with write_tx(self.engine) as conn:
            return int(conn.execute(delete(t).where(t.c.id.in_(ids), t.c.claimed_by == holder)).rowcount)

    def release(self, ids: Iterable[int], holder: str, *, delay_ms: int = 0, **values: Any) -> int:
        """Give rows back: free again after ``delay_ms`` (a retry later), with ``values`` set
        (e.g. ``attempts=n``, or a ``delivered_ms`` that the consumers' ``where`` excludes). Only
        rows still claimed by ``holder``. Returns how many."""
        t = self.table
        ids = list(ids)
        if not ids:
            return 0
        with write_tx(self.engine) as conn:
            return int(
                conn.execute(
                    update(t)
                    .where(t.c.id.in_(ids), t.c.claimed_by == holder)
                    .values(claimed_by=None, claimed_until_ms=now_ms() + delay_ms, **values)
                ).rowcount
            )


__all__ = ["ClaimQueue"]

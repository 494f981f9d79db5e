"""The audit log, with Quay's log kinds. Writes of the /v2 hot paths' kinds (``BUFFERED_KINDS``:
every pull is logged) are batched: while ``buffered`` (set by the ``audit-flush`` worker,
``workers/audit.py``, which flushes every 0.5 s) they append to a buffer, so logging costs no
database write per request; a crash loses at most that interval of entries. Other kinds, and every
kind without the worker (command-line tools), are written at once."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, select

from registry_app.db.engine import write_tx
from registry_app.db.models import LogEntry, User

log = logging.getLogger("registry_app.audit")
L = cast(Table, LogEntry.__table__)
U = cast(Table, User.__table__)

# The kinds the /v2 hot paths record (every pull, push and token request), from the event loop:
# only these wait for the flush. Everything else (administration through /api/v1, in a worker
# thread) is written at once, so that another process serving the next request already sees it.
BUFFERED_KINDS = frozenset({"pull_repo", "push_repo", "login_success", "login_failure"})

# Keys whose values never go into the audit log, whatever a caller passes.
SECRET_KEYS = frozenset({"password", "token", "secret", "token_code", "access_token", "encrypted_password"})


def _clean(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: ("(redacted)" if k.lower() in SECRET_KEYS else v) for k, v in metadata.items()}


@dataclass(frozen=True)
class LogRow:
    id: int
    kind: str
    account: str | None
    performer: str | None
    performer_kind: str | None
    repository_id: int | None
    ip: str | None
    metadata: dict[str, Any]
    datetime_ms: int


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.buffered = False  # True while a flushing worker runs
        self._buffer: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def record(
        self,
        kind: str,
        *,
        account_id: int | None = None,
        performer_id: int | None = None,
        repository_id: int | None = None,
        ip: str | None = None,
        metadata: dict[str, Any] | None = None,
        now: bool = False,
    ) -> None:
        """Queue one entry. Cheap enough for every pull: a tuple appended under a lock; the
        metadata is serialised by the flushing worker."""
        entry = (kind, account_id, performer_id, repository_id, ip, metadata, int(time.time() * 1000))
        with self._lock:
            self._buffer.append(entry)
        if now or not self.buffered or kind not in BUFFERED_KINDS:
            self.flush()

    def flush(self) -> int:
        """Write the buffered entries; returns how many were written (0 when the database
        refused: they stay buffered for the next flush)."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        rows = [
            {
                "kind": k,
                "account_id": a,
                "performer_id": p,
                "repository_id": r,
                "ip": ip,
                "metadata_json": json.dumps(_clean(m or {}), default=str),
                "datetime_ms": t,
            }
            for (k, a, p, r, ip, m, t) in batch
        ]
        try:
            with write_tx(self.engine) as conn:
                conn.execute(L.insert(), rows)
        except Exception as exc:
            log.warning("audit log: could not write %d entries (%s); will retry", len(batch), str(exc).splitlines()[0])
            with self._lock:
                self._buffer[:0] = batch
            return 0
        return len(batch)

    def query(
        self,
        *,
        account_id: int | None = None,
        repository_id: int | None = None,
        performer_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[LogRow]:
        """Entries newest first (by id), filtered; ``before_id`` pages on."""
        self.flush()
        perf = U.alias("perf")
        acct = U.alias("acct")
        q = (
            select(
                L.c.id,
                L.c.kind,
                acct.c.username,
                perf.c.username,
                perf.c.robot,
                perf.c.organization,
                L.c.repository_id,
                L.c.ip,
                L.c.metadata_json,
                L.c.datetime_ms,
            )
            .select_from(L.outerjoin(perf, perf.c.id == L.c.performer_id).outerjoin(acct, acct.c.id == L.c.account_id))
            .order_by(L.c.id.desc())
            .limit(limit)
        )
        if account_id is not None:
            q = q.where(L.c.account_id == account_id)
        if repository_id is not None:
            q = q.where(L.c.repository_id == repository_id)
        if performer_id is not None:
            q = q.where(L.c.performer_id == performer_id)
        if start_ms is not None:
            q = q.where(L.c.datetime_ms >= start_ms)
        if end_ms is not None:
            q = q.where(L.c.datetime_ms < end_ms)
        if before_id is not None:
            q = q.where(L.c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            kind = None if r[3] is None else "robot" if r[4] else "org" if r[5] else "user"
            out.append(LogRow(r[0], r[1], r[2], r[3], kind, r[6], r[7], json.loads(r[8] or "{}"), r[9]))
        return out

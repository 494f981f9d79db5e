"""What the metrics read from the database: queue depths (one query per scrape) and the
connection pool's size and use (pool events, per process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, exists, func, select
from sqlalchemy.pool import QueuePool

from registry_app.db.models import (
    Manifest,
    ManifestSecurityStatus,
    RepositoryEvent,
    SecscanCleanup,
    SecscanNotification,
    Upload,
)


class QueueDepthStore:
    """Counts of the rows that wait for a worker. ``secscan``: also the security scanner's queues
    (manifests not yet indexed, Clair notifications, index reports to delete at Clair)."""

    def __init__(self, engine: Engine, secscan: bool) -> None:
        self.engine = engine
        self.secscan = secscan

    def depths(self) -> dict[str, int]:
        E, Up = RepositoryEvent.__table__, Upload.__table__
        queries: dict[str, Any] = {
            "repository_event": select(func.count()).select_from(E).where(E.c.delivered_ms.is_(None)),
            "uploads_open": select(func.count()).select_from(Up),
        }
        if self.secscan:
            M, S = Manifest.__table__, ManifestSecurityStatus.__table__
            queries["secscan_unindexed"] = (
                select(func.count()).select_from(M).where(~exists().where(S.c.manifest_id == M.c.id))
            )
            queries["secscan_notification"] = select(func.count()).select_from(SecscanNotification.__table__)
            queries["clair_cleanup"] = select(func.count()).select_from(SecscanCleanup.__table__)
        with self.engine.connect() as conn:
            return {queue: int(conn.execute(q).scalar_one()) for queue, q in queries.items()}


def pool_size(engine: Engine) -> int:
    """Connections the engine's pool keeps (QueuePool's ``pool_size``; 0 for other pools)."""
    pool = engine.pool
    return int(pool.size()) if isinstance(pool, QueuePool) else 0


def watch_pool(engine: Engine, changed: Callable[[int], None]) -> None:
    """Call ``changed(+1)`` when a connection is checked out of the pool, ``changed(-1)`` when it
    is given back: the number in use, kept by the caller."""
    event.listen(engine, "checkout", lambda *_a: changed(1))
    event.listen(engine, "checkin", lambda *_a: changed(-1))


__all__ = ["QueueDepthStore", "pool_size", "watch_pool"]

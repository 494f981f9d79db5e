"""Pull statistics SQL (FEATURE_IMAGE_PULL_STATS; services/pull_stats.py gathers the counts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, func, select

from registry_app.db.engine import write_tx
from registry_app.db.models import ManifestPullStats, TagPullStats
from registry_app.db.store import _insert

TPS: Table = TagPullStats.__table__  # type: ignore[assignment]
MPS: Table = ManifestPullStats.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class PullCount:
    """Pulls to add: of ``tag`` (None: by digest only) and of ``digest``, the last at ``last_ms``."""

    repository_id: int
    tag: str | None
    digest: str
    count: int
    last_ms: int


@dataclass(frozen=True)
class PullStatsRow:
    pull_count: int
    last_pull_ms: int
    manifest_digest: str


class PullStatsStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def add(self, counts: Iterable[PullCount]) -> int:
        """Add the counts (one transaction); returns how many were added."""
        items = list(counts)
        if not items:
            return 0
        with write_tx(self.engine) as conn:
            for c in items:
                if c.tag is not None:
                    stmt: Any = _insert(self.dialect, TPS).values(
                        repository_id=c.repository_id,
                        tag_name=c.tag,
                        manifest_digest=c.digest,
                        pull_count=c.count,
                        last_pull_ms=c.last_ms,
                    )
                    conn.execute(
                        stmt.on_conflict_do_update(
                            index_elements=[TPS.c.repository_id, TPS.c.tag_name],
                            set_={
                                "pull_count": TPS.c.pull_count + c.count,
                                "last_pull_ms": func.max(TPS.c.last_pull_ms, c.last_ms)
                                if self.dialect == "sqlite"
                                else func.greatest(TPS.c.last_pull_ms, c.last_ms),
                                "manifest_digest": c.digest,
                            },
                        )
                    )
                stmt = _insert(self.dialect, MPS).values(
                    repository_id=c.repository_id,
                    manifest_digest=c.digest,
                    pull_count=c.count,
                    last_pull_ms=c.last_ms,
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[MPS.c.repository_id, MPS.c.manifest_digest],
                        set_={
                            "pull_count": MPS.c.pull_count + c.count,
                            "last_pull_ms": func.max(MPS.c.last_pull_ms, c.last_ms)
                            if self.dialect == "sqlite"
                            else func.greatest(MPS.c.last_pull_ms, c.last_ms),
                        },
                    )
                )
        return len(items)

    def tag(self, repository_id: int, tag: str) -> PullStatsRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(TPS.c.pull_count, TPS.c.last_pull_ms, TPS.c.manifest_digest).where(
                    TPS.c.repository_id == repository_id, TPS.c.tag_name == tag
                )
            ).first()
        return PullStatsRow(int(row[0]), int(row[1]), str(row[2])) if row else None

    def manifest(self, repository_id: int, digest: str) -> PullStatsRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(MPS.c.pull_count, MPS.c.last_pull_ms).where(
                    MPS.c.repository_id == repository_id, MPS.c.manifest_digest == digest
                )
            ).first()
        return PullStatsRow(int(row[0]), int(row[1]), digest) if row else None

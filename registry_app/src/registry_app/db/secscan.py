"""SQL for security scanning: per-manifest scan status, recorded repository events, queued Clair
notifications and the queue of Clair index reports to delete. Plain rows in, dataclasses out; every
method is one transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from registry_app.db.claims import ClaimQueue
from registry_app.db.engine import write_tx
from registry_app.db.leases import LeaseStore
from registry_app.db.models import (
    Manifest,
    ManifestSecurityStatus,
    Repository,
    RepositoryEvent,
    SecscanCleanup,
    SecscanNotification,
    Tag,
    User,
)
from registry_app.db.store import RepoRow, now_ms, tag_alive

M = cast(Table, Manifest.__table__)
R = cast(Table, Repository.__table__)
U = cast(Table, User.__table__)
T = cast(Table, Tag.__table__)
S = cast(Table, ManifestSecurityStatus.__table__)
EV = cast(Table, RepositoryEvent.__table__)
N = cast(Table, SecscanNotification.__table__)
C = cast(Table, SecscanCleanup.__table__)

# Quay's IndexStatus values (data/database.py).
COMPLETED = 1
IN_PROGRESS = 2
FAILED = -1
MANIFEST_UNSUPPORTED = -2
MANIFEST_LAYER_TOO_LARGE = -3


@dataclass(frozen=True)
class ScanStatus:
    index_status: int
    indexer_hash: str
    last_indexed_ms: int
    retries: int
    error_json: str | None


@dataclass(frozen=True)
class Candidate:
    """A manifest the security worker should (re-)index."""

    manifest_id: int
    repository_id: int
    namespace: str
    repository: str
    digest: str
    media_type: str
    content: bytes
    status: ScanStatus | None


@dataclass(frozen=True)
class QueuedNotification:
    notification_id: str
    next_page: str | None
    attempts: int


class SecscanStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)

    # -- lease (db/leases.py; the workers' base takes it through LeaseStore) ------------------------
    def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while another holder's is valid."""
        return LeaseStore(self.engine).acquire(name, holder, ttl_ms)

    def release_lease(self, name: str, holder: str) -> None:
        LeaseStore(self.engine).release(name, holder)

    # -- scan status ---------------------------------------------------------------------------
    def status(self, manifest_id: int) -> ScanStatus | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(S.c.index_status, S.c.indexer_hash, S.c.last_indexed_ms, S.c.retries, S.c.error_json).where(
                    S.c.manifest_id == manifest_id
                )
            ).first()
        return ScanStatus(*row) if row else None

    def set_status(
        self,
        manifest_id: int,
        repository_id: int,
        index_status: int,
        indexer_hash: str,
        error: Any = None,
        retries: int = 0,
    ) -> bool:
        """Replace the manifest's status; False when the manifest was deleted meanwhile."""
        with write_tx(self.engine) as conn:
            if conn.execute(select(M.c.id).where(M.c.id == manifest_id)).first() is None:
                return False
            conn.execute(delete(S).where(S.c.manifest_id == manifest_id))
            conn.execute(
                S.insert().values(
                    manifest_id=manifest_id,
                    repository_id=repository_id,
                    index_status=index_status,
                    error_json=json.dumps(error) if error is not None else None,
                    last_indexed_ms=now_ms(),
                    indexer_hash=indexer_hash,
                    indexer_version=4,
                    metadata_json="{}",
                    retries=retries,
                )
            )
            return True

    def candidates(
        self, indexer_state: str, reindex_before_ms: int, max_retries: int, limit: int, after_id: int = 0
    ) -> list[Candidate]:
        """Manifests never indexed, failed ones with retries left, and ones (completed, or failed
        without retries left) indexed under another Clair index state longer ago than
        ``reindex_before_ms`` (Quay's three queries), by id after ``after_id``."""
        q = (
            select(
                M.c.id,
                M.c.repository_id,
                U.c.username,
                R.c.name,
                M.c.digest,
                M.c.media_type,
                M.c.content,
                S.c.index_status,
                S.c.indexer_hash,
                S.c.last_indexed_ms,
                S.c.retries,
                S.c.error_json,
            )
            .select_from(M.join(R, R.c.id == M.c.repository_id).join(U, U.c.id == R.c.namespace_id))
            .outerjoin(S, S.c.manifest_id == M.c.id)
            .where(
                M.c.id > after_id,
                or_(
                    S.c.id.is_(None),
                    and_(S.c.index_status == FAILED, S.c.retries < max_retries),
                    S.c.index_status == IN_PROGRESS,
                    and_(
                        S.c.index_status.in_((COMPLETED, FAILED)),
                        S.c.indexer_hash != indexer_state,
                        S.c.last_indexed_ms < reindex_before_ms,
                    ),
                ),
            )
            .order_by(M.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            status = ScanStatus(r[7], r[8], r[9], r[10], r[11]) if r[7] is not None else None
            out.append(Candidate(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), status))
        return out

    def digest_in_use(self, digest: str) -> bool:
        """Whether any repository still has a manifest with this digest (Clair's report is shared)."""
        with self.engine.connect() as conn:
            return conn.execute(select(M.c.id).where(M.c.digest == digest).limit(1)).first() is not None

    def repository_digests(self, repository_id: int) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(M.c.digest).where(M.c.repository_id == repository_id))]

    def manifests_with_digest(self, digest: str) -> list[tuple[int, RepoRow]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(M.c.id, R.c.id, R.c.namespace_id, U.c.username, R.c.name, R.c.visibility)
                .select_from(M.join(R, R.c.id == M.c.repository_id).join(U, U.c.id == R.c.namespace_id))
                .where(M.c.digest == digest)
                .order_by(M.c.id)
            ).all()
        return [(int(r[0]), RepoRow(*r[1:])) for r in rows]

    def tag_names(self, manifest_id: int, limit: int) -> list[str]:
        """Live tags pointing at the manifest (Quay's tag_names_for_manifest)."""
        with self.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(T.c.name)
                    .where(T.c.manifest_id == manifest_id, tag_alive(now_ms()))
                    .order_by(T.c.name)
                    .limit(limit)
                )
            ]

    # -- repository events ---------------------------------------------------------------------
    def record_events(self, events: list[tuple[str, int, dict[str, Any]]]) -> None:
        """Record (kind, repository id, payload) events for the notifications worker to deliver."""
        if not events:
            return
        t = now_ms()
        with write_tx(self.engine) as conn:
            conn.execute(
                EV.insert(),
                [
                    {"kind": kind, "repository_id": repo_id, "payload_json": json.dumps(payload), "created_ms": t}
                    for kind, repo_id, payload in events
                ],
            )

    def events(self, repository_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        q = select(EV.c.id, EV.c.kind, EV.c.payload_json, EV.c.created_ms).where(EV.c.repository_id == repository_id)
        if kind is not None:
            q = q.where(EV.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(EV.c.id)).all()
        return [{"id": r[0], "kind": r[1], "payload": json.loads(r[2]), "created_ms": r[3]} for r in rows]

    # -- Clair notifications -------------------------------------------------------------------
    def queue_notification(self, notification_id: str) -> None:
        t = now_ms()
        with write_tx(self.engine) as conn:
            conn.execute(
                self._insert(N)
                .values(notification_id=notification_id, received_ms=t, attempts=0, next_attempt_ms=t)
                .on_conflict_do_nothing()
            )

    def due_notifications(self, limit: int = 20) -> list[QueuedNotification]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(N.c.notification_id, N.c.next_page, N.c.attempts)
                .where(N.c.next_attempt_ms <= now_ms())
                .order_by(N.c.received_ms)
                .limit(limit)
            ).all()
        return [QueuedNotification(*r) for r in rows]

    def update_notification(self, notification_id: str, next_page: str | None, attempts: int, delay_ms: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(
                update(N)
                .where(N.c.notification_id == notification_id)
                .values(next_page=next_page, attempts=attempts, next_attempt_ms=now_ms() + delay_ms)
            )

    def delete_notification(self, notification_id: str) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(delete(N).where(N.c.notification_id == notification_id))

    # -- Clair index reports to delete ---------------------------------------------------------
    def queue_cleanup(self, digests: list[str]) -> None:
        """Queue deleted manifests' digests; the clair-cleanup worker claims them from
        ``cleanup_queue`` and deletes Clair's report of each digest no repository holds."""
        if not digests:
            return
        t = now_ms()
        with write_tx(self.engine) as conn:
            conn.execute(C.insert(), [{"digest": d, "queued_ms": t, "attempts": 0} for d in digests])

    @property
    def cleanup_queue(self) -> ClaimQueue:
        return ClaimQueue(self.engine, C)


__all__ = [
    "COMPLETED",
    "FAILED",
    "IN_PROGRESS",
    "MANIFEST_LAYER_TOO_LARGE",
    "MANIFEST_UNSUPPORTED",
    "Candidate",
    "QueuedNotification",
    "ScanStatus",
    "SecscanStore",
]

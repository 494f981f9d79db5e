"""Quota SQL: namespace quotas and their limits (Quay's ``userorganizationquota`` and
``quotalimits``), and consumption computed from the manifests' blobs.

Consumption is what Quay counts: the sizes of the distinct blobs that the manifests of a
repository reference (repository size), and of a namespace's repositories together, each blob once
per namespace however many manifests or repositories share it (namespace size). Uploaded blobs that
no manifest references yet do not count. It is computed by one aggregate query when asked, never
stored, so it is exact after every push and delete without bookkeeping (see docs/architecture.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Select, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from registry_app.db.engine import write_tx
from registry_app.db.models import (
    Blob,
    Manifest,
    ManifestBlob,
    NamespaceQuota,
    QuotaLimit,
    Repository,
    RepositoryEvent,
    Upload,
)
from registry_app.db.store import now_ms

B = cast(Table, Blob.__table__)
M = cast(Table, Manifest.__table__)
MB = cast(Table, ManifestBlob.__table__)
R = cast(Table, Repository.__table__)
Q = cast(Table, NamespaceQuota.__table__)
QL = cast(Table, QuotaLimit.__table__)
UP = cast(Table, Upload.__table__)
EV = cast(Table, RepositoryEvent.__table__)


@dataclass(frozen=True)
class QuotaRow:
    id: int
    namespace_id: int
    limit_bytes: int


@dataclass(frozen=True)
class LimitRow:
    id: int
    quota_id: int
    quota_type: str
    percent_of_limit: int


def _namespace_blob_ids(namespace_id: int) -> Select[Any]:
    """The ids of the blobs the manifests of a namespace's repositories reference."""
    return (
        select(MB.c.blob_id)
        .select_from(MB.join(M, M.c.id == MB.c.manifest_id).join(R, R.c.id == M.c.repository_id))
        .where(R.c.namespace_id == namespace_id)
    )


class QuotaStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- quotas ------------------------------------------------------------------------------------
    def quota(self, namespace_id: int) -> QuotaRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Q.c.id, Q.c.namespace_id, Q.c.limit_bytes).where(Q.c.namespace_id == namespace_id)
            ).first()
        return QuotaRow(*row) if row else None

    def create_quota(self, namespace_id: int, limit_bytes: int) -> QuotaRow | None:
        """The new quota, or None when the namespace already has one (one per namespace, as Quay)."""
        try:
            with write_tx(self.engine) as conn:
                new_id = conn.execute(
                    Q.insert().values(namespace_id=namespace_id, limit_bytes=limit_bytes, created_ms=now_ms())
                ).inserted_primary_key
        except IntegrityError:
            return None
        assert new_id is not None
        return QuotaRow(int(new_id[0]), namespace_id, limit_bytes)

    def set_limit_bytes(self, quota_id: int, limit_bytes: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(Q).where(Q.c.id == quota_id).values(limit_bytes=limit_bytes))

    def delete_quota(self, quota_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(delete(QL).where(QL.c.quota_id == quota_id))
            conn.execute(delete(Q).where(Q.c.id == quota_id))

    # -- limits ------------------------------------------------------------------------------------
    def limits(self, quota_id: int) -> list[LimitRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(QL.c.id, QL.c.quota_id, QL.c.quota_type, QL.c.percent_of_limit)
                .where(QL.c.quota_id == quota_id)
                .order_by(QL.c.id)
            ).all()
        return [LimitRow(*r) for r in rows]

    def create_limit(self, quota_id: int, quota_type: str, percent: int) -> LimitRow | None:
        """The new limit, or None when the same (type, percent) exists already."""
        try:
            with write_tx(self.engine) as conn:
                new_id = conn.execute(
                    QL.insert().values(quota_id=quota_id, quota_type=quota_type, percent_of_limit=percent)
                ).inserted_primary_key
        except IntegrityError:
            return None
        assert new_id is not None
        return LimitRow(int(new_id[0]), quota_id, quota_type, percent)

    def update_limit(self, limit_id: int, quota_type: str, percent: int) -> bool:
        """False when another limit of the quota already has that type and percent."""
        try:
            with write_tx(self.engine) as conn:
                conn.execute(
                    update(QL).where(QL.c.id == limit_id).values(quota_type=quota_type, percent_of_limit=percent)
                )
        except IntegrityError:
            return False
        return True

    def delete_limit(self, limit_id: int) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(delete(QL).where(QL.c.id == limit_id))

    # -- consumption -------------------------------------------------------------------------------
    def namespace_size(self, namespace_id: int) -> int:
        """Bytes of the distinct blobs the namespace's manifests reference (each blob once)."""
        q = select(func.coalesce(func.sum(B.c.size), 0)).where(B.c.id.in_(_namespace_blob_ids(namespace_id)))
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def repository_sizes(self, repository_ids: Sequence[int]) -> dict[int, int]:
        """Per repository, bytes of the distinct blobs its manifests reference (0 when none)."""
        if not repository_ids:
            return {}
        pairs = (
            select(M.c.repository_id, MB.c.blob_id)
            .select_from(MB.join(M, M.c.id == MB.c.manifest_id))
            .where(M.c.repository_id.in_(list(repository_ids)))
            .distinct()
            .subquery()
        )
        q = (
            select(pairs.c.repository_id, func.sum(B.c.size))
            .select_from(pairs.join(B, B.c.id == pairs.c.blob_id))
            .group_by(pairs.c.repository_id)
        )
        with self.engine.connect() as conn:
            found = {int(r[0]): int(r[1] or 0) for r in conn.execute(q)}
        return {rid: found.get(rid, 0) for rid in repository_ids}

    def added_bytes(self, namespace_id: int, digests: Iterable[str]) -> int:
        """Bytes the blobs ``digests`` would add to the namespace's consumption: those of them that
        no manifest of the namespace references yet (unknown digests add nothing)."""
        wanted = sorted(set(digests))
        if not wanted:
            return 0
        q = select(func.coalesce(func.sum(B.c.size), 0)).where(
            B.c.digest.in_(wanted), B.c.id.not_in(_namespace_blob_ids(namespace_id))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def uploads_bytes(self, repository_id: int) -> int:
        """Bytes received by the repository's uploads in progress (Quay's size during upload)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(UP.c.size), 0)).where(UP.c.repository_id == repository_id)
                ).scalar_one()
            )

    # -- events ------------------------------------------------------------------------------------
    def record_event(self, kind: str, repository_id: int, payload: dict[str, Any], once: bool = False) -> bool:
        """Record a repository event for the notifications worker. ``once``: not when an event of
        that kind for the repository is still undelivered (a refused push retried by a client in a
        loop raises one event, not one per attempt). True when a row was written."""
        with write_tx(self.engine) as conn:
            if once:
                pending = conn.execute(
                    select(EV.c.id).where(
                        EV.c.repository_id == repository_id, EV.c.kind == kind, EV.c.delivered_ms.is_(None)
                    )
                ).first()
                if pending is not None:
                    return False
            conn.execute(
                EV.insert().values(
                    kind=kind, repository_id=repository_id, payload_json=json.dumps(payload), created_ms=now_ms()
                )
            )
        return True


__all__ = ["LimitRow", "QuotaRow", "QuotaStore"]

"""Repository data the management API needs beyond the push/pull store: descriptions, creation with
the creator's admin role, deletion, visibility-filtered listing by id, and live-tag summaries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from registry_app.db.engine import write_tx
from registry_app.db.models import (
    LogEntry,
    Manifest,
    Repository,
    RepositoryPermission,
    Tag,
    Team,
    TeamMember,
    User,
)
from registry_app.db.store import RepoRow, now_ms

U = cast(Table, User.__table__)
R = cast(Table, Repository.__table__)
T = cast(Table, Tag.__table__)
M = cast(Table, Manifest.__table__)
RP = cast(Table, RepositoryPermission.__table__)
TM = cast(Table, Team.__table__)
MEM = cast(Table, TeamMember.__table__)
L = cast(Table, LogEntry.__table__)


@dataclass(frozen=True)
class RepoInfo:
    """A repository with what the API shows about it and its namespace."""

    id: int
    namespace_id: int
    namespace: str
    name: str
    visibility: str
    description: str | None
    kind: str
    state: str
    namespace_is_org: bool
    namespace_tag_expiration_s: int | None

    @property
    def public(self) -> bool:
        return self.visibility == "public"

    @property
    def row(self) -> RepoRow:
        return RepoRow(self.id, self.namespace_id, self.namespace, self.name, self.visibility)


@dataclass(frozen=True)
class TagSummary:
    name: str
    manifest_digest: str
    size: int | None  # compressed layers; None for an index (as Quay)
    lifetime_start_ms: int
    expiration_ms: int | None


def _layers_size(content: bytes) -> int | None:
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        return None
    return sum(int(layer.get("size") or 0) for layer in layers if isinstance(layer, dict))


class RepositoryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _query() -> Any:
        return select(
            R.c.id,
            R.c.namespace_id,
            U.c.username,
            R.c.name,
            R.c.visibility,
            R.c.description,
            R.c.kind,
            R.c.state,
            U.c.organization,
            U.c.tag_expiration_s,
        ).join(U, U.c.id == R.c.namespace_id)

    @staticmethod
    def _info(row: Any) -> RepoInfo:
        return RepoInfo(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], bool(row[8]), row[9])

    def get(self, namespace: str, name: str) -> RepoInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._query().where(U.c.username == namespace, R.c.name == name)).first()
        return self._info(row) if row else None

    def create(
        self,
        namespace_id: int,
        name: str,
        visibility: str,
        description: str | None,
        kind: str,
        creator_id: int | None,
    ) -> RepoInfo | None:
        """Create a repository; the creator (if any) gets an explicit admin role on it, as in Quay.
        None when the name is taken."""
        try:
            with write_tx(self.engine) as conn:
                repo_id = conn.execute(
                    R.insert()
                    .values(
                        namespace_id=namespace_id,
                        name=name,
                        visibility=visibility,
                        description=description,
                        kind=kind,
                        state="NORMAL",
                        created_ms=now_ms(),
                    )
                    .returning(R.c.id)
                ).scalar_one()
                if creator_id is not None:
                    conn.execute(RP.insert().values(repository_id=repo_id, user_id=creator_id, role="admin"))
                row = conn.execute(self._query().where(R.c.id == repo_id)).one()
        except IntegrityError:
            return None
        return self._info(row)

    def set_description(self, repo_id: int, description: str | None) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(R).where(R.c.id == repo_id).values(description=description))

    def delete(self, repo_id: int) -> bool:
        """Delete the repository row; its manifests, tags, blob links, uploads and permissions go by
        ON DELETE CASCADE. Blob files stay in storage for garbage collection."""
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(R).where(R.c.id == repo_id)).rowcount)

    def visible(
        self,
        *,
        user_id: int | None,
        everything: bool,
        include_public: bool,
        namespace: str | None,
        kind: str,
        after_id: int | None,
        limit: int,
    ) -> list[RepoInfo]:
        """Repositories in id order after ``after_id``: all of them (``everything``), or those the
        user reaches (own namespace, organization admin team, explicit role directly or through a
        team) plus, with ``include_public``, every public one."""
        q = self._query().where(R.c.kind == kind)
        if namespace is not None:
            q = q.where(U.c.username == namespace)
        if after_id is not None:
            q = q.where(R.c.id > after_id)
        if not everything:
            conds = []
            if include_public:
                conds.append(R.c.visibility == "public")
            if user_id is not None:
                my_teams = select(MEM.c.team_id).where(MEM.c.user_id == user_id)
                admin_orgs = (
                    select(TM.c.organization_id)
                    .join(MEM, MEM.c.team_id == TM.c.id)
                    .where(MEM.c.user_id == user_id, TM.c.role == "admin")
                )
                explicit = select(RP.c.repository_id).where(or_(RP.c.user_id == user_id, RP.c.team_id.in_(my_teams)))
                conds += [R.c.namespace_id == user_id, R.c.namespace_id.in_(admin_orgs), R.c.id.in_(explicit)]
            if not conds:
                return []
            q = q.where(or_(*conds))
        q = q.order_by(R.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [self._info(r) for r in conn.execute(q).all()]

    def last_modified(self, repo_ids: list[int]) -> dict[int, int]:
        """Repository id → start (ms) of its most recently pushed live tag."""
        if not repo_ids:
            return {}
        q = (
            select(T.c.repository_id, func.max(T.c.lifetime_start_ms))
            .where(T.c.repository_id.in_(repo_ids), T.c.lifetime_end_ms.is_(None))
            .group_by(T.c.repository_id)
        )
        with self.engine.connect() as conn:
            return {int(r[0]): int(r[1]) for r in conn.execute(q).all() if r[1] is not None}

    def action_counts(self, repo_ids: list[int], kinds: tuple[str, ...], since_ms: int) -> dict[int, int]:
        """Repository id → audit-log entries of ``kinds`` since ``since_ms``."""
        if not repo_ids:
            return {}
        q = (
            select(L.c.repository_id, func.count())
            .where(L.c.repository_id.in_(repo_ids), L.c.kind.in_(kinds), L.c.datetime_ms >= since_ms)
            .group_by(L.c.repository_id)
        )
        with self.engine.connect() as conn:
            return {int(r[0]): int(r[1]) for r in conn.execute(q).all()}

    def live_tags(self, repo_id: int, limit: int) -> list[TagSummary]:
        """Live, unexpired tags, most recently pushed first."""
        now = now_ms()
        q = (
            select(T.c.name, M.c.digest, M.c.content, T.c.lifetime_start_ms, T.c.expiration_ms)
            .join(M, M.c.id == T.c.manifest_id)
            .where(
                T.c.repository_id == repo_id,
                T.c.lifetime_end_ms.is_(None),
                or_(T.c.expiration_ms.is_(None), T.c.expiration_ms > now),
            )
            .order_by(T.c.lifetime_start_ms.desc(), T.c.name)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [TagSummary(r[0], r[1], _layers_size(bytes(r[2])), int(r[3]), r[4]) for r in rows]


__all__ = ["RepoInfo", "RepositoryStore", "TagSummary"]

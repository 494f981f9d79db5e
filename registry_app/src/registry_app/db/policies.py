"""Data access for tag policies (auto-prune and immutability, table ``tag_policy``) and the tag
queries they need: live tags of a repository for pruning, ending a pruned tag, the ``immutable``
flag. What the policies mean (validation, pattern and age rules) is in services/tag_policy.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, or_, select, update

from registry_app.db.engine import write_tx
from registry_app.db.models import Repository, Tag, TagPolicy, User
from registry_app.db.store import now_ms, tag_alive

P = cast(Table, TagPolicy.__table__)
T = cast(Table, Tag.__table__)
R = cast(Table, Repository.__table__)
U = cast(Table, User.__table__)


@dataclass(frozen=True)
class PolicyRow:
    uuid: str
    kind: str
    namespace_id: int
    repository_id: int | None
    rule: dict[str, Any]  # the stored policy (Quay's config): method, value, tag_pattern, ...


@dataclass(frozen=True)
class PruneCandidate:
    """A live tag as the prune rules see it."""

    name: str
    lifetime_start_ms: int
    immutable: bool


@dataclass(frozen=True)
class RepoRef:
    id: int
    name: str


def _row(r: Any) -> PolicyRow:
    try:
        config = json.loads(r.policy)
    except ValueError:
        config = {}
    return PolicyRow(r.uuid, r.kind, int(r.namespace_id), r.repository_id, config if isinstance(config, dict) else {})


def _owner(kind: str, namespace_id: int, repository_id: int | None) -> Any:
    repo = P.c.repository_id.is_(None) if repository_id is None else P.c.repository_id == repository_id
    return and_(P.c.kind == kind, P.c.namespace_id == namespace_id, repo)


class PolicyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- policies ------------------------------------------------------------------------------
    def policies(self, kind: str, namespace_id: int, repository_id: int | None) -> list[PolicyRow]:
        """A namespace's own policies (``repository_id`` None) or one repository's, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(P).where(_owner(kind, namespace_id, repository_id)).order_by(P.c.id))
            return [_row(r) for r in rows]

    def for_repository(self, kind: str, namespace_id: int, repository_id: int) -> list[PolicyRow]:
        """The namespace's policies and the repository's, namespace's first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(P)
                .where(
                    P.c.kind == kind,
                    P.c.namespace_id == namespace_id,
                    or_(P.c.repository_id.is_(None), P.c.repository_id == repository_id),
                )
                .order_by(P.c.repository_id.is_not(None), P.c.id)
            )
            return [_row(r) for r in rows]

    def create(self, kind: str, namespace_id: int, repository_id: int | None, config: dict[str, Any]) -> str:
        new_uuid = str(uuid.uuid4())
        with write_tx(self.engine) as conn:
            conn.execute(
                P.insert().values(
                    uuid=new_uuid,
                    kind=kind,
                    namespace_id=namespace_id,
                    repository_id=repository_id,
                    policy=json.dumps(config, sort_keys=True),
                    created_ms=now_ms(),
                )
            )
        return new_uuid

    def update(
        self, kind: str, namespace_id: int, repository_id: int | None, policy_uuid: str, config: dict[str, Any]
    ) -> bool:
        with write_tx(self.engine) as conn:
            res = conn.execute(
                update(P)
                .where(_owner(kind, namespace_id, repository_id), P.c.uuid == policy_uuid)
                .values(policy=json.dumps(config, sort_keys=True))
            )
            return bool(res.rowcount)

    def delete(self, kind: str, namespace_id: int, repository_id: int | None, policy_uuid: str) -> bool:
        with write_tx(self.engine) as conn:
            res = conn.execute(delete(P).where(_owner(kind, namespace_id, repository_id), P.c.uuid == policy_uuid))
            return bool(res.rowcount)

    def namespaces_with(self, kind: str) -> list[int]:
        """Enabled namespaces that hold at least one policy of ``kind`` (their own or a repository's)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(P.c.namespace_id)
                .join(U, U.c.id == P.c.namespace_id)
                .where(P.c.kind == kind, U.c.enabled.is_(True))
                .distinct()
                .order_by(P.c.namespace_id)
            )
            return [int(r[0]) for r in rows]

    def namespaces(self, after_id: int, limit: int) -> list[int]:
        """Enabled users and organizations (not robots) by id, for the registry-wide default policy."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(U.c.id)
                .where(U.c.id > after_id, U.c.enabled.is_(True), U.c.robot.is_(False))
                .order_by(U.c.id)
                .limit(limit)
            )
            return [int(r[0]) for r in rows]

    def namespace_name(self, namespace_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(U.c.username).where(U.c.id == namespace_id)).scalar()

    def repositories(self, namespace_id: int) -> list[RepoRef]:
        """The namespace's repositories in the NORMAL state (Quay prunes neither mirrors nor
        read-only ones)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(R.c.id, R.c.name).where(R.c.namespace_id == namespace_id, R.c.state == "NORMAL").order_by(R.c.id)
            )
            return [RepoRef(int(r[0]), str(r[1])) for r in rows]

    # -- tags ----------------------------------------------------------------------------------
    def live_tags(self, repository_id: int) -> list[PruneCandidate]:
        """The repository's live tags, newest first (ties: by name)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(T.c.name, T.c.lifetime_start_ms, T.c.immutable)
                .where(T.c.repository_id == repository_id, tag_alive(now_ms()))
                .order_by(T.c.lifetime_start_ms.desc(), T.c.name)
            )
            return [PruneCandidate(str(r[0]), int(r[1]), bool(r[2])) for r in rows]

    def end_tag(self, repository_id: int, name: str, started_ms: int) -> bool:
        """End a pruned tag's lifetime (it stays in the history, restorable in the time machine
        window, like a delete). Only the row the rules saw: still live, still the one that started at
        ``started_ms`` (not pushed again meanwhile) and not immutable."""
        with write_tx(self.engine) as conn:
            res = conn.execute(
                update(T)
                .where(
                    T.c.repository_id == repository_id,
                    T.c.name == name,
                    T.c.lifetime_start_ms == started_ms,
                    T.c.immutable.is_(False),
                    tag_alive(now_ms()),
                )
                .values(lifetime_end_ms=now_ms())
            )
            return bool(res.rowcount)

    def set_immutable(self, repository_id: int, name: str, immutable: bool, clear_expiration: bool) -> bool | None:
        """Set a live tag's flag; returns what it was, or None when the tag is not live."""
        with write_tx(self.engine) as conn:
            row = conn.execute(
                select(T.c.id, T.c.immutable).where(
                    T.c.repository_id == repository_id, T.c.name == name, tag_alive(now_ms())
                )
            ).first()
            if row is None:
                return None
            values: dict[str, Any] = {"immutable": immutable}
            if immutable and clear_expiration:
                values["expiration_ms"] = None
            conn.execute(update(T).where(T.c.id == row.id).values(**values))
            return bool(row.immutable)

    def live_names(
        self, namespace_id: int, repository_id: int | None, after_id: int, limit: int
    ) -> list[tuple[int, int, str]]:
        """(tag row id, repository id, name) of live mutable tags of a namespace or repository, by
        row id: the batches a new immutability policy is applied to."""
        q = (
            select(T.c.id, T.c.repository_id, T.c.name)
            .join(R, R.c.id == T.c.repository_id)
            .where(R.c.namespace_id == namespace_id, T.c.id > after_id, T.c.immutable.is_(False), tag_alive(now_ms()))
            .order_by(T.c.id)
            .limit(limit)
        )
        if repository_id is not None:
            q = q.where(T.c.repository_id == repository_id)
        with self.engine.connect() as conn:
            return [(int(r[0]), int(r[1]), str(r[2])) for r in conn.execute(q)]

    def mark_immutable(self, tag_ids: Iterable[int], clear_expiration: bool) -> int:
        ids = list(tag_ids)
        if not ids:
            return 0
        values: dict[str, Any] = {"immutable": True}
        if clear_expiration:
            values["expiration_ms"] = None
        with write_tx(self.engine) as conn:
            res = conn.execute(update(T).where(T.c.id.in_(ids), tag_alive(now_ms())).values(**values))
            return int(res.rowcount)

    def mark_names_immutable(self, repository_id: int, names: Iterable[str], clear_expiration: bool) -> int:
        wanted = sorted(set(names))
        if not wanted:
            return 0
        values: dict[str, Any] = {"immutable": True}
        if clear_expiration:
            values["expiration_ms"] = None
        with write_tx(self.engine) as conn:
            res = conn.execute(
                update(T)
                .where(T.c.repository_id == repository_id, T.c.name.in_(wanted), T.c.lifetime_end_ms.is_(None))
                .values(**values)
            )
            return int(res.rowcount)


__all__ = ["PolicyRow", "PolicyStore", "PruneCandidate", "RepoRef"]

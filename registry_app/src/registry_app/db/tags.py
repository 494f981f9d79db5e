"""Data access for tag history, tag expiration, tag moves through the API and manifest labels.

Tag rows follow Quay's model (see db/models.py ``Tag``): a row is live while ``lifetime_end_ms``
is NULL and ``expiration_ms`` (if set) is in the future. The data plane's tag queries (resolve,
tags/list, moves on push) are in db/store.py and share ``tag_alive`` and ``move_tag`` with this
module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Engine, Table, delete, select, update

from registry_app.db.engine import write_tx
from registry_app.db.models import Label, Manifest, Repository, Tag
from registry_app.db.store import ManifestRow, Store, move_tag, now_ms, tag_alive

T = cast(Table, Tag.__table__)
M = cast(Table, Manifest.__table__)
R = cast(Table, Repository.__table__)
LB = cast(Table, Label.__table__)


@dataclass(frozen=True)
class TagHistoryRow:
    """One row of a tag's history with the manifest it pointed at."""

    name: str
    lifetime_start_ms: int
    lifetime_end_ms: int | None
    expiration_ms: int | None
    manifest_digest: str
    media_type: str
    content: bytes
    immutable: bool = False

    @property
    def end_ms(self) -> int | None:
        """When the row stopped (or will stop) being live: the earlier of its end and expiration."""
        ends = [e for e in (self.lifetime_end_ms, self.expiration_ms) if e is not None]
        return min(ends) if ends else None


@dataclass(frozen=True)
class LiveTag:
    id: int
    name: str
    manifest_id: int
    manifest_digest: str
    lifetime_start_ms: int
    expiration_ms: int | None
    immutable: bool = False


@dataclass(frozen=True)
class LabelRow:
    uuid: str
    key: str
    value: str
    media_type: str
    source_type: str


class TagStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- history -------------------------------------------------------------------------------
    def history(
        self,
        repo_id: int,
        page: int,
        limit: int,
        *,
        name: str | None = None,
        name_contains: str | None = None,
        active_only: bool = False,
    ) -> tuple[list[TagHistoryRow], bool]:
        """A page of tag rows, newest first (Quay's order: start time descending, then name), and
        whether more follow. ``name`` keeps one tag's rows; ``active_only`` only live rows."""
        q = (
            select(
                T.c.name,
                T.c.lifetime_start_ms,
                T.c.lifetime_end_ms,
                T.c.expiration_ms,
                M.c.digest,
                M.c.media_type,
                M.c.content,
                T.c.immutable,
            )
            .join(M, M.c.id == T.c.manifest_id)
            .where(T.c.repository_id == repo_id)
            .order_by(T.c.lifetime_start_ms.desc(), T.c.name, T.c.id.desc())
            .limit(limit + 1)
            .offset(limit * (page - 1))
        )
        if name is not None:
            q = q.where(T.c.name == name)
        if name_contains is not None:
            q = q.where(T.c.name.contains(name_contains, autoescape=True))
        if active_only:
            q = q.where(tag_alive(now_ms()))
        with self.engine.connect() as conn:
            rows = [TagHistoryRow(*r[:-1], immutable=bool(r[-1])) for r in conn.execute(q)]
        return rows[:limit], len(rows) > limit

    def live_tag(self, repo_id: int, name: str) -> LiveTag | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    T.c.id,
                    T.c.name,
                    T.c.manifest_id,
                    M.c.digest,
                    T.c.lifetime_start_ms,
                    T.c.expiration_ms,
                    T.c.immutable,
                )
                .join(M, M.c.id == T.c.manifest_id)
                .where(T.c.repository_id == repo_id, T.c.name == name, tag_alive(now_ms()))
            ).first()
        return LiveTag(*row[:-1], immutable=bool(row[-1])) if row else None

    def manifest(self, repo_id: int, digest: str) -> ManifestRow | None:
        """A manifest of the repository by digest, tagged or not."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*Store._MCOLS).where(M.c.repository_id == repo_id, M.c.digest == digest)).first()
        return ManifestRow(*row) if row else None

    # -- changes -------------------------------------------------------------------------------
    def set_expiration(self, tag: LiveTag, expiration_ms: int | None) -> bool:
        """Change a live tag's expiration; False if the tag changed meanwhile (moved, deleted)."""
        with write_tx(self.engine) as conn:
            res = conn.execute(
                update(T).where(T.c.id == tag.id, tag_alive(now_ms())).values(expiration_ms=expiration_ms)
            )
            return bool(res.rowcount)

    def retarget(self, repo_id: int, name: str, manifest_id: int) -> int | None:
        """Point a tag at a manifest of the repository (history kept); returns the manifest id it
        was live on before, or None if it was not live. LookupError when the manifest is gone (a
        garbage collector deleted it since the caller looked it up: checked under the lock)."""
        with write_tx(self.engine) as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(select(R.c.id).where(R.c.id == repo_id).with_for_update())
            if conn.execute(select(M.c.id).where(M.c.id == manifest_id, M.c.repository_id == repo_id)).first() is None:
                raise LookupError(manifest_id)
            return move_tag(conn, repo_id, name, manifest_id)

    # -- labels --------------------------------------------------------------------------------
    _LCOLS = (LB.c.uuid, LB.c.key, LB.c.value, LB.c.media_type, LB.c.source_type)

    def labels(self, manifest_id: int) -> list[LabelRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*self._LCOLS).where(LB.c.manifest_id == manifest_id).order_by(LB.c.id))
            return [LabelRow(*r) for r in rows]

    def label(self, manifest_id: int, label_uuid: str) -> LabelRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._LCOLS).where(LB.c.manifest_id == manifest_id, LB.c.uuid == label_uuid)
            ).first()
        return LabelRow(*row) if row else None

    def add_label(self, manifest_id: int, key: str, value: str, media_type: str, source_type: str) -> LabelRow:
        label = LabelRow(str(uuid.uuid4()), key, value, media_type, source_type)
        with write_tx(self.engine) as conn:
            conn.execute(
                LB.insert().values(
                    uuid=label.uuid,
                    manifest_id=manifest_id,
                    key=key,
                    value=value,
                    media_type=media_type,
                    source_type=source_type,
                )
            )
        return label

    def delete_label(self, manifest_id: int, label_uuid: str) -> bool:
        with write_tx(self.engine) as conn:
            res = conn.execute(delete(LB).where(LB.c.manifest_id == manifest_id, LB.c.uuid == label_uuid))
            return bool(res.rowcount)


__all__ = ["LabelRow", "LiveTag", "TagHistoryRow", "TagStore"]

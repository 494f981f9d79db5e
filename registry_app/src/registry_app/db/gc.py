"""The SQL of online garbage collection (docs/gc.md is the protocol; read it first).

Two passes, each in short transactions:

- ``collect_repository``: under the repository's row lock (the lock manifest PUT and tag moves
  take), purge tag history older than the namespace's time-machine window, delete the manifests
  nothing keeps, and drop the blob links no remaining manifest references and nobody touched within
  the grace period.
- ``collect_blobs``: blobs that no link and no manifest references, locked ``FOR UPDATE SKIP
  LOCKED`` (PostgreSQL; SQLite: under its single write lock), checked again in a new statement,
  their storage object deleted while the row lock is held, then the row.

A dry run does the same work in one transaction that is rolled back, and deletes nothing in storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, delete, exists, func, or_, select, update

from registry_app.db.engine import write_tx
from registry_app.db.models import Blob, Manifest, ManifestBlob, ManifestChild, Repository, RepositoryBlob, Tag, User

R = cast(Table, Repository.__table__)
U = cast(Table, User.__table__)
B = cast(Table, Blob.__table__)
RB = cast(Table, RepositoryBlob.__table__)
M = cast(Table, Manifest.__table__)
MB = cast(Table, ManifestBlob.__table__)
MC = cast(Table, ManifestChild.__table__)
T = cast(Table, Tag.__table__)

CHUNK = 500  # ids per IN (...) list


@dataclass
class RepoCollection:
    """What one repository pass removed (or, in a dry run, would remove)."""

    repository_id: int
    tags_purged: int = 0
    manifest_digests: list[str] = field(default_factory=list)
    links_dropped: int = 0


@dataclass(frozen=True)
class BlobCollection:
    """Blobs one blob pass removed: their digests and total size."""

    digests: tuple[str, ...] = ()
    bytes: int = 0


class _DryRun(Exception):
    """Raised inside a transaction to roll it back after a dry run."""


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def kept_manifests(
    manifests: dict[int, tuple[str, str | None, int]],
    tagged: set[int],
    edges: list[tuple[int, int]],
    young_after_ms: int,
) -> set[int]:
    """The manifests of one repository that stay: those a tag row keeps (``tagged``), those created
    after ``young_after_ms`` (pushed by digest, their index or tag may be coming), and, transitively,
    the children (``edges``: index -> child) and the referrers (``subject_digest`` names a kept
    manifest) of kept ones. ``manifests``: id -> (digest, subject_digest, created_ms)."""
    children: dict[int, list[int]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    referrers: dict[str, list[int]] = {}
    for mid, (_digest, subject, _created) in manifests.items():
        if subject:
            referrers.setdefault(subject, []).append(mid)
    todo = [mid for mid, (_d, _s, created) in manifests.items() if mid in tagged or created > young_after_ms]
    kept: set[int] = set()
    while todo:
        mid = todo.pop()
        if mid in kept or mid not in manifests:
            continue
        kept.add(mid)
        todo.extend(children.get(mid, ()))
        todo.extend(referrers.get(manifests[mid][0], ()))
    return kept


class GcStore:
    """Garbage collection queries; every public method is one or a few short transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    # -- repositories --------------------------------------------------------------------------
    def repository_ids(self, after_id: int, limit: int) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(R.c.id).where(R.c.id > after_id).order_by(R.c.id).limit(limit))
            return [int(r[0]) for r in rows]

    @contextmanager
    def _tx(self, dry_run: bool) -> Iterator[Connection]:
        try:
            with write_tx(self.engine) as conn:
                yield conn
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass

    def collect_repository(
        self, repo_id: int, now_ms: int, grace_ms: int, default_window_s: int, dry_run: bool = False
    ) -> RepoCollection | None:
        """One repository's pass (see the module docstring). None when the repository is gone or,
        on PostgreSQL, locked by a push or another collector right now (it is tried next round)."""
        if not dry_run and not self._has_work(repo_id, now_ms, grace_ms, default_window_s):
            return RepoCollection(repo_id)
        result: RepoCollection | None = None
        with self._tx(dry_run) as conn:
            result = self._collect_repository(conn, repo_id, now_ms, grace_ms, default_window_s)
        return result

    def _has_work(self, repo_id: int, now: int, grace_ms: int, default_window_s: int) -> bool:
        """A read-only look (no write lock, which on SQLite every push waits for) at whether the
        pass could remove anything: a tag row past the window, an old manifest that no tag row,
        index or present subject obviously keeps, or an old link no manifest of R references. A
        false positive only costs a pass; the pass itself decides (under the lock) what goes."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(U.c.tag_expiration_s).join(R, R.c.namespace_id == U.c.id).where(R.c.id == repo_id)
            ).first()
            if row is None:
                return False
            cutoff = now - (default_window_s if row[0] is None else int(row[0])) * 1000
            ended = select(T.c.id).where(
                T.c.repository_id == repo_id,
                or_(T.c.lifetime_end_ms < cutoff, and_(T.c.expiration_ms.is_not(None), T.c.expiration_ms < cutoff)),
            )
            if conn.execute(ended.limit(1)).first() is not None:
                return True
            subject = M.alias("subject")
            loose = select(M.c.id).where(
                M.c.repository_id == repo_id,
                M.c.created_ms < now - grace_ms,
                ~exists(select(T.c.id).where(T.c.manifest_id == M.c.id)),
                ~exists(select(MC.c.child_id).where(MC.c.child_id == M.c.id)),
                or_(
                    M.c.subject_digest.is_(None),
                    ~exists(
                        select(subject.c.id).where(
                            subject.c.repository_id == repo_id, subject.c.digest == M.c.subject_digest
                        )
                    ),
                ),
            )
            if conn.execute(loose.limit(1)).first() is not None:
                return True
            referenced = (
                select(MB.c.blob_id)
                .join(M, M.c.id == MB.c.manifest_id)
                .where(M.c.repository_id == repo_id, MB.c.blob_id == RB.c.blob_id)
            )
            stale = select(RB.c.blob_id).where(
                RB.c.repository_id == repo_id, RB.c.created_ms < now - grace_ms, ~exists(referenced)
            )
            return conn.execute(stale.limit(1)).first() is not None

    def _collect_repository(
        self, conn: Connection, repo_id: int, now: int, grace_ms: int, default_window_s: int
    ) -> RepoCollection | None:
        q = select(R.c.id, U.c.tag_expiration_s).join(U, U.c.id == R.c.namespace_id).where(R.c.id == repo_id)
        if self.postgres:
            q = q.with_for_update(of=R, skip_locked=True)
        row = conn.execute(q).first()
        if row is None:
            return None
        window_s = default_window_s if row[1] is None else int(row[1])
        cutoff = now - window_s * 1000
        out = RepoCollection(repo_id)
        # 1. the time machine: history rows that ended (or expired) before the window
        res = conn.execute(
            delete(T).where(
                T.c.repository_id == repo_id,
                or_(T.c.lifetime_end_ms < cutoff, and_(T.c.expiration_ms.is_not(None), T.c.expiration_ms < cutoff)),
            )
        )
        out.tags_purged = int(res.rowcount or 0)
        # 2. manifests nothing keeps
        manifests = {
            int(r[0]): (str(r[1]), r[2], int(r[3]))
            for r in conn.execute(
                select(M.c.id, M.c.digest, M.c.subject_digest, M.c.created_ms).where(M.c.repository_id == repo_id)
            )
        }
        if manifests:
            tagged = {int(r[0]) for r in conn.execute(select(T.c.manifest_id).where(T.c.repository_id == repo_id))}
            edges = [
                (int(r[0]), int(r[1]))
                for r in conn.execute(
                    select(MC.c.manifest_id, MC.c.child_id)
                    .join(M, M.c.id == MC.c.manifest_id)
                    .where(M.c.repository_id == repo_id)
                )
            ]
            kept = kept_manifests(manifests, tagged, edges, now - grace_ms)
            doomed = sorted(set(manifests) - kept)
            for ids in _chunks(doomed):
                blob_ids = [int(r[0]) for r in conn.execute(select(MB.c.blob_id).where(MB.c.manifest_id.in_(ids)))]
                conn.execute(delete(T).where(T.c.manifest_id.in_(ids)))
                conn.execute(delete(MC).where(or_(MC.c.manifest_id.in_(ids), MC.c.child_id.in_(ids))))
                conn.execute(delete(MB).where(MB.c.manifest_id.in_(ids)))
                conn.execute(delete(M).where(M.c.id.in_(ids)))
                # The links of what these manifests referenced live one more grace period (the
                # "touch" rule), so a client that saw the blob a moment ago can still name it.
                for bids in _chunks(sorted(set(blob_ids))):
                    conn.execute(
                        update(RB).where(RB.c.repository_id == repo_id, RB.c.blob_id.in_(bids)).values(created_ms=now)
                    )
            out.manifest_digests = [manifests[i][0] for i in doomed]
        # 3. links no manifest of this repository references, untouched for the grace period
        referenced = (
            select(MB.c.blob_id)
            .join(M, M.c.id == MB.c.manifest_id)
            .where(M.c.repository_id == repo_id, MB.c.blob_id == RB.c.blob_id)
        )
        res = conn.execute(
            delete(RB).where(RB.c.repository_id == repo_id, RB.c.created_ms < now - grace_ms, ~exists(referenced))
        )
        out.links_dropped = int(res.rowcount or 0)
        return out

    # -- blobs ---------------------------------------------------------------------------------
    @staticmethod
    def _unreferenced() -> Any:
        return and_(
            ~exists(select(RB.c.blob_id).where(RB.c.blob_id == B.c.id)),
            ~exists(select(MB.c.blob_id).where(MB.c.blob_id == B.c.id)),
        )

    def collect_blobs(
        self,
        delete_object: Callable[[str], None],
        limit: int,
        dry_run: bool = False,
        after_id: int = 0,
    ) -> tuple[BlobCollection, int]:
        """Delete up to ``limit`` unreferenced blobs with id > ``after_id``: storage object first
        (``delete_object``, while the row lock is held), then the row, then COMMIT. Returns what
        was removed and the highest id looked at (0: nothing left)."""
        digests: list[str] = []
        total = 0
        last = 0
        with self._tx(dry_run) as conn:
            q = (
                select(B.c.id, B.c.digest, B.c.size)
                .where(B.c.id > after_id, self._unreferenced())
                .order_by(B.c.id)
                .limit(limit)
            )
            if self.postgres:
                q = q.with_for_update(of=B, skip_locked=True)
            rows = conn.execute(q).all()
            if rows:
                last = int(rows[-1][0])
                # A new statement sees every commit made before it: a link or a manifest that
                # appeared between the scan and the lock keeps its blob.
                ids = [int(r[0]) for r in rows]
                still = {
                    int(r[0])
                    for r in conn.execute(select(B.c.id).where(B.c.id.in_(ids), self._unreferenced()))
                }
                doomed = [r for r in rows if int(r[0]) in still]
                for r in doomed:
                    if not dry_run:
                        delete_object(str(r[1]))
                    digests.append(str(r[1]))
                    total += int(r[2])
                if doomed:
                    conn.execute(delete(B).where(B.c.id.in_([int(r[0]) for r in doomed])))
        return BlobCollection(tuple(digests), total), last

    def stats(self) -> dict[str, int]:
        """Counts for the CLI's summary line."""
        with self.engine.connect() as conn:
            return {
                "manifests": int(conn.execute(select(func.count()).select_from(M)).scalar_one()),
                "blobs": int(conn.execute(select(func.count()).select_from(B)).scalar_one()),
            }

    def dry_run_all(
        self, repo_ids: list[int], now_ms: int, grace_ms: int, default_window_s: int
    ) -> tuple[list[RepoCollection], BlobCollection]:
        """Everything a full pass would remove, computed in one transaction that is rolled back."""
        repos: list[RepoCollection] = []
        digests: list[str] = []
        total = 0
        with self._tx(True) as conn:
            for rid in repo_ids:
                out = self._collect_repository(conn, rid, now_ms, grace_ms, default_window_s)
                if out is not None:
                    repos.append(out)
            rows = conn.execute(select(B.c.digest, B.c.size).where(self._unreferenced()).order_by(B.c.id)).all()
            digests = [str(r[0]) for r in rows]
            total = sum(int(r[1]) for r in rows)
        return repos, BlobCollection(tuple(digests), total)


__all__ = ["BlobCollection", "GcStore", "RepoCollection", "kept_manifests"]

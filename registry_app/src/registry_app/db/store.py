"""The data access the services use. Plain rows in, plain dataclasses out; every method is one
transaction. Concurrency: SQLite serialises writers (BEGIN IMMEDIATE); on PostgreSQL inserts of
shared rows use ON CONFLICT DO NOTHING and tag changes lock the repository row (FOR UPDATE)."""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from registry_app.db.engine import write_tx
from registry_app.db.models import (
    Blob,
    Manifest,
    ManifestBlob,
    ManifestChild,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
    User,
)

U = cast(Table, User.__table__)
R = cast(Table, Repository.__table__)
B = cast(Table, Blob.__table__)
RB = cast(Table, RepositoryBlob.__table__)
M = cast(Table, Manifest.__table__)
MB = cast(Table, ManifestBlob.__table__)
MC = cast(Table, ManifestChild.__table__)
T = cast(Table, Tag.__table__)
UP = cast(Table, Upload.__table__)


class Keep(enum.Enum):
    """The value of an optional column argument that means "leave the column as it is"."""

    KEEP = "keep"


KEEP = Keep.KEEP


def now_ms() -> int:
    return int(time.time() * 1000)


def tag_alive(now: int) -> Any:
    """The condition for a live tag row: its lifetime has not ended and its expiration (if any)
    has not passed. An expired row keeps ``lifetime_end_ms`` NULL until the tag is next changed."""
    return and_(T.c.lifetime_end_ms.is_(None), or_(T.c.expiration_ms.is_(None), T.c.expiration_ms > now))


def move_tag(conn: Connection, repo_id: int, tag: str, manifest_id: int, now: int | None = None) -> int | None:
    """Point ``tag`` at ``manifest_id`` in the open transaction: the live row (if any) ends and a new
    row without expiration starts. A live row already on that manifest is kept as it is. A row whose
    expiration passed ends at its expiration time. Returns the manifest id the tag was live on."""
    t = now_ms() if now is None else now
    current = conn.execute(
        select(T.c.id, T.c.manifest_id, T.c.expiration_ms, T.c.immutable).where(
            T.c.repository_id == repo_id, T.c.name == tag, T.c.lifetime_end_ms.is_(None)
        )
    ).first()
    previous: int | None = None
    if current is not None:
        expired = current.expiration_ms is not None and current.expiration_ms <= t
        if not expired:
            previous = int(current.manifest_id)
            if previous == manifest_id:
                return previous
            if current.immutable:
                raise TagImmutable(tag, "overwrite")
        end = min(t, current.expiration_ms) if current.expiration_ms is not None else t
        conn.execute(update(T).where(T.c.id == current.id).values(lifetime_end_ms=end))
    conn.execute(T.insert().values(repository_id=repo_id, name=tag, manifest_id=manifest_id, lifetime_start_ms=t))
    return previous


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    email: str | None
    password_hash: str | None
    organization: bool
    superuser: bool
    enabled: bool
    robot: bool = False
    federated_uid: str | None = None
    tag_expiration_s: int | None = None
    created_ms: int = 0

    @property
    def kind(self) -> str:
        return "organization" if self.organization else "robot" if self.robot else "user"


@dataclass(frozen=True)
class RepoRow:
    id: int
    namespace_id: int
    namespace: str
    name: str
    visibility: str

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def public(self) -> bool:
        return self.visibility == "public"


@dataclass(frozen=True)
class ManifestRow:
    id: int
    repository_id: int
    digest: str
    media_type: str
    artifact_type: str | None
    subject_digest: str | None
    annotations: str | None
    size: int
    content: bytes


@dataclass(frozen=True)
class UploadRow:
    id: str
    repository_id: int
    size: int
    hash_alg: str
    hash_state: bytes | None
    storage_state: bytes | None = None
    updated_ms: int = 0


class TagImmutable(Exception):
    """An immutable tag (Quay 3.17) was to be overwritten, moved or deleted; the transaction that
    found it is rolled back by the raise. The services turn it into their TAG_IMMUTABLE error."""

    def __init__(self, tag: str, operation: str) -> None:
        super().__init__(f"Cannot {operation} immutable tag '{tag}'")
        self.tag = tag
        self.operation = operation


class MissingReferences(Exception):
    def __init__(self, blobs: list[str], manifests: list[str]) -> None:
        super().__init__("missing references")
        self.blobs = blobs
        self.manifests = manifests


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._gen_conn: sqlite3.Connection | None = None
        self._gen_lock = threading.Lock()
        # Tag expirations pass without a write: the earliest expiration a resolve has seen, and a
        # counter bumped when it passes, make generation() change then too (see note_expiration).
        self._next_expiry_ms: int | None = None
        self._expiry_epoch = 0
        if self.dialect == "sqlite":
            path = engine.url.database
            if path and path != ":memory:":
                self._gen_conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    # -- change detection for read caches ---------------------------------------------------
    def generation(self) -> int | None:
        """A value that changes whenever any process commits a write, or None when unknown.

        SQLite's ``PRAGMA data_version`` on a connection that never writes changes exactly when
        another connection (any process) commits; reading it is a few microseconds."""
        if self._gen_conn is None:
            return None
        with self._gen_lock:
            row = self._gen_conn.execute("PRAGMA data_version").fetchone()
            if self._next_expiry_ms is not None and now_ms() >= self._next_expiry_ms:
                # Every cached answer is dropped; re-resolving notes the later expirations again.
                self._next_expiry_ms = None
                self._expiry_epoch += 1
            epoch = self._expiry_epoch
        return (int(row[0]) << 32) | (epoch & 0xFFFFFFFF)

    def note_expiration(self, expiration_ms: int) -> None:
        """A resolved tag expires at ``expiration_ms``: make generation() change when it does, so
        read caches keyed by the generation do not serve the tag after it expired."""
        with self._gen_lock:
            if self._next_expiry_ms is None or expiration_ms < self._next_expiry_ms:
                self._next_expiry_ms = expiration_ms

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)

    # -- users ---------------------------------------------------------------------------------
    def get_user(self, username: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(U).where(U.c.username == username)).first()
        return _user(row) if row else None

    def count_users(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(U).where(U.c.organization.is_(False))).scalar_one()
            )

    # -- repositories --------------------------------------------------------------------------
    def _repo_query(self) -> Any:
        return select(R.c.id, R.c.namespace_id, U.c.username, R.c.name, R.c.visibility).join(
            U, U.c.id == R.c.namespace_id
        )

    def get_repo(self, namespace: str, name: str) -> RepoRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._repo_query().where(U.c.username == namespace, R.c.name == name)).first()
        return RepoRow(*row) if row else None

    def namespace_exists(self, namespace: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(U.c.id).where(U.c.username == namespace)).first() is not None

    def create_repo(self, namespace: str, name: str, visibility: str, create_namespace: bool) -> RepoRow:
        """Create (or return the existing) repository; the namespace is created as an
        organization when allowed. Raises LookupError when the namespace is missing."""
        with write_tx(self.engine) as conn:
            ns = conn.execute(select(U.c.id).where(U.c.username == namespace)).first()
            if ns is None:
                if not create_namespace:
                    raise LookupError(namespace)
                conn.execute(
                    self._insert(U)
                    .values(username=namespace, organization=True, superuser=False, enabled=True, created_ms=now_ms())
                    .on_conflict_do_nothing()
                )
                ns = conn.execute(select(U.c.id).where(U.c.username == namespace)).first()
            assert ns is not None
            conn.execute(
                self._insert(R)
                .values(namespace_id=ns[0], name=name, visibility=visibility, created_ms=now_ms())
                .on_conflict_do_nothing()
            )
            row = conn.execute(self._repo_query().where(R.c.namespace_id == ns[0], R.c.name == name)).one()
        return RepoRow(*row)

    def set_visibility(self, repo_id: int, visibility: str) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(update(R).where(R.c.id == repo_id).values(visibility=visibility))

    def list_repos(self, last: str | None, limit: int | None) -> list[RepoRow]:
        """Repositories ordered by full name, after ``last`` (a full name)."""
        full = (U.c.username + "/" + R.c.name).label("full")
        q = self._repo_query().add_columns(full).order_by(full)
        if last:
            q = q.where(full > last)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [RepoRow(*row[:5]) for row in conn.execute(q)]

    # -- blobs ---------------------------------------------------------------------------------
    def blob_in_repo(self, repo_id: int, digest: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(B.c.size)
                .join(RB, RB.c.blob_id == B.c.id)
                .where(RB.c.repository_id == repo_id, B.c.digest == digest)
            ).first()
        return int(row[0]) if row else None

    def blob_size(self, digest: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(B.c.size).where(B.c.digest == digest)).first()
        return int(row[0]) if row else None

    def _ensure_blob(self, conn: Connection, digest: str, size: int) -> int:
        """The blob row's id, inserted when missing, and locked until the transaction ends: ON
        CONFLICT DO UPDATE (not DO NOTHING) takes the row lock, or waits for a garbage collector
        that holds it and then inserts the row again (docs/gc.md)."""
        ins = self._insert(B).values(digest=digest, size=size, created_ms=now_ms())
        ins = ins.on_conflict_do_update(index_elements=[B.c.digest], set_={"digest": ins.excluded.digest})
        return int(conn.execute(ins.returning(B.c.id)).scalar_one())

    def _touch_link(self, conn: Connection, repo_id: int, blob_id: int) -> None:
        """Insert the repository's link to the blob, or mark an existing one as touched now: a
        link is dropped only after the grace period without a manifest referencing it."""
        t = now_ms()
        ins = self._insert(RB).values(repository_id=repo_id, blob_id=blob_id, created_ms=t)
        keys = [RB.c.repository_id, RB.c.blob_id]
        conn.execute(ins.on_conflict_do_update(index_elements=keys, set_={"created_ms": t}))

    def _link_blob(self, conn: Connection, repo_id: int, digest: str, size: int) -> None:
        self._touch_link(conn, repo_id, self._ensure_blob(conn, digest, size))

    def link_blob(self, repo_id: int, digest: str, size: int) -> None:
        with write_tx(self.engine) as conn:
            self._link_blob(conn, repo_id, digest, size)

    def mount_blob(self, repo_id: int, source_repo_id: int, digest: str, present: Callable[[str], bool]) -> bool:
        """Link a blob that ``source_repo_id`` links into ``repo_id``. The blob row is locked FOR
        SHARE (a collector's FOR UPDATE waits, or it is skipped) and ``present`` (the storage's
        stat) is asked under that lock, so a mount never links a blob whose file a collector
        removed (docs/gc.md)."""
        with write_tx(self.engine) as conn:
            q = (
                select(B.c.id)
                .join(RB, RB.c.blob_id == B.c.id)
                .where(RB.c.repository_id == source_repo_id, B.c.digest == digest)
            )
            if self.dialect == "postgresql":
                q = q.with_for_update(of=B, read=True)
            blob_id = conn.execute(q).scalar()
            if blob_id is None or not present(digest):
                return False
            self._touch_link(conn, repo_id, int(blob_id))
            return True

    def unlink_blob(self, repo_id: int, digest: str) -> bool:
        with write_tx(self.engine) as conn:
            if self.dialect == "postgresql":  # links change only under the repository's lock
                conn.execute(select(R.c.id).where(R.c.id == repo_id).with_for_update())
            blob_id = conn.execute(select(B.c.id).where(B.c.digest == digest)).scalar()
            if blob_id is None:
                return False
            res = conn.execute(delete(RB).where(RB.c.repository_id == repo_id, RB.c.blob_id == blob_id))
            return bool(res.rowcount)

    def repos_with_blob(self, digest: str, limit: int = 100) -> list[RepoRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._repo_query()
                .join(RB, RB.c.repository_id == R.c.id)
                .join(B, B.c.id == RB.c.blob_id)
                .where(B.c.digest == digest)
                .limit(limit)
            ).all()
        return [RepoRow(*r) for r in rows]

    # -- uploads -------------------------------------------------------------------------------
    def create_upload(
        self,
        upload_id: str,
        repo_id: int,
        hash_alg: str,
        hash_state: bytes | None,
        storage_state: bytes | None = None,
        account_id: int | None = None,
        max_open: int = 0,
    ) -> bool:
        """Record a new upload opened by ``account_id`` (None: anonymous). With ``max_open`` > 0,
        False (and nothing recorded) when that account already has that many open: counted and
        inserted in one transaction (SQLite serialises writers; on PostgreSQL the account's row is
        locked), so concurrent starts cannot pass the bound together."""
        with write_tx(self.engine) as conn:
            if max_open > 0:
                if account_id is not None and self.dialect == "postgresql":
                    conn.execute(select(U.c.id).where(U.c.id == account_id).with_for_update())
                owner = UP.c.account_id == account_id if account_id is not None else UP.c.account_id.is_(None)
                if conn.execute(select(func.count()).select_from(UP).where(owner)).scalar_one() >= max_open:
                    return False
            t = now_ms()
            conn.execute(
                UP.insert().values(
                    id=upload_id,
                    repository_id=repo_id,
                    size=0,
                    hash_alg=hash_alg,
                    hash_state=hash_state,
                    storage_state=storage_state,
                    created_ms=t,
                    updated_ms=t,
                    account_id=account_id,
                )
            )
            return True

    def get_upload(self, upload_id: str, repo_id: int) -> UploadRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    UP.c.id,
                    UP.c.repository_id,
                    UP.c.size,
                    UP.c.hash_alg,
                    UP.c.hash_state,
                    UP.c.storage_state,
                    UP.c.updated_ms,
                ).where(UP.c.id == upload_id, UP.c.repository_id == repo_id)
            ).first()
        return UploadRow(*row) if row else None

    def upload_exists(self, upload_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(UP.c.id).where(UP.c.id == upload_id)).first() is not None

    def touch_uploads(self, upload_ids: Sequence[str]) -> int:
        """Mark uploads as active now (the collector ages by last activity); returns how many exist."""
        if not upload_ids:
            return 0
        with write_tx(self.engine) as conn:
            res = conn.execute(update(UP).where(UP.c.id.in_(list(upload_ids))).values(updated_ms=now_ms()))
            return int(res.rowcount)

    def advance_upload(
        self,
        upload_id: str,
        old_size: int,
        new_size: int,
        hash_state: bytes | None,
        storage_state: bytes | Keep | None = KEEP,
    ) -> bool:
        """Move the upload's size from ``old_size`` to ``new_size`` with the hash state (and, when
        given, the storage driver's state) at that size; False if someone else moved it."""
        values: dict[str, Any] = {"size": new_size, "hash_state": hash_state, "updated_ms": now_ms()}
        if storage_state is not KEEP:
            values["storage_state"] = storage_state
        with write_tx(self.engine) as conn:
            res = conn.execute(update(UP).where(UP.c.id == upload_id, UP.c.size == old_size).values(**values))
            return bool(res.rowcount)

    def publish_upload(
        self, upload_id: str, repo_id: int, digest: str, size: int, commit: Callable[[], None] | None = None
    ) -> None:
        """The end of an upload in one transaction: lock (or insert) the blob row, ``commit`` the
        storage object under that lock (so a garbage collector that removed the file a moment ago
        is followed by a fresh one, and one that wants to remove it waits), link the blob, drop the
        upload row (docs/gc.md)."""
        with write_tx(self.engine) as conn:
            blob_id = self._ensure_blob(conn, digest, size)
            if commit is not None:
                commit()
            self._touch_link(conn, repo_id, blob_id)
            conn.execute(delete(UP).where(UP.c.id == upload_id))

    def delete_upload(self, upload_id: str) -> bool:
        with write_tx(self.engine) as conn:
            return bool(conn.execute(delete(UP).where(UP.c.id == upload_id)).rowcount)

    def upload_activity(self) -> dict[str, int]:
        """Every open upload's id and time of last activity (ms), for the upload collector."""
        with self.engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(select(UP.c.id, UP.c.updated_ms))}

    def delete_upload_if_idle(self, upload_id: str, idle_before_ms: int) -> bool:
        """Delete the upload's row only if it has been idle since before ``idle_before_ms``: one
        that a request touched meanwhile stays (compare-and-delete, no lock held across requests)."""
        with write_tx(self.engine) as conn:
            res = conn.execute(delete(UP).where(UP.c.id == upload_id, UP.c.updated_ms < idle_before_ms))
            return bool(res.rowcount)

    # -- manifests and tags --------------------------------------------------------------------
    _MCOLS = (
        M.c.id,
        M.c.repository_id,
        M.c.digest,
        M.c.media_type,
        M.c.artifact_type,
        M.c.subject_digest,
        M.c.annotations,
        M.c.size,
        M.c.content,
    )

    def resolve(
        self, namespace: str, name: str, reference: str, by_digest: bool
    ) -> tuple[RepoRow, ManifestRow | None] | None:
        """The repository and the manifest a tag or digest names, in one round trip. A tag names a
        manifest only while it is live (not deleted, not expired)."""
        t = now_ms()
        expiration = literal(None) if by_digest else T.c.expiration_ms
        q = select(
            R.c.id, R.c.namespace_id, U.c.username, R.c.name, R.c.visibility, *self._MCOLS, expiration
        ).select_from(R.join(U, U.c.id == R.c.namespace_id))
        if by_digest:
            q = q.outerjoin(M, and_(M.c.repository_id == R.c.id, M.c.digest == reference))
        else:
            q = q.outerjoin(T, and_(T.c.repository_id == R.c.id, T.c.name == reference, tag_alive(t)))
            q = q.outerjoin(M, M.c.id == T.c.manifest_id)
        q = q.where(U.c.username == namespace, R.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        repo = RepoRow(*row[:5])
        manifest = ManifestRow(*tuple(row[5:-1])) if row[5] is not None else None
        if manifest is not None and row[-1] is not None:
            self.note_expiration(int(row[-1]))
        return repo, manifest

    def put_manifest(
        self,
        repo_id: int,
        digest: str,
        media_type: str,
        artifact_type: str | None,
        subject: str | None,
        annotations: dict[str, str] | None,
        content: bytes,
        blob_digests: Sequence[str],
        child_digests: Sequence[str],
        tags: Iterable[str],
    ) -> list[str]:
        """Store a manifest (idempotent) and point ``tags`` at it; returns the tags that moved (were
        not already live on it). Raises MissingReferences."""
        with write_tx(self.engine) as conn:
            if self.dialect == "postgresql":
                conn.execute(select(R.c.id).where(R.c.id == repo_id).with_for_update())
            blob_ids: dict[str, int] = {}
            if blob_digests:
                wanted = sorted(set(blob_digests))
                rows = conn.execute(
                    select(B.c.digest, B.c.id)
                    .join(RB, RB.c.blob_id == B.c.id)
                    .where(RB.c.repository_id == repo_id, B.c.digest.in_(wanted))
                ).all()
                blob_ids = {r[0]: r[1] for r in rows}
            child_ids: dict[str, int] = {}
            if child_digests:
                wanted = sorted(set(child_digests))
                rows = conn.execute(
                    select(M.c.digest, M.c.id).where(M.c.repository_id == repo_id, M.c.digest.in_(wanted))
                ).all()
                child_ids = {r[0]: r[1] for r in rows}
            missing_blobs = [d for d in dict.fromkeys(blob_digests) if d not in blob_ids]
            missing_children = [d for d in dict.fromkeys(child_digests) if d not in child_ids]
            if missing_blobs or missing_children:
                raise MissingReferences(missing_blobs, missing_children)
            existing = conn.execute(select(M.c.id).where(M.c.repository_id == repo_id, M.c.digest == digest)).scalar()
            if existing is None:
                existing = conn.execute(
                    M.insert()
                    .values(
                        repository_id=repo_id,
                        digest=digest,
                        media_type=media_type,
                        artifact_type=artifact_type,
                        subject_digest=subject,
                        annotations=json.dumps(annotations) if annotations else None,
                        size=len(content),
                        content=content,
                        created_ms=now_ms(),
                    )
                    .returning(M.c.id)
                ).scalar_one()
                if blob_ids:
                    conn.execute(MB.insert(), [{"manifest_id": existing, "blob_id": b} for b in set(blob_ids.values())])
                if child_ids:
                    conn.execute(
                        MC.insert(), [{"manifest_id": existing, "child_id": c} for c in set(child_ids.values())]
                    )
            moved = []
            for tag in tags:
                if self._move_tag(conn, repo_id, tag, existing) != existing:
                    moved.append(tag)
        return moved

    def _move_tag(self, conn: Connection, repo_id: int, tag: str, manifest_id: int) -> int | None:
        return move_tag(conn, repo_id, tag, manifest_id)

    def set_tag_expiration(self, repo_id: int, tags: Sequence[str], expiration_ms: int) -> None:
        """Set the expiration of these live tags (the ``quay.expires-after`` label)."""
        with write_tx(self.engine) as conn:
            conn.execute(
                update(T)
                .where(
                    T.c.repository_id == repo_id,
                    T.c.name.in_(list(tags)),
                    T.c.lifetime_end_ms.is_(None),
                    T.c.immutable.is_(False),  # an immutable tag does not expire (Quay 3.17)
                )
                .values(expiration_ms=expiration_ms)
            )
        self.note_expiration(expiration_ms)

    def delete_manifest(self, repo_id: int, digest: str) -> bool:
        """Delete a manifest by digest with every tag (live or in history) that points at it."""
        with write_tx(self.engine) as conn:
            mid = conn.execute(select(M.c.id).where(M.c.repository_id == repo_id, M.c.digest == digest)).scalar()
            if mid is None:
                return False
            locked = conn.execute(
                select(T.c.name).where(T.c.manifest_id == mid, T.c.immutable.is_(True), tag_alive(now_ms())).limit(1)
            ).scalar()
            if locked is not None:
                raise TagImmutable(locked, "delete")
            conn.execute(delete(T).where(T.c.manifest_id == mid))
            conn.execute(delete(MC).where((MC.c.manifest_id == mid) | (MC.c.child_id == mid)))
            conn.execute(delete(MB).where(MB.c.manifest_id == mid))
            conn.execute(delete(M).where(M.c.id == mid))
            return True

    def delete_tag(self, repo_id: int, tag: str) -> bool:
        """End a live tag's lifetime (it stays in the history). False if the tag is not live; a
        row whose expiration passed is ended at its expiration time."""
        with write_tx(self.engine) as conn:
            t = now_ms()
            locked = conn.execute(
                select(T.c.id).where(
                    T.c.repository_id == repo_id, T.c.name == tag, T.c.immutable.is_(True), tag_alive(t)
                )
            ).first()
            if locked is not None:
                raise TagImmutable(tag, "delete")
            conn.execute(
                update(T)
                .where(
                    T.c.repository_id == repo_id,
                    T.c.name == tag,
                    T.c.lifetime_end_ms.is_(None),
                    T.c.expiration_ms <= t,
                )
                .values(lifetime_end_ms=T.c.expiration_ms)
            )
            res = conn.execute(
                update(T)
                .where(T.c.repository_id == repo_id, T.c.name == tag, T.c.lifetime_end_ms.is_(None))
                .values(lifetime_end_ms=t)
            )
            return bool(res.rowcount)

    def list_tags(self, repo_id: int, last: str | None, limit: int | None) -> list[str]:
        q = select(T.c.name).where(T.c.repository_id == repo_id, tag_alive(now_ms())).order_by(T.c.name)
        if last:
            q = q.where(T.c.name > last)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

    def referrers(self, repo_id: int, subject: str) -> list[ManifestRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*self._MCOLS).where(M.c.repository_id == repo_id, M.c.subject_digest == subject).order_by(M.c.id)
            ).all()
        return [ManifestRow(*r) for r in rows]


def user_from_row(row: Any) -> UserRow:
    m = row._mapping
    return UserRow(
        m["id"],
        m["username"],
        m["email"],
        m["password_hash"],
        bool(m["organization"]),
        bool(m["superuser"]),
        bool(m["enabled"]),
        bool(m.get("robot", False)),
        m.get("federated_uid"),
        m.get("tag_expiration_s"),
        int(m.get("created_ms") or 0),
    )


_user = user_from_row


def _insert(dialect: str, table: Any) -> Any:
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


__all__ = [
    "IntegrityError",
    "ManifestRow",
    "MissingReferences",
    "RepoRow",
    "Store",
    "TagImmutable",
    "UploadRow",
    "UserRow",
    "move_tag",
    "tag_alive",
]

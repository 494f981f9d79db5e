"""Push and pull: access decisions, blobs, uploads, manifests, tags, referrers, catalog.

Sync, framework-free code: the HTTP layer runs the I/O-bound calls in a thread pool and streams
request bodies into ``AppendSession`` objects.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from registry_app.db.store import ManifestRow, MissingReferences, RepoRow, Store, TagImmutable, UploadRow, now_ms
from registry_app.observability import metrics
from registry_app.services import manifests as mf
from registry_app.services.auth import AuthService, Identity
from registry_app.services.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DatabaseUnavailable,
    Denied,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    RangeInvalid,
    RegistryError,
    StorageFull,
    StorageUnavailable,
    TooManyUploads,
    Unauthorized,
    tag_immutable,
)
from registry_app.services.identity import IdentityError
from registry_app.services.names import check_digest, check_tag, is_digest, split_repository
from registry_app.services.pull_stats import PullStats
from registry_app.services.quota import QuotaExceeded, QuotaService
from registry_app.services.uploads import UploadActivity
from registry_app.settings.limits import DEFAULT_MAX_MANIFEST_SIZE
from registry_app.settings.uploads import UploadSettings
from registry_app.storage.base import BlobLocation, BlobStorage, NotFound, StorageError, UploadState, UploadWriter
from registry_app.storage.hashing import Hasher, hashed_bytes, new_hasher

log = logging.getLogger(__name__)

ACTION_FOR_CHALLENGE = {"pull": "pull", "push": "pull,push", "delete": "delete"}
RETRY_AFTER_S = 60  # told to a client over the bound on open uploads


def storage_error(exc: StorageError, upload_id: str | None = None) -> Exception:
    """The domain error for a storage failure: the client learns the kind (full, unavailable: the
    driver's message, which names no path or key) or, for ``upload_id``, that the upload is gone.
    The path and the system's reason are in ``log_detail``, which the HTTP layer logs with the
    answer's reference (a caller that cannot answer any more logs it itself)."""
    if isinstance(exc, NotFound) and upload_id is not None:  # a blob the database knows is a 503
        return BlobUploadUnknown("blob upload unknown to registry", {"uuid": upload_id})
    if exc.full:
        return StorageFull(exc.message, log_detail=exc.detail)
    return StorageUnavailable(exc.message, log_detail=exc.detail)


def database_unavailable(exc: BaseException) -> RegistryError:
    """The client is told that the database is unavailable; the driver's words (which name the
    server, the database, the role or SQL) only reach the log."""
    orig = str(getattr(exc, "orig", None) or exc).strip()
    return DatabaseUnavailable("database unavailable", log_detail=orig.splitlines()[0] if orig else type(exc).__name__)


# What the database layer raises when the database cannot be used right now: the driver cannot
# reach or use it (connection refused or lost, locked, read-only, I/O error), or the pool is full.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (OperationalError, PoolTimeout)


def as_domain_error(exc: BaseException) -> RegistryError | None:
    """The domain error for an infrastructure exception that escaped the services (a database
    outage: DatabaseUnavailable), or None."""
    if isinstance(exc, DATABASE_OUTAGES):
        return database_unavailable(exc)
    return None


@dataclass(frozen=True)
class Access:
    """A checked request on one repository."""

    name: str
    namespace: str
    repo_name: str
    repo: RepoRow | None
    ident: Identity


class HashPipe:
    """An upload's running digest, computed in a thread of its own while the bytes arrive.

    Buffers are fed in upload order and hashed in that order by one thread at a time (OpenSSL,
    through ctypes, runs without the GIL), so receiving, writing and hashing overlap. A pipe
    outlives the request that fed it: the next PATCH of the same upload on this worker continues
    it, and a PATCH is answered once its bytes are durable, without waiting for the hash to catch
    up. ``snapshot()`` is the saved state of a prefix of the fed bytes; that is what the upload
    row stores, and whoever resumes from it re-hashes the rest of the (durable) upload file.
    """

    INLINE = 64 * 1024  # a buffer this small, fed to an idle pipe, is hashed by the caller

    def __init__(self, hasher: Hasher, offset: int) -> None:
        self.hasher = hasher
        self.algorithm = hasher.algorithm
        self.fed = offset  # bytes handed to the pipe: hashed or queued
        self._hashed = offset
        self._state = hasher.state()
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._running = False
        self._cv = threading.Condition()
        self.claimed = False  # an append session is feeding it (guarded by the service's lock)
        self.broken = False  # holds bytes that were dropped (or failed): never continued

    def feed(self, chunk: bytes) -> int:
        """Queue ``chunk`` for hashing; returns how many bytes wait for the hashing thread."""
        with self._cv:
            self.fed += len(chunk)
            if not self._running and not self._queue and len(chunk) <= self.INLINE:
                self.hasher.update(chunk)
                self._hashed += len(chunk)
                self._state = self.hasher.state()
                return 0
            self._queue.append(chunk)
            self._queued += len(chunk)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="registry-hash", daemon=True).start()
            return self._queued

    def _run(self) -> None:
        try:
            while True:  # ends when the queue is empty: bounded by what was fed
                with self._cv:
                    if not self._queue:
                        # In the same critical section as the check: a feed() after this starts
                        # a new thread, and none can queue a buffer that no thread will hash.
                        self._running = False
                        self._cv.notify_all()
                        return
                    chunk = self._queue.popleft()
                self.hasher.update(chunk)
                state = self.hasher.state()
                with self._cv:
                    self._queued -= len(chunk)
                    self._hashed += len(chunk)
                    self._state = state
                    self._cv.notify_all()
        except BaseException:
            with self._cv:
                self.broken = True
                self._running = False
                self._cv.notify_all()
            raise

    def wait(self, queued_at_most: int = 0) -> None:
        """Block until at most ``queued_at_most`` bytes wait to be hashed."""
        with self._cv:
            while self._queued > queued_at_most and self._running:  # each wake-up hashed a buffer
                self._cv.wait()

    def snapshot(self) -> bytes | None:
        """The saved state after the bytes hashed so far (None for a hasher that cannot save)."""
        with self._cv:
            return self._state

    def hexdigest(self) -> str:
        self.wait(0)
        if self.broken or self._hashed != self.fed:
            raise RuntimeError("the upload's hashing thread failed")
        return self.hasher.hexdigest()


class AppendSession:
    """Bytes being appended to an upload: hashed by its ``HashPipe`` and written to storage."""

    def __init__(self, upload_id: str, start: int, writer: UploadWriter, pipe: HashPipe | None) -> None:
        self.upload_id = upload_id
        self.start = start
        self.writer = writer
        self.pipe = pipe
        self.held = False  # marked in use (UploadActivity) until finished or aborted

    def write(self, data: bytes) -> None:
        self.feed_hash(data)
        self.write_chunks((data,))

    def feed_hash(self, chunk: bytes) -> int:
        """Hand ``chunk`` to the hashing thread; returns the bytes it has yet to hash."""
        return self.pipe.feed(chunk) if self.pipe is not None else 0

    def wait_hash(self, queued_at_most: int) -> None:
        if self.pipe is not None:
            self.pipe.wait(queued_at_most)

    def write_chunks(self, chunks: Sequence[bytes]) -> None:
        """Append buffers to the upload in order; runs in one thread at a time."""
        try:
            self.writer.write_chunks(chunks)
        except StorageError as exc:
            raise storage_error(exc) from None

    @property
    def offset(self) -> int:
        return self.writer.offset


class _ManifestCache:
    """(repository, reference) → resolved row, valid while the database generation is unchanged."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self.data: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str], generation: int) -> Any:
        with self.lock:
            item = self.data.get(key)
            if item is None or item[0] != generation:
                return None
            return item[1]

    def put(self, key: tuple[str, str], generation: int, value: Any) -> None:
        with self.lock:
            self.data[key] = (generation, value)
            if len(self.data) > self.size:
                self.data.popitem(last=False)


class RegistryService:
    def __init__(
        self,
        store: Store,
        storage: BlobStorage,
        auth: AuthService,
        uploads: UploadSettings | None = None,
        *,
        max_manifest_size: int = DEFAULT_MAX_MANIFEST_SIZE,
        private_on_push: bool = True,
    ) -> None:
        """``uploads``: the bound on open uploads and their keep-alive; ``max_manifest_size``:
        REGISTRY_APP_MAX_MANIFEST_SIZE; ``private_on_push``: CREATE_PRIVATE_REPO_ON_PUSH."""
        self.store = store
        self.storage = storage
        self.auth = auth
        self.private_on_push = private_on_push
        self.max_manifest = max_manifest_size
        self._cache = _ManifestCache()
        # Live digests of this worker's uploads (see HashPipe), least recently used first.
        self._pipes: OrderedDict[str, HashPipe] = OrderedDict()
        self._pipes_lock = threading.Lock()
        # Called with the digests of deleted manifests (the security scanner's Clair cleanup).
        self.on_manifests_deleted: Callable[[list[str]], None] | None = None
        # Called with (repository id, namespace, name, tags) when a push moved tags (repo_push).
        self.on_tags_pushed: Callable[[int, str, str, list[str]], None] | None = None
        # FEATURE_IMAGE_PULL_STATS: the /v2 manifest GET records each pull (wiring sets it)
        self.pull_stats: PullStats | None = None
        # Called with the repository and the tags a push created or moved (immutability policies).
        self.on_tags_created: Callable[[RepoRow, list[str]], None] | None = None
        # Abandoned uploads (services/uploads.py): the bound on open ones, and the keep-alive of
        # those this process works on, so that the collector never deletes one in use.
        self.upload_settings = uploads or UploadSettings()
        self.activity = UploadActivity(store, self.upload_settings.touch_interval_s)
        # Namespace quotas (services/quota.py), set by wiring when FEATURE_QUOTA_MANAGEMENT is on.
        self.quota: QuotaService | None = None

    # -- access --------------------------------------------------------------------------------
    def access(self, ident: Identity, name: str, action: str, create: bool = False) -> Access:
        namespace, repo_name = split_repository(name)
        repo = self._db(self.store.get_repo, namespace, repo_name)
        return self.check_access(ident, name, namespace, repo_name, repo, action, create)

    def check_access(
        self,
        ident: Identity,
        name: str,
        namespace: str,
        repo_name: str,
        repo: RepoRow | None,
        action: str,
        create: bool = False,
    ) -> Access:
        if ident.access is not None:
            allowed = self.auth.token_allows(ident, name, action)
        else:
            ns_exists = repo is not None or (action == "push" and self._db(self.store.namespace_exists, namespace))
            allowed = action in self.auth.allowed_actions(ident, namespace, repo, ns_exists, (action,))
        if not allowed:
            scope = f"repository:{name}:{ACTION_FOR_CHALLENGE.get(action, action)}"
            if ident.anonymous or ident.via == "token":
                raise Unauthorized("authentication required", headers={"x-scope": scope})
            raise Denied(f"requested access to {name} is denied", {"action": action, "name": name})
        if repo is None:
            if not create:
                raise NameUnknown(f"repository {name} not known to registry", {"name": name})
            repo = self._db(self._create_repository, ident, namespace, repo_name)
        return Access(name, namespace, repo_name, repo, ident)

    def _create_repository(self, ident: Identity, namespace: str, repo_name: str) -> RepoRow:
        """Create a repository on push. A missing namespace becomes an organization owned by the
        pusher (superusers, CREATE_NAMESPACE_ON_PUSH); a creator who is not an organization admin
        gets admin on the repository they created, as in Quay."""
        creator = self.auth.identities.get(ident.username) if ident.username else None
        if ident.username and (creator is None or creator.id != ident.user_id or not creator.enabled):
            # Credentials of an account that is gone (tokens are re-checked, but not in the same
            # transaction): never create a namespace, least of all an ownerless one in its name.
            raise Unauthorized("the account these credentials belong to no longer exists")
        if not self.store.namespace_exists(namespace):
            try:
                self.auth.identity.create_organization(namespace, None, creator)
            except IdentityError:
                if not self.store.namespace_exists(namespace):  # not just lost a race: a bad name
                    raise NameInvalid(f"cannot create namespace {namespace!r}", {"name": namespace}) from None
        visibility = "private" if self.private_on_push else "public"
        repo = self.store.create_repo(namespace, repo_name, visibility, False)
        if creator is not None and self.auth.role(ident, namespace, repo) != "admin":
            self.auth.identities.set_repo_permission(repo.id, "admin", user_id=creator.id)
        return repo

    @staticmethod
    def _db(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except OperationalError as exc:
            raise database_unavailable(exc) from None
        except TagImmutable as exc:
            raise tag_immutable(exc.tag, exc.operation) from None

    # -- blobs ---------------------------------------------------------------------------------
    def blob(self, acc: Access, digest: str) -> tuple[int, BlobLocation]:
        check_digest(digest)
        assert acc.repo is not None
        size = self._db(self.store.blob_in_repo, acc.repo.id, digest)
        if size is None:
            raise BlobUnknown("blob unknown to registry", {"digest": digest})
        return size, self.storage.locate(digest, size)

    def read_blob_range(self, digest: str, start: int, length: int) -> Any:
        return self.storage.read_range(digest, start, length)

    def delete_blob(self, acc: Access, digest: str) -> None:
        check_digest(digest)
        assert acc.repo is not None
        if not self._db(self.store.unlink_blob, acc.repo.id, digest):
            raise BlobUnknown("blob unknown to registry", {"digest": digest})

    def mount(self, acc: Access, digest: str, source: str | None) -> bool:
        """Link a blob from ``source`` (or, without it, from any repository the caller can read)."""
        check_digest(digest)
        assert acc.repo is not None
        candidates: list[RepoRow] = []
        if source:
            try:
                ns, rn = split_repository(source)
            except NameInvalid:
                return False
            r = self._db(self.store.get_repo, ns, rn)
            if r is not None:
                candidates.append(r)
        else:
            candidates = self._db(self.store.repos_with_blob, digest)
        # The source is checked against the caller's own permissions, not the bearer token's
        # scope: tokens come only from /v2/auth with the same user's credentials, and clients
        # (and the conformance suite) reuse the token of the target repository for mounts.
        reader = dataclasses.replace(acc.ident, access=None, via="basic")

        def present(d: str) -> bool:  # asked under the blob row's lock (docs/gc.md)
            return self.storage.blob_size(d) is not None

        for r in candidates:
            if self.auth.role(reader, r.namespace, r) is None:
                continue
            if self._db(self.store.mount_blob, acc.repo.id, r.id, digest, present):
                return True
        return False

    # -- uploads -------------------------------------------------------------------------------
    MAX_PIPES = 256

    def start_upload(self, acc: Access, algorithm: str = "sha256") -> str:
        """A new upload; 429 TOOMANYREQUESTS when the caller's account already has
        REGISTRY_APP_MAX_OPEN_UPLOADS open (the bound is checked and the row inserted in one
        transaction; a refused upload's storage object is deleted again)."""
        assert acc.repo is not None
        upload_id = str(uuid.uuid4())
        try:
            storage_state = self.storage.create_upload(upload_id)
        except StorageError as exc:
            raise storage_error(exc) from None
        hasher = new_hasher(algorithm)
        bound = self.upload_settings.max_open_per_account
        account = acc.ident.user_id
        row = (upload_id, acc.repo.id, algorithm, hasher.state(), storage_state, account, bound)
        if not self._db(self.store.create_upload, *row):
            try:
                self.storage.delete_upload(upload_id, storage_state)
            except StorageError as exc:  # no row: the upload collector removes it later
                log.warning("storage: refused upload %s not deleted: %s", upload_id, exc.detail)
            raise TooManyUploads(
                f"too many open uploads: this account already has {bound}; finish or cancel some "
                "(DELETE on an upload's URL), or wait until abandoned ones are collected",
                {"limit": bound},
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._keep_pipe(upload_id, HashPipe(hasher, 0))
        metrics.uploads_started.inc()
        return upload_id

    def _still_open(self, upload_id: str, updated_ms: int) -> None:
        """Mark an upload active before working on it, unless it was active recently; a row that
        is gone by now (collected or completed meanwhile) is BLOB_UPLOAD_UNKNOWN."""
        if now_ms() - updated_ms > self.upload_settings.touch_interval_s * 1000:
            if not self._db(self.store.touch_uploads, [upload_id]):
                raise BlobUploadUnknown("blob upload unknown to registry", {"uuid": upload_id})

    def upload_size(self, acc: Access, upload_id: str) -> int:
        assert acc.repo is not None
        row = self._db(self.store.get_upload, upload_id, acc.repo.id)
        if row is None:
            raise BlobUploadUnknown("blob upload unknown to registry", {"uuid": upload_id})
        return int(row.size)

    def _keep_pipe(self, upload_id: str, pipe: HashPipe) -> None:
        with self._pipes_lock:
            self._pipes[upload_id] = pipe
            self._pipes.move_to_end(upload_id)
            while len(self._pipes) > self.MAX_PIPES:  # bounded: one pop per pipe over the limit
                self._pipes.popitem(last=False)

    def _drop_pipe(self, upload_id: str, pipe: HashPipe | None = None) -> None:
        with self._pipes_lock:
            if pipe is None or self._pipes.get(upload_id) is pipe:
                self._pipes.pop(upload_id, None)

    def _release_pipe(self, pipe: HashPipe | None) -> None:
        if pipe is not None:
            with self._pipes_lock:
                pipe.claimed = False

    def _claim_pipe(
        self, upload_id: str, size: int, algorithm: str, state: bytes | None, storage_state: UploadState
    ) -> HashPipe | None:
        """The upload's digest over its first ``size`` bytes, ready to continue, for one session.

        This worker's live pipe if it is at ``size``; otherwise one resumed from the stored state,
        re-hashing from the upload file whatever that state lags behind ``size``. None when there
        is no usable state (hashlib fallback in another worker): the commit re-hashes the file.
        """
        with self._pipes_lock:
            pipe = self._pipes.get(upload_id)
            if pipe is not None and not pipe.claimed and not pipe.broken:
                if pipe.fed == size and pipe.algorithm == algorithm:
                    pipe.claimed = True
                    self._pipes.move_to_end(upload_id)
                    return pipe
        if state is None:
            return None
        done = hashed_bytes(algorithm, state)
        if done > size:
            return None
        hasher = new_hasher(algorithm, state)
        if done < size:
            try:
                for chunk in self.storage.read_upload(upload_id, size - done, done, storage_state):
                    hasher.update(chunk)
            except StorageError:
                return None
        pipe = HashPipe(hasher, size)
        pipe.claimed = True
        with self._pipes_lock:
            live = self._pipes.get(upload_id)
            if live is None or not live.claimed:
                self._pipes[upload_id] = pipe
        return pipe

    def open_append(self, acc: Access, upload_id: str, content_range: tuple[int, int] | None) -> AppendSession:
        assert acc.repo is not None
        row = self._db(self.store.get_upload, upload_id, acc.repo.id)
        if row is None:
            raise BlobUploadUnknown("blob upload unknown to registry", {"uuid": upload_id})
        if content_range is not None and content_range[0] != row.size:
            raise RangeInvalid(
                f"chunk starts at {content_range[0]} but the upload has {row.size} bytes; "
                f"send the next chunk from {row.size}",
                headers={
                    "Range": f"0-{max(row.size - 1, 0)}",
                    "Location": f"/v2/{acc.name}/blobs/uploads/{upload_id}",
                    "Docker-Upload-UUID": upload_id,
                },
            )
        self._still_open(upload_id, row.updated_ms)
        self._check_upload_quota(acc, upload_id)
        try:
            writer = self.storage.open_upload(upload_id, row.size, row.storage_state)
        except StorageError as exc:
            raise storage_error(exc, upload_id) from None
        pipe = self._claim_pipe(upload_id, row.size, row.hash_alg, row.hash_state, row.storage_state)
        session = AppendSession(upload_id, row.size, writer, pipe)
        self.activity.hold(upload_id)
        session.held = True
        return session

    def _let_go(self, session: AppendSession) -> None:
        if session.held:
            session.held = False
            self.activity.release(session.upload_id)

    def finish_append(self, session: AppendSession) -> int:
        """Make the appended bytes durable, then record the new size with the hash state saved
        so far (it may cover fewer bytes: see HashPipe). The hashing goes on in the background."""
        pipe = session.pipe
        try:
            try:
                size = session.writer.close()
            except StorageError as exc:
                raise storage_error(exc) from None
            if pipe is not None and pipe.fed != size:  # cannot happen: every byte written was fed
                pipe.broken = True
            # None with the hashlib fallback: then the live pipe is the only copy of the state.
            state = pipe.snapshot() if pipe is not None and not pipe.broken else None
            advanced = self._db(
                self.store.advance_upload, session.upload_id, session.start, size, state, session.writer.state
            )
            if not advanced:
                if pipe is not None:
                    pipe.broken = True
                    self._drop_pipe(session.upload_id, pipe)
                if not self._db(self.store.upload_exists, session.upload_id):  # cancelled or collected
                    raise BlobUploadUnknown("blob upload unknown to registry", {"uuid": session.upload_id})
                raise BlobUploadInvalid(
                    "the upload was changed by another request at the same time; retry from its status"
                )
            return size
        finally:
            self._release_pipe(pipe)
            self._let_go(session)

    def abort_append(self, session: AppendSession) -> None:
        self._let_go(session)
        session.writer.abort()
        if session.pipe is not None:  # it was fed bytes that are now dropped
            session.pipe.broken = True
            self._drop_pipe(session.upload_id, session.pipe)
            self._release_pipe(session.pipe)

    def complete_upload(self, acc: Access, upload_id: str, digest: str) -> None:
        """Verify the digest of everything uploaded and publish the blob; a mismatch stores nothing."""
        assert acc.repo is not None
        try:
            algorithm = check_digest(digest)
        except DigestInvalid:
            self.cancel_upload(acc, upload_id)
            metrics.uploads_failed.inc()
            raise
        row = self._db(self.store.get_upload, upload_id, acc.repo.id)
        if row is None:
            raise BlobUploadUnknown("blob upload unknown to registry", {"uuid": upload_id})
        self._still_open(upload_id, row.updated_ms)
        self._check_upload_quota(acc, upload_id)
        self.activity.hold(upload_id)  # hashing a large upload may take longer than the age
        try:
            self._complete(acc, upload_id, digest, algorithm, row)
        except BaseException:
            metrics.uploads_failed.inc()
            raise
        else:
            metrics.uploads_completed.inc()
        finally:
            self.activity.release(upload_id)

    def _complete(self, acc: Access, upload_id: str, digest: str, algorithm: str, row: UploadRow) -> None:
        assert acc.repo is not None
        pipe = None
        if row.hash_alg == algorithm:
            pipe = self._claim_pipe(upload_id, row.size, algorithm, row.hash_state, row.storage_state)
        actual = None
        if pipe is not None:
            try:
                actual = f"{algorithm}:{pipe.hexdigest()}"
            except RuntimeError:  # its hashing thread failed: hash the file instead
                pipe.broken = True
            finally:
                self._release_pipe(pipe)
        if actual is None:
            hasher = new_hasher(algorithm)
            try:
                for chunk in self.storage.read_upload(upload_id, row.size, 0, row.storage_state):
                    hasher.update(chunk)
            except StorageError as exc:
                raise storage_error(exc, upload_id) from None
            actual = f"{algorithm}:{hasher.hexdigest()}"
        if actual != digest:
            self.cancel_upload(acc, upload_id)
            raise DigestInvalid(
                f"digest mismatch: the uploaded {row.size} bytes have digest {actual}, not {digest}; "
                "nothing was stored",
                {"expected": digest, "actual": actual, "size": row.size},
            )
        def commit() -> None:  # under the blob row's lock (docs/gc.md)
            self.storage.commit_upload(upload_id, row.size, digest, row.storage_state)

        try:
            self._db(self.store.publish_upload, upload_id, acc.repo.id, digest, row.size, commit)
        except StorageError as exc:
            raise storage_error(exc, upload_id) from None
        self._drop_pipe(upload_id)

    def _check_upload_quota(self, acc: Access, upload_id: str) -> None:
        """Quay's check before an upload's chunk or completion: over a Reject limit the upload is
        cancelled (its bytes deleted) and the push refused with QuotaExceeded."""
        if self.quota is None:
            return
        assert acc.repo is not None
        try:
            self._db(self.quota.check_upload, acc.repo)
        except QuotaExceeded:
            self.cancel_upload(acc, upload_id)
            raise

    def cancel_upload(self, acc: Access, upload_id: str) -> None:
        assert acc.repo is not None
        row = self._db(self.store.get_upload, upload_id, acc.repo.id)
        if row is None:
            raise BlobUploadUnknown("blob upload unknown to registry", {"uuid": upload_id})
        self._db(self.store.delete_upload, upload_id)
        self._drop_pipe(upload_id)
        try:
            self.storage.delete_upload(upload_id, row.storage_state)
        except StorageError as exc:  # the row is gone: what is left is for the upload collector
            log.warning("storage: upload %s not deleted: %s", upload_id, exc.detail)

    # -- manifests -----------------------------------------------------------------------------
    def resolve_manifest_cached(self, name: str, reference: str, generation: int | None = None) -> Any:
        """The cached result of ``resolve_manifest`` if the database has not changed since; no I/O
        beyond a change-counter read, so the HTTP layer calls it on the event loop. ``generation``:
        the counter as the caller read it at the start of the request (one read serves both this
        and the token check)."""
        if generation is None:
            generation = self.store.generation()
        return None if generation is None else self._cache.get((name, reference), generation)

    def resolve_manifest(self, name: str, reference: str) -> tuple[str, str, RepoRow | None, ManifestRow | None]:
        """Repository and manifest for a pull; cached while the database is unchanged."""
        generation = self.store.generation()
        key = (name, reference)
        namespace, repo_name = split_repository(name)
        by_digest = is_digest(reference)
        if by_digest:
            check_digest(reference)
        elif not mf_tag_ok(reference):
            raise ManifestUnknown(f"invalid tag {reference!r}", {"tag": reference})
        found = self._db(self.store.resolve, namespace, repo_name, reference, by_digest)
        result = (namespace, repo_name, *(found if found else (None, None)))
        if generation is not None:
            self._cache.put(key, generation, result)
        return result

    def put_manifest(
        self, acc: Access, reference: str, content: bytes, content_type: str | None, extra_tags: list[str]
    ) -> tuple[str, str | None]:
        """Store a manifest; returns (digest, subject digest)."""
        assert acc.repo is not None
        if len(content) > self.max_manifest:
            from registry_app.services.errors import ManifestTooLarge

            raise ManifestTooLarge(f"manifest is {len(content)} bytes; the limit is {self.max_manifest}")
        import hashlib

        if is_digest(reference):
            algorithm = check_digest(reference)
            digest = f"{algorithm}:{hashlib.new(algorithm, content).hexdigest()}"
            if digest != reference:
                raise DigestInvalid(
                    f"manifest digest is {digest}, not {reference}", {"expected": reference, "actual": digest}
                )
            tags = list(extra_tags)
        else:
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            tags = [reference, *extra_tags]
        for tag in tags:
            check_tag(tag)
        parsed = mf.parse(content, content_type)
        if self.quota is not None:  # refused before anything is stored: no manifest, no tag moved
            self._db(self.quota.check_manifest, acc.repo, list(parsed.blobs))
        try:
            moved = self._db(
                self.store.put_manifest,
                acc.repo.id,
                digest,
                parsed.media_type,
                parsed.artifact_type,
                parsed.subject,
                parsed.annotations,
                content,
                parsed.blobs,
                parsed.children,
                tags,
            )
        except MissingReferences as exc:
            if exc.blobs:
                raise ManifestBlobUnknown(
                    f"manifest references blob {exc.blobs[0]} which is not in {acc.name}", {"digest": exc.blobs[0]}
                ) from None
            raise ManifestBlobUnknown(
                f"index references manifest {exc.manifests[0]} which is not in {acc.name}", {"digest": exc.manifests[0]}
            ) from None
        if tags and self.on_tags_created is not None:
            self.on_tags_created(acc.repo, tags)  # immutability policies (services/tag_policy.py)
        if tags and parsed.media_type in mf.IMAGE_TYPES:
            self._apply_expires_after(acc.repo.id, parsed.blobs[0], tags)
        if moved and self.on_tags_pushed is not None:
            try:
                self.on_tags_pushed(acc.repo.id, acc.repo.namespace, acc.repo.name, moved)
            except Exception as exc:  # a notification never fails the push that caused it
                log.error("repo_push event for %s not recorded: %s", acc.name, type(exc).__name__)
        return digest, parsed.subject

    def _apply_expires_after(self, repo_id: int, config_digest: str, tags: list[str]) -> None:
        """Quay's ``quay.expires-after`` image label (e.g. 2w, 3d, 8h): the pushed tags expire that
        long after the push."""
        from registry_app.services.tags import TIMESPAN, read_image_config, timespan_s

        config = read_image_config(self.storage, config_digest)
        try:
            value = ((config or {}).get("config") or {}).get("Labels", {}).get("quay.expires-after")
        except AttributeError:
            return  # not an image config (an artifact); nothing to apply
        if isinstance(value, str) and TIMESPAN.match(value.strip()):
            seconds = timespan_s(value.strip(), "0s")
            self._db(self.store.set_tag_expiration, repo_id, tags, int(time.time() * 1000) + seconds * 1000)

    def delete_manifest(self, acc: Access, reference: str) -> None:
        assert acc.repo is not None
        if is_digest(reference):
            check_digest(reference)
            ok = self._db(self.store.delete_manifest, acc.repo.id, reference)
        else:
            ok = self._db(self.store.delete_tag, acc.repo.id, reference)
        if not ok:
            raise ManifestUnknown("manifest unknown to registry", {"reference": reference})
        if is_digest(reference) and self.on_manifests_deleted is not None:
            self.on_manifests_deleted([reference])

    def list_tags(self, acc: Access, n: int | None, last: str | None) -> tuple[list[str], bool]:
        """Tags after ``last``, at most ``n``; the flag says whether more follow."""
        assert acc.repo is not None
        if n == 0:
            return [], False
        tags = self._db(self.store.list_tags, acc.repo.id, last, None if n is None else n + 1)
        more = n is not None and len(tags) > n
        return tags[:n] if n is not None else tags, more

    def referrers(self, acc: Access | None, digest: str, artifact_type: str | None) -> bytes:
        """An OCI index of the manifests whose subject is ``digest`` (``acc`` None: no repository yet)."""
        check_digest(digest)
        descriptors = []
        rows = self._db(self.store.referrers, acc.repo.id, digest) if acc is not None and acc.repo else []
        for row in rows:
            if artifact_type and row.artifact_type != artifact_type:
                continue
            desc: dict[str, Any] = {"mediaType": row.media_type, "digest": row.digest, "size": row.size}
            if row.artifact_type:
                desc["artifactType"] = row.artifact_type
            if row.annotations:
                desc["annotations"] = json.loads(row.annotations)
            descriptors.append(desc)
        return json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": descriptors}).encode()

    def catalog(self, ident: Identity, n: int | None, last: str | None) -> tuple[list[str], bool]:
        """Repositories the caller holds a role on, in order, paginated; with FEATURE_PUBLIC_CATALOG
        also the public ones (as Quay's catalog). The HTTP layer challenges whom may_list_catalog
        refuses."""
        if n == 0:
            return [], False
        out: list[str] = []
        cursor = last
        public = self.auth.public_catalog
        while True:
            batch = self._db(self.store.list_repos, cursor, 500)
            for repo in batch:
                if self.auth.role(ident, repo.namespace, repo, include_public=public) is not None:
                    out.append(repo.full_name)
                    if n is not None and len(out) > n:
                        return out[:n], True
            if len(batch) < 500:
                return out, False
            cursor = batch[-1].full_name


def mf_tag_ok(tag: str) -> bool:
    from registry_app.services.names import TAG

    return TAG.fullmatch(tag) is not None


__all__ = [
    "DATABASE_OUTAGES",
    "Access",
    "AppendSession",
    "RegistryService",
    "as_domain_error",
    "database_unavailable",
    "storage_error",
]

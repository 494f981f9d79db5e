"""Abandoned uploads: their collection and the keep-alive of uploads in use (their settings:
``settings.uploads.UploadSettings``).

An upload is a row (table ``upload``) and an object in the storage's upload area. A client that
opens uploads and never finishes them leaves both behind, and a crash can leave one without the
other. ``collect_abandoned_uploads`` removes:

- uploads idle for longer than the age (REGISTRY_APP_UPLOAD_MAX_AGE, default 24h): row and object;
- objects no row knows (a crash between creating the object and the row), and rows whose object is
  gone (a crash in the middle of a completion, a lost storage). Neither can ever complete, so they
  go after a short grace (the smaller of the age and 15 minutes) that covers the instants in which
  a live upload has one without the other (being started, completed or cancelled).

The age counts from the last activity, not from creation: every PATCH records its end, and while
bytes stream in (or a completion hashes a large upload) ``UploadActivity`` knows the rows this
process works on, and the ``upload-activity`` worker (``workers/uploads.py``, in every process)
touches them every quarter of the age (at most every minute). The collector deletes a row only if
it is still idle at that moment (compare-and-delete), and a request that finds its upload gone gets
BLOB_UPLOAD_UNKNOWN: an upload in use is never deleted under it.

The ``uploads`` worker (``workers/uploads.py``: a singleton under the database lease
``upload-collector``) runs the collection every REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL (default 1h),
in ``serve`` or in ``registry-app worker uploads``; ``registry-app uploads cleanup`` runs it once
from the command line. This module only says what to collect and how. Between collections,
REGISTRY_APP_MAX_OPEN_UPLOADS bounds the uploads one account may have open.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from registry_app.db.store import Store, now_ms
from registry_app.settings.uploads import ORPHAN_GRACE_S
from registry_app.storage.base import BlobStorage, StorageError

log = logging.getLogger("registry_app.uploads")

# -- the collection ----------------------------------------------------------------------------
IDLE = "idle"
FILE_WITHOUT_ROW = "file without a row"
ROW_WITHOUT_FILE = "row without a file"


@dataclass(frozen=True)
class Collected:
    upload_id: str
    reason: str  # IDLE, FILE_WITHOUT_ROW or ROW_WITHOUT_FILE
    size: int  # bytes in the storage (0 when there was no object)
    idle_s: float


@dataclass
class CollectionReport:
    dry_run: bool
    collected: list[Collected] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(c.size for c in self.collected)

    def summary(self) -> str:
        counts = Counter(c.reason for c in self.collected)
        verb = "would remove" if self.dry_run else "removed"
        if not self.collected:
            return f"{verb} no uploads"
        kinds = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
        return f"{verb} {len(self.collected)} uploads ({kinds}), {self.freed_bytes} bytes"

    def lines(self) -> list[str]:
        return [f"{c.upload_id}: {c.reason}, {c.size} bytes, idle {c.idle_s:.0f}s" for c in self.collected]


def collect_abandoned_uploads(
    store: Store,
    storage: BlobStorage,
    older_than: float,
    *,
    dry_run: bool = False,
    orphan_grace: float | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> CollectionReport:
    """Remove uploads idle for more than ``older_than`` seconds, and orphans (an object without a
    row, a row without an object) idle for more than ``orphan_grace`` seconds (default: the
    smaller of ``older_than`` and 15 minutes). With ``dry_run`` nothing is removed; the report
    says what would be. Safe to run while the registry serves (see the module docstring).

    ``keep_going`` (the worker's: False once it is stopping or lost its lease) is asked before
    each removal; when it says no, the collection ends there and the report holds what was
    removed so far (the rest is found again next time)."""
    grace = min(older_than, ORPHAN_GRACE_S) if orphan_grace is None else orphan_grace
    now = now_ms()
    idle_before = now - int(older_than * 1000)
    orphan_before = now - int(grace * 1000)
    # Objects first, then rows: a row created in between has a fresh time and is left alone.
    objects = {info.upload_id: info for info in storage.list_uploads()}
    rows = store.upload_activity()
    report = CollectionReport(dry_run=dry_run)

    def idle_s(ms: int) -> float:
        return max(0.0, (now - ms) / 1000)

    def go_on() -> bool:
        return keep_going is None or keep_going()

    for upload_id, active_ms in sorted(rows.items()):
        obj = objects.get(upload_id)
        if active_ms < idle_before:
            reason = IDLE
        elif obj is None and active_ms < orphan_before:
            reason = ROW_WITHOUT_FILE
        else:
            continue
        cutoff = idle_before if reason == IDLE else orphan_before
        if not go_on():
            return report
        if not dry_run:
            if not store.delete_upload_if_idle(upload_id, cutoff):
                continue  # a request touched it meanwhile: in use
            _delete_object(storage, upload_id)
        report.collected.append(Collected(upload_id, reason, obj.size if obj else 0, idle_s(active_ms)))
    for upload_id, obj in sorted(objects.items()):
        modified_ms = int(obj.modified * 1000)
        if upload_id in rows or modified_ms >= orphan_before:
            continue
        if not go_on():
            return report
        if not dry_run:
            _delete_object(storage, upload_id)
        report.collected.append(Collected(upload_id, FILE_WITHOUT_ROW, obj.size, idle_s(modified_ms)))
    return report


def _delete_object(storage: BlobStorage, upload_id: str) -> None:
    try:
        storage.delete_upload(upload_id)
    except (OSError, StorageError) as exc:  # the row is gone: the object is an orphan for next time
        log.warning("upload collector: cannot delete the object of upload %s: %s", upload_id, exc)


# -- uploads in use ----------------------------------------------------------------------------
class UploadActivity:
    """The uploads that requests of this process are working on (a PATCH receiving bytes, a PUT
    hashing and committing). The ``upload-activity`` worker calls ``touch()`` every
    ``interval_s`` so that the collector sees them active however long the request takes."""

    def __init__(self, store: Store, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hold(self, upload_id: str) -> None:
        with self._lock:
            self._held[upload_id] += 1

    def release(self, upload_id: str) -> None:
        with self._lock:
            self._held[upload_id] -= 1
            if self._held[upload_id] <= 0:
                del self._held[upload_id]

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def touch(self) -> int:
        """Mark every held upload active now; how many rows were touched. A database error
        propagates (the worker logs it and tries again next round)."""
        ids = self.held()
        return self.store.touch_uploads(ids) if ids else 0


__all__ = [
    "FILE_WITHOUT_ROW",
    "IDLE",
    "ROW_WITHOUT_FILE",
    "Collected",
    "CollectionReport",
    "UploadActivity",
    "collect_abandoned_uploads",
]

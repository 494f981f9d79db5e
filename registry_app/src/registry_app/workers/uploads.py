"""Abandoned uploads (issue 9): the collector and the keep-alive of uploads in use.

``uploads`` (a singleton, as Quay's ``workers/blobuploadcleanupworker``): every
REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL (default 1h; ``0s`` leaves it off, and then only
``registry-app uploads cleanup`` collects), the holder of the database lease ``upload-collector``
removes uploads idle for longer than REGISTRY_APP_UPLOAD_MAX_AGE and crash leftovers
(``services/uploads.collect_abandoned_uploads``). The lease keeps the name the collector had
when it was a thread of its own, so that a process of an older version and one of this version
never collect at the same time during an upgrade. Between uploads the collection asks
``keep_going()``: a stop or a lost lease ends it there.

``upload-activity`` (local to each process): touches the uploads this process's requests are
working on (``services/uploads.UploadActivity``) every quarter of the age, at most every minute,
so that the collector, in whichever process it runs, sees them active.
"""

from __future__ import annotations

from registry_app.db.store import Store
from registry_app.services.uploads import UploadActivity, collect_abandoned_uploads
from registry_app.settings.uploads import UploadSettings
from registry_app.storage.base import BlobStorage
from registry_app.workers.base import DEFAULT_JITTER, Lease, Mode, Worker

LEASE_NAME = "upload-collector"


class UploadCollectorWorker(Worker):
    """Remove abandoned uploads: idle past REGISTRY_APP_UPLOAD_MAX_AGE, and crash leftovers."""

    name = "uploads"
    mode = Mode.SINGLETON

    def __init__(
        self,
        store: Store,
        storage: BlobStorage,
        settings: UploadSettings,
        lease: Lease,
        jitter: float = DEFAULT_JITTER,
    ) -> None:
        super().__init__(settings.interval_s, jitter=jitter, lease=lease)
        self.store = store
        self.storage = storage
        self.settings = settings

    def run_once(self) -> int:
        report = collect_abandoned_uploads(
            self.store, self.storage, self.settings.max_age_s, keep_going=self.keep_going
        )
        if report.collected:
            self.log.warning("%s: %s", self.name, report.summary())
        return len(report.collected)


class UploadActivityWorker(Worker):
    """Mark the uploads this process's requests are working on as active."""

    name = "upload-activity"
    mode = Mode.LOCAL

    def __init__(self, activity: UploadActivity) -> None:
        super().__init__(activity.interval_s, jitter=0.0)  # per process: nothing to spread out
        self.activity = activity

    def run_once(self) -> int:
        return self.activity.touch()


__all__ = ["LEASE_NAME", "UploadActivityWorker", "UploadCollectorWorker"]

"""Online garbage collection (issue 11 item 1; the protocol is docs/gc.md).

``GarbageCollector.collect_repositories`` runs the per-repository pass (time machine purge,
manifests nothing keeps, unreferenced links) over every repository; ``collect_blobs`` deletes the
blobs no link and no manifest references, storage object first. Deleted repositories and
namespaces leave their blobs unreferenced (their rows cascade away at once), so the blob pass is
what frees their storage. Several processes may run both passes at once (the row locks share the
work out); ``run_pass`` is one full pass, what ``registry-app gc`` runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from registry_app.db.gc import GcStore
from registry_app.settings.gc import GcSettings
from registry_app.settings.tags import TagSettings
from registry_app.storage.base import BlobStorage

log = logging.getLogger("registry_app.gc")

REPO_BATCH = 200
BLOB_BATCH = 100


@dataclass
class GcReport:
    """What a pass removed, or with ``dry_run`` would remove."""

    dry_run: bool = False
    tags_purged: int = 0
    manifests: list[str] = field(default_factory=list)
    links: int = 0
    blobs: list[str] = field(default_factory=list)
    bytes: int = 0

    def merge(self, other: GcReport) -> None:
        self.tags_purged += other.tags_purged
        self.manifests += other.manifests
        self.links += other.links
        self.blobs += other.blobs
        self.bytes += other.bytes

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"gc {verb}: {len(self.manifests)} manifests, {len(self.blobs)} blobs, {self.bytes} bytes "
            f"({self.tags_purged} expired tag history rows, {self.links} blob links)"
        )


class GarbageCollector:
    def __init__(
        self,
        store: GcStore,
        storage: BlobStorage,
        settings: GcSettings,
        tags: TagSettings | None = None,
        on_manifests_deleted: Callable[[list[str]], None] | None = None,
    ) -> None:
        """``tags`` gives the time-machine window of namespaces that set none
        (DEFAULT_TAG_EXPIRATION; Quay's two weeks when None)."""
        self.store = store
        self.storage = storage
        self.settings = settings
        self.default_window_s = (tags or TagSettings()).default_expiration_s
        self.on_manifests_deleted = on_manifests_deleted

    def collect_repositories(self, keep_going: Callable[[], bool] = lambda: True) -> GcReport:
        report = GcReport()
        after = 0
        while keep_going():
            ids = self.store.repository_ids(after, REPO_BATCH)
            if not ids:
                break
            for rid in ids:
                if not keep_going():
                    return report
                out = self.store.collect_repository(rid, _now_ms(), self.settings.grace_s * 1000, self.default_window_s)
                if out is None:
                    continue
                report.tags_purged += out.tags_purged
                report.manifests += out.manifest_digests
                report.links += out.links_dropped
                if out.manifest_digests:
                    log.info("gc: repository %d: %d manifests deleted", rid, len(out.manifest_digests))
                    if self.on_manifests_deleted is not None:
                        self.on_manifests_deleted(out.manifest_digests)
            after = ids[-1]
        return report

    def collect_blobs(self, keep_going: Callable[[], bool] = lambda: True) -> GcReport:
        report = GcReport()
        after = 0
        while keep_going():
            got, last = self.store.collect_blobs(self.storage.delete_blob, BLOB_BATCH, after_id=after)
            report.blobs += got.digests
            report.bytes += got.bytes
            if not last:
                break
            after = last
        if report.blobs:
            log.info("gc: %d blobs deleted, %d bytes", len(report.blobs), report.bytes)
        return report

    def run_pass(self, dry_run: bool = False, keep_going: Callable[[], bool] = lambda: True) -> GcReport:
        """One full pass: every repository, then every unreferenced blob."""
        if dry_run:
            ids: list[int] = []
            after = 0
            while batch := self.store.repository_ids(after, REPO_BATCH):
                ids += batch
                after = batch[-1]
            repos, blobs = self.store.dry_run_all(ids, _now_ms(), self.settings.grace_s * 1000, self.default_window_s)
            report = GcReport(dry_run=True, blobs=list(blobs.digests), bytes=blobs.bytes)
            for r in repos:
                report.tags_purged += r.tags_purged
                report.manifests += r.manifest_digests
                report.links += r.links_dropped
            return report
        report = self.collect_repositories(keep_going)
        report.merge(self.collect_blobs(keep_going))
        return report


def _now_ms() -> int:
    return int(time.time() * 1000)


__all__ = ["GarbageCollector", "GcReport"]

"""Garbage collection workers (docs/gc.md), Quay's ``gcworker`` in two parts. Both are queue
workers: they run in every process that runs workers, and the database's row locks share the work
out (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` on repository and blob rows; SQLite: its one writer).

``gc`` (every GARBAGE_COLLECTION_FREQUENCY): per repository, purge tag history older than the
namespace's time-machine window, delete manifests nothing keeps, drop links nothing references.
``blob-gc`` (same interval): delete unreferenced blobs from storage, then their rows; this is also
what frees the storage of deleted repositories and namespaces (their rows cascade away at once).
"""

from __future__ import annotations

from registry_app.services.gc import GarbageCollector
from registry_app.workers.base import DEFAULT_JITTER, Mode, Worker


class GcWorker(Worker):
    """Per repository: purge expired tag history, delete unkept manifests and unreferenced links."""

    name = "gc"
    mode = Mode.QUEUE

    def __init__(self, collector: GarbageCollector, jitter: float = DEFAULT_JITTER) -> None:
        super().__init__(collector.settings.interval_s, jitter=jitter)
        self.collector = collector

    def run_once(self) -> int:
        report = self.collector.collect_repositories(self.keep_going)
        return len(report.manifests) + report.links + report.tags_purged


class BlobGcWorker(Worker):
    """Delete blobs no link and no manifest references (also those of deleted repositories)."""

    name = "blob-gc"
    mode = Mode.QUEUE

    def __init__(self, collector: GarbageCollector, jitter: float = DEFAULT_JITTER) -> None:
        super().__init__(collector.settings.interval_s, jitter=jitter)
        self.collector = collector

    def run_once(self) -> int:
        return len(self.collector.collect_blobs(self.keep_going).blobs)


__all__ = ["BlobGcWorker", "GcWorker"]

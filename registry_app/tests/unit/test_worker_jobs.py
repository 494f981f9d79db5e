"""The workers registered in wiring.py, on a real SQLite database: which ones a process runs (by
configuration and by name), the audit flush, the Clair cleanup queue with Clair unreachable (a
closed loopback port: a real connection refusal), the security worker's lease, and the upload
collector and keep-alive (real files in a LocalStorage)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from registry_app.config import Config, ConfigError, embedded_default
from registry_app.db.leases import LeaseStore
from registry_app.db.models import LogEntry, SecscanCleanup
from registry_app.settings import Settings
from registry_app.wiring import Core, build_core, build_gc, build_workers, select_workers
from registry_app.workers.audit import AuditFlushWorker
from registry_app.workers.base import Lease, lease_ttl_s
from registry_app.workers.clair_cleanup import ClairCleanupWorker
from registry_app.workers.security import LEASE_NAME, SecurityWorker
from registry_app.workers.uploads import LEASE_NAME as UPLOADS_LEASE
from registry_app.workers.uploads import UploadActivityWorker, UploadCollectorWorker

OCI = "application/vnd.oci.image.manifest.v1+json"
CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens, connections are refused


def config(tmp_path: Path, **values: Any) -> Settings:
    base = embedded_default(tmp_path, "127.0.0.1", 5999)
    return Config(values={**base.values, **values}, data_dir=base.data_dir).settings


def scanner_config(tmp_path: Path, **values: Any) -> Settings:
    return config(tmp_path, FEATURE_SECURITY_SCANNER=True, SECURITY_SCANNER_V4_ENDPOINT=CLOSED_PORT, **values)


def names(entries: list[Any]) -> list[str]:
    return [e.name for e in entries]


LOCAL = ["audit-flush", "upload-activity"]
GC = ["gc", "blob-gc"]


def test_which_workers_a_process_runs(tmp_path: Path) -> None:
    plain = config(tmp_path)
    # the embedded default
    assert names(select_workers(plain, None)) == ["uploads", "notification", "autoprune", *GC, *LOCAL]
    scanning = scanner_config(tmp_path)
    all_on = ["security", "clair-cleanup", "uploads", "notification", "autoprune", *GC, *LOCAL]
    assert names(select_workers(scanning, None)) == all_on
    assert names(select_workers(scanning, [])) == LOCAL  # serve --no-workers
    assert names(select_workers(scanning, ["clair-cleanup", "security", "security"])) == [
        "clair-cleanup",
        "security",
        *LOCAL,
    ]
    no_cleanup = scanner_config(tmp_path, SECURITY_SCANNER_V4_MANIFEST_CLEANUP=False)
    no_cleanup_on = ["security", "uploads", "notification", "autoprune", *GC, *LOCAL]
    assert names(select_workers(no_cleanup, None)) == no_cleanup_on
    with pytest.raises(ConfigError) as err:
        select_workers(no_cleanup, ["nope", "audit-flush", "clair-cleanup", "upload-activity"])
    assert err.value.problems == [
        "nope: no such worker (workers: security, clair-cleanup, uploads, notification, autoprune, gc, blob-gc)",
        "audit-flush: runs in every process by itself; it is not chosen by name",
        "clair-cleanup: off in this configuration (SECURITY_SCANNER_V4_MANIFEST_CLEANUP is false)",
        "upload-activity: runs in every process by itself; it is not chosen by name",
    ]
    with pytest.raises(ConfigError, match="FEATURE_SECURITY_SCANNER is not true"):
        select_workers(plain, ["security"])
    no_prune = config(tmp_path, FEATURE_AUTO_PRUNE=False)
    assert names(select_workers(no_prune, None)) == ["uploads", "notification", *GC, *LOCAL]
    with pytest.raises(ConfigError, match="FEATURE_AUTO_PRUNE is false"):
        select_workers(no_prune, ["autoprune"])


def test_the_upload_collector_follows_its_interval(tmp_path: Path) -> None:
    """On by default (1h), off with 0s (ours) or 0 (Quay's key), when only the CLI collects."""
    assert names(select_workers(config(tmp_path, REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL="10m"), ["uploads"])) == [
        "uploads",
        *LOCAL,
    ]
    off = config(tmp_path, REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL="0s", BLOBUPLOAD_CLEANUP_FREQUENCY=60)
    assert names(select_workers(off, None)) == ["notification", "autoprune", *GC, *LOCAL]
    with pytest.raises(ConfigError) as err:
        select_workers(off, ["uploads"])
    assert err.value.problems == [
        "uploads: off in this configuration (REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL is 0s: "
        "only `registry-app uploads cleanup` collects)"
    ]
    quay_off = config(tmp_path, BLOBUPLOAD_CLEANUP_FREQUENCY=0)
    assert names(select_workers(quay_off, None)) == ["notification", "autoprune", *GC, *LOCAL]
    quay_on = config(tmp_path, BLOBUPLOAD_CLEANUP_FREQUENCY=90)
    worker = build_workers(build_core(quay_on), ["uploads"]).get("uploads")
    assert isinstance(worker, UploadCollectorWorker) and worker.interval_s == 90.0
    assert worker.lease is not None and (worker.lease.name, worker.lease.ttl_s) == (UPLOADS_LEASE, 270.0)


def test_gc_workers_follow_quay_keys(tmp_path: Path) -> None:
    """On by default every 30 s; FEATURE_GARBAGE_COLLECTION false or GARBAGE_COLLECTION_FREQUENCY 0
    leave them off (then only `registry-app gc` collects)."""
    from registry_app.workers.gc import BlobGcWorker, GcWorker

    group = build_workers(build_core(config(tmp_path, GARBAGE_COLLECTION_FREQUENCY=5)), GC)
    gc, blob_gc = group.get("gc"), group.get("blob-gc")
    assert isinstance(gc, GcWorker) and isinstance(blob_gc, BlobGcWorker)
    assert gc.interval_s == blob_gc.interval_s == 5.0
    gc_off = config(tmp_path, FEATURE_GARBAGE_COLLECTION=False)
    assert names(select_workers(gc_off, None)) == ["uploads", "notification", "autoprune", *LOCAL]
    with pytest.raises(ConfigError, match="GARBAGE_COLLECTION_FREQUENCY is 0"):
        select_workers(config(tmp_path, GARBAGE_COLLECTION_FREQUENCY=0), ["gc"])
    scanning = build_core(scanner_config(tmp_path))
    assert scanning.secscan is not None
    assert build_gc(scanning).on_manifests_deleted == scanning.secscan.manifests_deleted  # Clair cleanup


def test_built_workers_are_wired_to_the_scanner(tmp_path: Path) -> None:
    core = build_core(scanner_config(tmp_path, SECURITY_SCANNER_INDEXING_INTERVAL=7))
    group = build_workers(core)
    security, cleanup = group.get("security"), group.get("clair-cleanup")
    assert isinstance(security, SecurityWorker) and isinstance(cleanup, ClairCleanupWorker)
    assert security.interval_s == cleanup.interval_s == 7.0
    assert security.lease is not None and (security.lease.name, security.lease.ttl_s) == (LEASE_NAME, 60.0)
    assert core.secscan is not None
    assert core.secscan.on_notification_queued == security.wake  # the webhook wakes it at once
    assert core.secscan.on_cleanup_queued == cleanup.wake
    assert lease_ttl_s(100) == 300.0  # three intervals when that is longer than a minute


def count(core: Core, table: Any) -> int:
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_audit_entries_are_buffered_while_the_flush_runs_and_written_on_stop(tmp_path: Path) -> None:
    core = build_core(config(tmp_path))
    entries = LogEntry.__table__
    core.audit.record("push_repo", metadata={"token": "s3cret"})
    assert count(core, entries) == 1  # no flushing worker: written at once
    worker = AuditFlushWorker(core.audit, interval_s=3600)
    worker.start()
    deadline = time.monotonic() + 60
    while worker.stats().rounds < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    core.audit.record("pull_repo")
    core.audit.record("pull_repo")
    assert count(core, entries) == 1  # buffered until the next round, an hour away
    assert worker.stop()
    assert count(core, entries) == 3  # flushed on stop
    core.audit.record("pull_repo")
    assert count(core, entries) == 4  # written at once again
    with core.engine.connect() as conn:
        meta = conn.execute(select(LogEntry.metadata_json).where(LogEntry.kind == "push_repo")).scalar_one()
    assert json.loads(meta) == {"token": "(redacted)"}


def push(core: Core, digest: str) -> None:
    repo = core.store.get_repo("acme", "web") or core.store.create_repo("acme", "web", "private", True)
    core.store.put_manifest(repo.id, digest, OCI, None, None, None, json.dumps({"d": digest}).encode(), [], [], [])


def test_clair_cleanup_skips_digests_in_use_and_retries_when_clair_is_away(tmp_path: Path) -> None:
    core = build_core(scanner_config(tmp_path))
    assert core.secscan is not None
    in_use, gone = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    push(core, in_use)
    core.secscan.manifests_deleted([in_use, gone])
    queue = SecscanCleanup.__table__
    assert count(core, queue) == 2
    worker = build_workers(core, ["clair-cleanup"]).get("clair-cleanup")
    assert isinstance(worker, ClairCleanupWorker)
    assert worker.round()
    with core.engine.connect() as conn:
        left = conn.execute(text("SELECT digest, attempts, claimed_by, claimed_until_ms FROM secscan_cleanup")).all()
    # The digest still held by a repository is done without asking Clair; the other waits for a retry.
    [(digest, attempts, claimed_by, until)] = left
    assert (digest, attempts, claimed_by) == (gone, 1, None)
    assert until > time.time() * 1000
    assert worker.stats().items == 1
    assert worker.round() and count(core, queue) == 1  # not due yet: left alone

    off = build_core(scanner_config(tmp_path / "off", SECURITY_SCANNER_V4_MANIFEST_CLEANUP=False))
    assert off.secscan is not None
    off.secscan.manifests_deleted([gone])
    assert count(off, queue) == 0


def test_the_security_worker_takes_its_lease_even_when_clair_is_away(tmp_path: Path) -> None:
    core = build_core(scanner_config(tmp_path))
    assert core.secscan is not None
    worker = build_workers(core, ["security"]).get("security")
    other = SecurityWorker(core.secscan, Lease(LeaseStore(core.engine), LEASE_NAME, 60), 30)
    assert worker is not None and worker.round()
    assert worker.stats().failures == 0  # Clair unreachable is a warning, not a failed round
    assert LeaseStore(core.engine).holder_of(LEASE_NAME) == worker.holder
    assert other.holder == worker.holder  # one id per process...
    other.holder = "another-process"
    assert not other.round()  # ...and another process's worker waits
    assert worker.stop() and other.round()


def open_upload(core: Core, data: bytes, idle_ms: int) -> str:
    """An upload (row and file) whose last activity was ``idle_ms`` ago."""
    repo = core.store.get_repo("acme", "web") or core.store.create_repo("acme", "web", "private", True)
    upload_id = str(uuid.uuid4())
    assert core.store.create_upload(upload_id, repo.id, "sha256", None)
    core.storage.create_upload(upload_id)
    writer = core.storage.open_upload(upload_id, 0)
    writer.write(data)
    writer.close()
    then = int(time.time() * 1000) - idle_ms
    with core.engine.begin() as conn:
        conn.execute(text("UPDATE upload SET updated_ms = :t WHERE id = :id"), {"t": then, "id": upload_id})
    return upload_id


def upload_ids(core: Core) -> tuple[set[str], set[str]]:
    return set(core.store.upload_activity()), {i.upload_id for i in core.storage.list_uploads()}


def test_the_upload_collector_collects_under_its_lease_and_stops_between_uploads(tmp_path: Path) -> None:
    core = build_core(config(tmp_path, REGISTRY_APP_UPLOAD_MAX_AGE="1h"))
    idle = [open_upload(core, b"x" * 10, 2 * 3_600_000) for _ in range(3)]
    fresh = open_upload(core, b"fresh", 0)
    worker = build_workers(core, ["uploads"]).get("uploads")
    assert isinstance(worker, UploadCollectorWorker)
    lease = Lease(LeaseStore(core.engine), UPLOADS_LEASE, 60)
    other = UploadCollectorWorker(core.store, core.storage, worker.settings, lease)
    other.holder = "another-process"

    # A stop asked for during a round ends the collection before the next upload.
    asked: list[int] = []

    def keep_going() -> bool:
        asked.append(1)
        if len(asked) > 1:
            worker.request_stop()
        return UploadCollectorWorker.keep_going(worker)

    worker.keep_going = keep_going  # type: ignore[method-assign]
    assert worker.round()
    assert worker.stats().items == 1 and len(asked) == 2
    rows, files = upload_ids(core)
    assert len(set(idle) - rows) == 1 and rows == files  # one removed, row and file together
    assert LeaseStore(core.engine).holder_of(UPLOADS_LEASE) == worker.holder
    assert not other.round()  # another process's collector waits for the lease
    assert worker.stop()  # gives the lease back

    assert other.round() and other.stats().items == 2
    assert upload_ids(core) == ({fresh}, {fresh})
    assert other.round() and other.stats().items == 2  # nothing left to collect
    assert other.stop()


def test_the_upload_activity_worker_keeps_held_uploads_alive(tmp_path: Path) -> None:
    core = build_core(config(tmp_path, REGISTRY_APP_UPLOAD_MAX_AGE="2s"))
    held, idle = open_upload(core, b"held", 3_600_000), open_upload(core, b"idle", 3_600_000)
    worker = next(w for w in build_workers(core, []) if isinstance(w, UploadActivityWorker))
    assert worker.interval_s == 0.5  # a quarter of the age
    before = core.store.upload_activity()
    assert worker.round() and worker.stats().items == 0  # nothing held: nothing touched
    core.registry.activity.hold(held)
    core.registry.activity.hold(held)  # two requests on one upload
    core.registry.activity.release(held)
    assert worker.round() and worker.stats().items == 1
    after = core.store.upload_activity()
    assert after[held] > before[held] and after[idle] == before[idle]
    core.registry.activity.release(held)
    assert core.registry.activity.held() == []

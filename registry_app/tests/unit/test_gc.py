"""Online garbage collection below HTTP (db/gc.py, services/gc.py, the GC-safe upload and mount in
db/store.py) against a real database (SQLite, and PostgreSQL where marked) and real files: what
the time machine keeps, what a pass removes from the database and the disk, and the race with
pushes running while collectors run (docs/gc.md)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from registry_app.db.engine import make_engine, migrate
from registry_app.db.gc import GcStore, kept_manifests
from registry_app.db.store import MissingReferences, Store
from registry_app.services.gc import GarbageCollector
from registry_app.settings import GcSettings, Settings, TagSettings
from registry_app.storage.filesystem import FilesystemStorage

HOUR_S = 3600
DAY_MS = 86_400_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class World:
    def __init__(self, store: Store, storage: FilesystemStorage, repo_id: int) -> None:
        self.store = store
        self.storage = storage
        self.repo_id = repo_id
        self.gc_store = GcStore(store.engine)

    def collector(self, grace_s: int = HOUR_S, window_s: int = 14 * 86400) -> GarbageCollector:
        return GarbageCollector(
            self.gc_store, self.storage, GcSettings(grace_s=grace_s), TagSettings(default_expiration_s=window_s)
        )

    def blob(self, data: bytes, repo_id: int | None = None) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        uid = str(uuid.uuid4())
        self.storage.create_upload(uid)
        writer = self.storage.open_upload(uid, 0)
        writer.write(data)
        writer.close()
        rid = self.repo_id if repo_id is None else repo_id
        assert self.store.create_upload(uid, rid, "sha256", None)
        self.store.publish_upload(
            uid, rid, digest, len(data), lambda: self.storage.commit_upload(uid, len(data), digest)
        )
        return digest

    def manifest(
        self,
        layers: list[str],
        tags: list[str],
        subject: str | None = None,
        children: list[str] | None = None,
        repo_id: int | None = None,
        salt: str = "",
    ) -> str:
        doc: dict[str, object]
        if children is not None:
            doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"digest": c} for c in children]}
        else:
            doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [{"digest": d} for d in layers], "s": salt}
        if subject:
            doc["subject"] = {"digest": subject}
        content = json.dumps(doc).encode()
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        self.store.put_manifest(
            self.repo_id if repo_id is None else repo_id,
            digest,
            OCI_INDEX if children is not None else OCI_MANIFEST,
            None,
            subject,
            None,
            content,
            layers,
            children or [],
            tags,
        )
        return digest

    def age_everything(self, ms: int) -> None:
        """Move every timestamp ``ms`` into the past (as if that much time had passed)."""
        with self.store.engine.begin() as conn:
            conn.execute(text("UPDATE manifest SET created_ms = created_ms - :d"), {"d": ms})
            conn.execute(text("UPDATE repository_blob SET created_ms = created_ms - :d"), {"d": ms})
            conn.execute(
                text(
                    "UPDATE tag SET lifetime_start_ms = lifetime_start_ms - :d, "
                    "lifetime_end_ms = lifetime_end_ms - :d, expiration_ms = expiration_ms - :d"
                ),
                {"d": ms},
            )

    def on_disk(self, digest: str) -> bool:
        return self.storage.blob_size(digest) is not None

    def manifest_digests(self) -> set[str]:
        with self.store.engine.connect() as conn:
            return {r[0] for r in conn.execute(text("SELECT digest FROM manifest"))}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    uri = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(uri)
    migrate(engine)
    storage = FilesystemStorage(tmp_path / "storage")
    storage.check()
    store = Store(engine)
    repo = store.create_repo("acme", "web", "private", True)
    try:
        yield World(store, storage, repo.id)
    finally:
        engine.dispose()


def test_kept_manifests_follows_children_and_referrers() -> None:
    manifests = {
        1: ("sha256:a", None, 0),  # tagged
        2: ("sha256:b", None, 0),  # child of 3
        3: ("sha256:c", None, 0),  # index, tagged
        4: ("sha256:d", "sha256:a", 0),  # referrer of 1
        5: ("sha256:e", "sha256:d", 0),  # referrer of a referrer
        6: ("sha256:f", None, 100),  # young
        7: ("sha256:g", None, 0),  # nothing keeps it
        8: ("sha256:h", "sha256:g", 0),  # referrer of a dead manifest
    }
    kept = kept_manifests(manifests, {1, 3}, [(3, 2)], young_after_ms=50)
    assert kept == {1, 2, 3, 4, 5, 6}


def test_pass_removes_what_nothing_keeps_and_keeps_the_rest(world: World) -> None:
    shared, unique_a, unique_b = world.blob(b"shared layer"), world.blob(b"only in a"), world.blob(b"only in b")
    a = world.manifest([shared, unique_a], ["a"])
    b = world.manifest([shared, unique_b], ["b"])
    child = world.manifest([unique_b], [], salt="child")
    index = world.manifest([], ["multi"], children=[child])
    referrer = world.manifest([], [], subject=a, salt="sig")
    assert world.store.delete_tag(world.repo_id, "b")
    world.age_everything(20 * DAY_MS)  # past the two-week window and the grace period

    report = world.collector().run_pass()

    assert set(report.manifests) == {b}
    assert world.manifest_digests() == {a, child, index, referrer}
    # unique_b is still referenced by the index's child: its file and link stay
    assert report.blobs == [] and all(world.on_disk(d) for d in (shared, unique_a, unique_b))

    assert world.store.delete_tag(world.repo_id, "multi")
    world.age_everything(20 * DAY_MS)
    report = world.collector().run_pass()  # manifests go; their links are touched (grace)
    assert set(report.manifests) == {index, child}
    assert world.on_disk(unique_b)
    world.age_everything(2 * HOUR_S * 1000)
    report = world.collector().run_pass()
    assert report.blobs == [unique_b] and report.bytes == len(b"only in b")
    assert not world.on_disk(unique_b)
    assert world.on_disk(shared) and world.on_disk(unique_a)
    assert world.store.blob_in_repo(world.repo_id, unique_a) is not None


def test_time_machine_window_keeps_deleted_tags_restorable(world: World) -> None:
    layer = world.blob(b"layer")
    m = world.manifest([layer], ["v1"])
    assert world.store.delete_tag(world.repo_id, "v1")
    world.age_everything(3 * DAY_MS)
    report = world.collector(window_s=7 * 86400).run_pass()
    assert report.manifests == [] and report.tags_purged == 0 and world.on_disk(layer)
    world.age_everything(5 * DAY_MS)  # now ended 8 days ago: past the window
    report = world.collector(window_s=7 * 86400).run_pass()
    assert report.manifests == [m] and report.tags_purged == 1


def test_expired_tag_counts_as_ended_at_its_expiration(world: World) -> None:
    layer = world.blob(b"expiring layer")
    m = world.manifest([layer], ["tmp"])
    world.store.set_tag_expiration(world.repo_id, ["tmp"], int(time.time() * 1000) - 2 * DAY_MS)
    world.age_everything(HOUR_S * 1000 * 2)
    assert world.collector(window_s=86400).run_pass().manifests == [m]


def test_namespace_window_of_zero_collects_at_once(world: World) -> None:
    with world.store.engine.begin() as conn:
        conn.execute(text("UPDATE \"user\" SET tag_expiration_s = 0 WHERE username = 'acme'"))
    layer = world.blob(b"zero window")
    m = world.manifest([layer], ["x"])
    assert world.store.delete_tag(world.repo_id, "x")
    world.age_everything(2 * HOUR_S * 1000)  # past the grace only
    assert world.collector().run_pass().manifests == [m]


def test_young_untagged_manifest_and_fresh_links_stay(world: World) -> None:
    layer = world.blob(b"pushed by digest")
    m = world.manifest([layer], [])
    orphan = world.blob(b"uploaded, no manifest yet")
    report = world.collector().run_pass()
    assert report.manifests == [] and report.blobs == []
    assert m in world.manifest_digests() and world.on_disk(orphan)


def test_dry_run_removes_nothing_and_reports_what_a_pass_would(world: World) -> None:
    layer = world.blob(b"doomed")
    m = world.manifest([layer], ["gone"])
    assert world.store.delete_tag(world.repo_id, "gone")
    world.age_everything(20 * DAY_MS)
    dry = world.collector().run_pass(dry_run=True)
    # the manifest's collection touches its links: its blob would go one grace period later
    assert dry.dry_run and dry.manifests == [m] and dry.blobs == []
    assert m in world.manifest_digests() and world.on_disk(layer)
    real = world.collector().run_pass()
    assert real.manifests == [m] and real.blobs == []
    world.age_everything(2 * HOUR_S * 1000)
    dry = world.collector().run_pass(dry_run=True)
    assert dry.manifests == [] and dry.blobs == [layer] and dry.bytes == len(b"doomed") and world.on_disk(layer)
    assert world.collector().run_pass().blobs == [layer] and not world.on_disk(layer)


def test_upload_after_collection_brings_the_file_back(world: World) -> None:
    data = b"collected then pushed again"
    digest = world.blob(data)
    assert world.store.unlink_blob(world.repo_id, digest)
    assert world.collector().collect_blobs().blobs == [digest] and not world.on_disk(digest)
    assert world.blob(data) == digest
    assert world.on_disk(digest) and world.store.blob_in_repo(world.repo_id, digest) == len(data)


def test_mount_of_a_collected_blob_is_refused(world: World) -> None:
    other = world.store.create_repo("acme", "other", "private", True)
    digest = world.blob(b"mount me")
    present = world.on_disk
    assert world.store.mount_blob(other.id, world.repo_id, digest, present)
    assert world.store.unlink_blob(world.repo_id, digest) and world.store.unlink_blob(other.id, digest)
    world.collector().collect_blobs()
    assert not world.store.mount_blob(other.id, world.repo_id, digest, present)


def test_manifest_naming_a_dropped_link_is_refused_not_stored(world: World) -> None:
    layer = world.blob(b"old orphan link")
    world.age_everything(2 * HOUR_S * 1000)
    world.collector().run_pass()
    assert not world.on_disk(layer)
    with pytest.raises(MissingReferences):
        world.manifest([layer], ["late"])


def test_deleted_repository_frees_its_storage(world: World) -> None:
    from registry_app.db.repositories import RepositoryStore

    other = world.store.create_repo("acme", "doomed", "private", True)
    shared = world.blob(b"shared with web")
    world.manifest([shared], ["keep"])
    mine = world.blob(b"only in doomed", repo_id=other.id)
    world.blob(b"shared with web", repo_id=other.id)
    world.manifest([mine, shared], ["x"], repo_id=other.id)
    assert RepositoryStore(world.store.engine).delete(other.id)
    report = world.collector().run_pass()
    assert report.blobs == [mine]
    assert not world.on_disk(mine) and world.on_disk(shared)


@pytest.mark.parametrize("collectors", [2])
def test_race_pushes_sharing_layers_while_collectors_run(world: World, collectors: int) -> None:
    """Eight clients push images sharing layers (re-uploading and mounting the shared ones, moving
    and deleting tags) while collectors with no grace period and no time machine run without a
    pause; then every tagged manifest's blobs are readable from storage."""
    with world.store.engine.begin() as conn:
        conn.execute(text('UPDATE "user" SET tag_expiration_s = 0'))
    shared = [f"shared layer {i}".encode() * 50 for i in range(4)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def collect() -> None:
        gc = world.collector(grace_s=0, window_s=0)
        while not stop.is_set():
            try:
                gc.run_pass()
            except BaseException as exc:  # reported below
                errors.append(exc)
                return

    def push(n: int, round_: int) -> bool:
        layers = [world.blob(shared[(n + round_ + k) % len(shared)]) for k in range(2)]
        layers.append(world.blob(f"client {n} round {round_}".encode()))
        try:
            world.manifest(layers, [f"c{n}"], salt=f"{n}-{round_}")
        except MissingReferences:
            return False  # a link collected between upload and PUT: a clean refusal
        return True

    def client(n: int) -> int:
        pushed = 0
        for round_ in range(5):
            if push(n, round_):
                pushed += 1
            if round_ % 3 == 1:
                world.store.delete_tag(world.repo_id, f"c{n}")
        for _attempt in range(100):  # the last push is retried as a client would, until it lands
            if push(n, 5):
                return pushed + 1
        raise AssertionError(f"client {n}: the last push never landed")

    threads = [threading.Thread(target=collect) for _ in range(collectors)]
    for t in threads:
        t.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            pushed = sum(pool.map(client, range(8)))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert pushed >= 8
    with world.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.name, b.digest FROM tag t JOIN manifest_blob mb ON mb.manifest_id = t.manifest_id "
                "JOIN blob b ON b.id = mb.blob_id WHERE t.lifetime_end_ms IS NULL"
            )
        ).all()
    per_tag: dict[str, list[str]] = {}
    for name, digest in rows:
        per_tag.setdefault(name, []).append(digest)
    assert sorted(per_tag) == sorted(f"c{n}" for n in range(8))
    assert all(len(digests) == 3 for digests in per_tag.values()), per_tag
    for digest in {d for digests in per_tag.values() for d in digests}:
        assert world.storage.read_blob(digest), digest
        assert world.store.blob_in_repo(world.repo_id, digest) is not None


def test_read_only_look_finds_work_only_where_a_pass_removes_something(world: World) -> None:
    """The pass takes the write lock only when a read-only look finds something it could remove:
    an old, kept index with its children and a referrer is no work; a tag past the window is."""
    layer = world.blob(b"steady layer")
    child = world.manifest([layer], [], salt="steady child")
    index = world.manifest([], ["multi"], children=[child])
    world.manifest([], [], subject=index, salt="steady signature")
    world.age_everything(20 * DAY_MS)
    now = int(time.time() * 1000)
    grace_ms, window_s = HOUR_S * 1000, 14 * 86400
    assert not world.gc_store._has_work(world.repo_id, now, grace_ms, window_s)
    assert world.collector().run_pass().manifests == []
    assert world.store.delete_tag(world.repo_id, "multi")
    assert not world.gc_store._has_work(world.repo_id, now, grace_ms, window_s)  # within the window
    world.age_everything(20 * DAY_MS)
    assert world.gc_store._has_work(world.repo_id, int(time.time() * 1000), grace_ms, window_s)
    assert len(world.collector().run_pass().manifests) == 3


def test_deleted_namespace_frees_its_storage(world: World) -> None:
    """Deleting an organization cascades its repositories' rows away at once; the blob pass then
    deletes the files that no other namespace references."""
    from registry_app.db.identity import IdentityStore

    gone = world.store.create_repo("doomed-org", "app", "private", True)
    theirs = world.blob(b"only in the doomed organization", repo_id=gone.id)
    shared = world.blob(b"in both namespaces", repo_id=gone.id)
    world.manifest([theirs, shared], ["v1"], repo_id=gone.id)
    world.blob(b"in both namespaces")
    world.manifest([shared], ["keep"])
    org = world.store.get_user("doomed-org")
    assert org is not None
    IdentityStore(world.store.engine).delete_account(org.id)
    report = world.collector().run_pass()
    assert report.blobs == [theirs] and not world.on_disk(theirs) and world.on_disk(shared)


def test_deleted_manifests_are_handed_to_the_clair_cleanup_hook(world: World) -> None:
    """The digests the collector deletes go to ``on_manifests_deleted`` (wired to the scanner's
    clair-cleanup queue when FEATURE_SECURITY_SCANNER is on); a dry run hands over nothing."""
    layer = world.blob(b"scanned layer")
    m = world.manifest([layer], ["scanned"])
    assert world.store.delete_tag(world.repo_id, "scanned")
    world.age_everything(20 * DAY_MS)
    handed: list[str] = []
    gc = GarbageCollector(world.gc_store, world.storage, GcSettings(), on_manifests_deleted=handed.extend)
    assert gc.run_pass(dry_run=True).manifests == [m] and handed == []
    assert gc.run_pass().manifests == [m] and handed == [m]


def test_gc_keys_are_decided_into_settings(tmp_path: Path) -> None:
    """Absent keys take Quay's defaults (on, every 30 s) and ours (1h grace); set keys are read
    through the loader into settings.gc, and the time-machine window and whether users may change
    it into settings.tags."""
    from registry_app.config import load_bundle
    from tests.support.bundle import write_bundle

    def load(**values: object) -> Settings:
        bundle = write_bundle(tmp_path / f"bundle-{uuid.uuid4().hex}", SERVER_HOSTNAME="registry.test", **values)
        return load_bundle(bundle).settings

    plain = load()
    assert (plain.gc.enabled, plain.gc.interval_s, plain.gc.grace_s) == (True, 30.0, HOUR_S)
    assert plain.gc.workers_off_because is None
    assert (plain.tags.default_expiration_s, plain.tags.change_expiration) == (14 * 86400, True)
    set_ = load(
        FEATURE_GARBAGE_COLLECTION=False,
        GARBAGE_COLLECTION_FREQUENCY=0,
        REGISTRY_APP_GC_GRACE="10m",
        DEFAULT_TAG_EXPIRATION="1d",
        FEATURE_CHANGE_TAG_EXPIRATION=False,
    )
    assert (set_.gc.enabled, set_.gc.interval_s, set_.gc.grace_s) == (False, 0.0, 600)
    assert set_.gc.workers_off_because == "FEATURE_GARBAGE_COLLECTION is false"
    assert (set_.tags.default_expiration_s, set_.tags.change_expiration) == (86400, False)
    stopped = load(GARBAGE_COLLECTION_FREQUENCY=0).gc
    assert stopped.workers_off_because == "GARBAGE_COLLECTION_FREQUENCY is 0: only `registry-app gc` collects"

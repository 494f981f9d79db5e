"""Garbage collection: time to reclaim storage online (registry_app's `registry-app gc`) beside
distribution's offline `registry garbage-collect --delete-untagged`, on the same data.

The same content is written into both registries' storage: MANIFESTS image manifests (a config and
four layers each, every blob in one manifest only: 5 x MANIFESTS blobs of BLOB_SIZE bytes) over
REPOS repositories, every manifest tagged; then half the tags are deleted. registry_app's data is
written through its own store and storage code (the rows and files a push leaves), with the
namespace's time-machine window 0 and every timestamp two days old; distribution's is its storage
layout (blobs, layer links, manifest revisions, tags). Then each collector runs:

- registry_app: two full passes of its collector (services/gc.py: what the workers `gc` and
  `blob-gc` and `registry-app gc` run) with no grace period, timed in-process. The first pass
  deletes the manifests (and touches their links, the grace rule), the second the links and blobs.
  Online: the same passes run while the registry serves.
- distribution 3.x: `registry garbage-collect --delete-untagged config.yml` (the registry must be
  stopped or read-only while it runs).

Both must leave exactly the tagged half's blobs; the script checks that and prints a table.

    python bench/gc.py [--quick] [--distribution PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "registry_app" / "src"
sys.path.insert(0, str(SRC))

from registry_app.db.engine import make_engine, migrate  # noqa: E402
from registry_app.db.gc import GcStore  # noqa: E402
from registry_app.db.store import Store  # noqa: E402
from registry_app.services.gc import GarbageCollector  # noqa: E402
from registry_app.settings.gc import GcSettings  # noqa: E402
from registry_app.storage.filesystem import FilesystemStorage  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DAY_MS = 86_400_000


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_content(manifests: int, blob_size: int) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """(digest, manifest bytes, [(blob digest, blob bytes)]) for each manifest; no blob shared."""
    out = []
    for m in range(manifests):
        blobs = [(os.urandom(blob_size)) for _ in range(5)]
        pairs = [(digest_of(b), b) for b in blobs]
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": pairs[0][0], "size": blob_size},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": blob_size} for d, _ in pairs[1:]],
            "annotations": {"bench": str(m)},
        }
        body = json.dumps(doc).encode()
        out.append((digest_of(body), body, pairs))
    return out


# -- registry_app ---------------------------------------------------------------------------------
def seed_registry_app(base: Path, content: list, repos: int) -> Path:
    bundle = base / "config"
    bundle.mkdir(parents=True)
    (bundle / "config.yaml").write_text(
        json.dumps(
            {
                "SERVER_HOSTNAME": "127.0.0.1:1",
                "DB_URI": f"sqlite:///{base / 'registry.db'}",
                "DISTRIBUTED_STORAGE_CONFIG": {
                    "default": ["LocalStorage", {"storage_path": str(base / "storage")}]
                },
                "DISTRIBUTED_STORAGE_PREFERENCE": ["default"],
                "SECRET_KEY": "bench-only-not-a-secret-" + "x" * 32,
                "GARBAGE_COLLECTION_FREQUENCY": 0,
                "REGISTRY_APP_GC_GRACE": "0s",
            }
        )
    )
    engine = make_engine(f"sqlite:///{base / 'registry.db'}")
    migrate(engine)
    store = Store(engine)
    storage = FilesystemStorage(base / "storage")
    storage.check()
    repo_ids = [store.create_repo("bench", f"r{i}", "private", True).id for i in range(repos)]
    for i, (mdigest, body, pairs) in enumerate(content):
        rid = repo_ids[i % repos]
        for d, data in pairs:
            uid = hashlib.sha256(f"{i}{d}".encode()).hexdigest()[:32]
            storage.create_upload(uid)
            w = storage.open_upload(uid, 0)
            w.write(data)
            w.close()
            store.create_upload(uid, rid, "sha256", None)
            size = len(data)
            store.publish_upload(uid, rid, d, size, _committer(storage, uid, size, d))
        digests = [d for d, _ in pairs]
        store.put_manifest(rid, mdigest, OCI_MANIFEST, None, None, None, body, digests, [], [f"t{i}"])
        if i % 2:
            store.delete_tag(rid, f"t{i}")
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE \"user\" SET tag_expiration_s = 0 WHERE username = 'bench'"))
        for table, col in (("manifest", "created_ms"), ("repository_blob", "created_ms")):
            conn.execute(text(f"UPDATE {table} SET {col} = {col} - :d"), {"d": 2 * DAY_MS})
        conn.execute(
            text(
                "UPDATE tag SET lifetime_start_ms = lifetime_start_ms - :d, "
                "lifetime_end_ms = lifetime_end_ms - :d"
            ),
            {"d": 2 * DAY_MS},
        )
    engine.dispose()
    return bundle


def _committer(storage: FilesystemStorage, uid: str, size: int, digest: str) -> Callable[[], None]:
    return lambda: storage.commit_upload(uid, size, digest)


def registry_app_gc(base: Path) -> tuple[float, list[str]]:
    """Two full passes (services/gc.py, what the `gc` and `blob-gc` workers and `registry-app gc`
    run) with no grace period, timed in this process (a CLI run here spends seconds on imports)."""
    engine = make_engine(f"sqlite:///{base / 'registry.db'}")
    collector = GarbageCollector(GcStore(engine), FilesystemStorage(base / "storage"), GcSettings(grace_s=0))
    t0 = time.monotonic()
    lines = [collector.run_pass().summary() for _ in range(2)]
    elapsed = time.monotonic() - t0
    engine.dispose()
    return elapsed, lines


# -- distribution -----------------------------------------------------------------------------------
def _link(path: Path, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest)


def seed_distribution(base: Path, content: list, repos: int) -> Path:
    v2 = base / "storage" / "docker" / "registry" / "v2"

    def blob(d: str, data: bytes) -> None:
        h = d.split(":")[1]
        p = v2 / "blobs" / "sha256" / h[:2] / h / "data"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    for i, (mdigest, body, pairs) in enumerate(content):
        repo = v2 / "repositories" / "bench" / f"r{i % repos}"
        for d, data in pairs:
            blob(d, data)
            _link(repo / "_layers" / "sha256" / d.split(":")[1] / "link", d)
        blob(mdigest, body)
        h = mdigest.split(":")[1]
        _link(repo / "_manifests" / "revisions" / "sha256" / h / "link", mdigest)
        if i % 2 == 0:  # the other half's tags are deleted (never written)
            _link(repo / "_manifests" / "tags" / f"t{i}" / "current" / "link", mdigest)
            _link(repo / "_manifests" / "tags" / f"t{i}" / "index" / "sha256" / h / "link", mdigest)
    config = base / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {base / 'storage'}\n  delete:\n    enabled: true\n"
        "http:\n  addr: 127.0.0.1:0\n"
    )
    return config


def distribution_gc(binary: str, config: Path) -> float:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    t0 = time.monotonic()
    subprocess.run([binary, "garbage-collect", "--delete-untagged", str(config)], capture_output=True,
                   env=env, check=True)
    return time.monotonic() - t0


def blob_files(root: Path) -> set[str]:
    found = set()
    for p in root.rglob("*"):
        if p.is_file() and p.name == "data":
            found.add(p.parent.name)  # distribution: blobs/sha256/ab/<hex>/data
        elif p.is_file() and len(p.name) == 64:
            found.add(p.name)  # registry_app: blobs/sha256/ab/<hex>
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="200 manifests, 1,000 blobs (checks that it works)")
    ap.add_argument("--manifests", type=int, default=2000)
    ap.add_argument("--repos", type=int, default=20)
    ap.add_argument("--blob-size", type=int, default=1024)
    cache = os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci")
    ap.add_argument("--distribution", default=f"{cache}/go/bin/distribution",
                    help="distribution 3.x's registry (scripts/build-go-tools distribution)")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = ap.parse_args()
    n = 200 if args.quick else args.manifests
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-gc-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        content = make_content(n, args.blob_size)
        kept = {d.split(":")[1] for i, (_, _, pairs) in enumerate(content) if i % 2 == 0 for d, _ in pairs}
        t0 = time.monotonic()
        bundle = seed_registry_app(work / "registry_app", content, args.repos)
        print(f"seeded registry_app in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        app_s, app_lines = registry_app_gc(bundle.parent)
        app_left = blob_files(work / "registry_app" / "storage" / "blobs")
        rows = [
            ("registry_app (online, 2 passes)", app_s, len(app_left), app_left == kept,
             " | ".join(app_lines)),
        ]
        if Path(args.distribution).exists():
            config = seed_distribution(work / "distribution", content, args.repos)
            dist_s = distribution_gc(args.distribution, config)
            v2 = work / "distribution" / "storage" / "docker" / "registry" / "v2"
            dist_left = blob_files(v2 / "blobs")
            # distribution stores manifests as blobs too: the tagged half's manifests stay as well
            dist_kept = kept | {m.split(":")[1] for i, (m, _, _) in enumerate(content) if i % 2 == 0}
            rows.append(("distribution 3.x (offline)", dist_s, len(dist_left), dist_left == dist_kept,
                         "garbage-collect --delete-untagged"))
        else:
            print(f"{args.distribution}: missing (scripts/build-go-tools distribution); left out",
                  file=sys.stderr)
        print(f"{n} manifests, {5 * n} blobs of {args.blob_size} B, {args.repos} repositories; "
              "half the tags deleted")
        print(f"{'collector':34} {'seconds':>8} {'blob files left':>16} {'exactly the kept ones':>22}")
        for name, secs, left, exact, note in rows:
            print(f"{name:34} {secs:8.2f} {left:16d} {exact!s:>22}  {note}")
        return 0 if all(r[3] for r in rows) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""Online garbage collection end to end (docs/gc.md): the real server with its GC workers, images
pushed and pulled with skopeo, blob files checked on disk, `registry-app gc --dry-run` as an
operator runs it, and the race: eight skopeo clients pushing images that share layers while GC runs
continuously (in the server on SQLite; in two `registry-app worker gc blob-gc` processes on
PostgreSQL), then every tagged manifest's blobs read back."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients
from tests.support.images import OciImage, build_image
from tests.support.oci import Client
from tests.support.server import RegistryServer, WorkerProcess

# A short time machine and grace so that the test sees collection happen; GC every second.
FAST_GC = {
    "DEFAULT_TAG_EXPIRATION": "1s",
    "TAG_EXPIRATION_OPTIONS": ["0s", "1s", "1d"],
    "REGISTRY_APP_GC_GRACE": "1s",
    "GARBAGE_COLLECTION_FREQUENCY": 1,
}
WAIT_S = 120.0  # an upper bound for the workers to get there on a busy machine, not a timing claim


def storage_has(server: RegistryServer, digest: str) -> bool:
    """The blob's file in the bundle's LocalStorage (``blobs/<alg>/<hex[:2]>/<hex>``)."""
    assert server.config_dir is not None
    alg, hexpart = digest.split(":", 1)
    return (server.config_dir.parent / "storage" / "blobs" / alg / hexpart[:2] / hexpart).is_file()


def wait_until(what: str, cond: Callable[[], bool], server: RegistryServer) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT_S}s: {what}\n{server.log()[-4000:]}")
        time.sleep(0.5)


def login(cc: ContainersClients, server: RegistryServer) -> None:
    cc.skopeo("login", "--tls-verify=false", "--username", ADMIN[0], "--password-stdin", server.host, input=ADMIN[1])


def push(cc: ContainersClients, server: RegistryServer, img: OciImage, repo: str, tag: str) -> None:
    cc.skopeo(
        "copy", "--retry-times", "3", "--dest-tls-verify=false", img.ref, f"docker://{server.host}/{repo}:{tag}"
    )


def blobs_of(img: OciImage) -> set[str]:
    """Config and layers (not the manifest itself, which lives in the database)."""
    manifest = json.loads(img.manifest)
    return {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}


@pytest.fixture
def gc_server(tmp_path: Path) -> Iterator[RegistryServer]:
    server = bundle_server(tmp_path, admin=True, **FAST_GC)
    with server.start():
        yield server


def test_deleted_tags_free_their_unique_blobs_and_shared_ones_stay(
    gc_server: RegistryServer, cc: ContainersClients, tmp_path: Path
) -> None:
    images = {t: build_image(tmp_path / "layout", t, seed="shared-base") for t in ("a", "b", "c")}
    login(cc, gc_server)
    for tag, img in images.items():
        push(cc, gc_server, img, "admin/gc", tag)
    shared = blobs_of(images["a"]) & blobs_of(images["b"]) & blobs_of(images["c"])
    unique = (blobs_of(images["b"]) | blobs_of(images["c"])) - blobs_of(images["a"])
    assert shared and unique and all(storage_has(gc_server, d) for d in shared | unique)
    v2 = Client(gc_server.url, auth=ADMIN)
    for tag in ("b", "c"):
        assert v2.http.delete(f"/v2/admin/gc/manifests/{tag}").status_code == 202
    wait_until("the unique blobs of b and c are gone from disk",
               lambda: not any(storage_has(gc_server, d) for d in unique), gc_server)
    assert all(storage_has(gc_server, d) for d in blobs_of(images["a"]))
    for tag in ("b", "c"):
        assert v2.http.get(f"/v2/admin/gc/manifests/{images[tag].digest}").status_code == 404
    out = tmp_path / "pulled"
    cc.skopeo("copy", "--src-tls-verify=false", f"docker://{gc_server.host}/admin/gc@{images['a'].digest}",
              f"oci:{out}:a")
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == images["a"].digest


def test_repository_delete_frees_its_storage(gc_server: RegistryServer, cc: ContainersClients, tmp_path: Path) -> None:
    keep = build_image(tmp_path / "layout", "keep", seed="kept-seed")
    doomed = build_image(tmp_path / "layout", "doomed", seed="doomed-seed")
    login(cc, gc_server)
    push(cc, gc_server, keep, "admin/keep", "v1")
    push(cc, gc_server, doomed, "admin/doomed", "v1")
    push(cc, gc_server, keep, "admin/doomed", "keep")  # its blobs also live in admin/keep
    only_doomed = blobs_of(doomed) - blobs_of(keep)
    assert all(storage_has(gc_server, d) for d in only_doomed)
    api = Client(gc_server.url, auth=ADMIN)
    assert api.http.delete("/api/v1/repository/admin/doomed").status_code == 204
    wait_until("the deleted repository's blobs are gone from disk",
               lambda: not any(storage_has(gc_server, d) for d in only_doomed), gc_server)
    assert all(storage_has(gc_server, d) for d in blobs_of(keep))
    assert api.http.get(f"/v2/admin/keep/manifests/{keep.digest}").status_code == 200


def test_gc_cli_dry_run_then_real_pass(tmp_path: Path, cc: ContainersClients) -> None:
    server = bundle_server(tmp_path, admin=True, **{**FAST_GC, "GARBAGE_COLLECTION_FREQUENCY": 0})
    img = build_image(tmp_path / "layout", "once", seed="cli-seed")
    with server.start():
        login(cc, server)
        push(cc, server, img, "admin/cli", "once")
        assert Client(server.url, auth=ADMIN).http.delete("/v2/admin/cli/manifests/once").status_code == 202
    time.sleep(2.5)  # let the one-second window and grace pass (nothing is asserted about time)

    def gc(*args: str) -> str:
        res = server.cli("gc", *args)
        return res.stdout.decode()

    dry = gc("--dry-run")
    assert f"would remove manifest {img.digest}" in dry
    assert re.search(r"^gc would remove: 1 manifests, 0 blobs, 0 bytes", dry, re.M), dry
    assert gc("--dry-run") == dry  # a dry run removed nothing
    real = gc()
    assert f"removed manifest {img.digest}" in real and "gc removed: 1 manifests, 0 blobs" in real
    time.sleep(1.5)  # the links touched by that pass outlive one grace period
    manifest = json.loads(img.manifest)
    size = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    dry = gc("--dry-run")
    n = len(blobs_of(img))  # the config and three layers
    assert re.search(rf"^gc would remove: 0 manifests, {n} blobs, {size} bytes", dry, re.M), dry
    assert all(storage_has(server, d) for d in blobs_of(img))
    real = gc()
    assert re.search(rf"^gc removed: 0 manifests, {n} blobs, {size} bytes", real, re.M), real
    assert not any(storage_has(server, d) for d in blobs_of(img))


def _race(server: RegistryServer, cc: ContainersClients, tmp_path: Path) -> None:
    """Eight skopeo clients, two repositories, images sharing two base layers; each client pushes
    four images to one tag name, so every push leaves the previous image for the collector."""
    layout = tmp_path / "race"
    images = [[build_image(layout, f"c{c}-{i}", seed="race-base") for i in range(4)] for c in range(8)]
    login(cc, server)

    def client(c: int) -> None:
        for img in images[c]:
            push(cc, server, img, f"admin/race{c % 2}", f"c{c}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    # The collectors ran throughout; let them finish with what the pushes left behind (each
    # client's first three images), so that the check below also follows a full collection.
    replaced = set().union(*(blobs_of(img) for c in range(8) for img in images[c][:3]))
    replaced -= set().union(*(blobs_of(images[c][3]) for c in range(8)))
    assert replaced
    wait_until("the replaced images' own blobs are collected",
               lambda: not any(storage_has(server, d) for d in replaced), server)
    v2 = Client(server.url, auth=ADMIN)
    checked = 0
    for repo in ("admin/race0", "admin/race1"):
        tags = v2.http.get(f"/v2/{repo}/tags/list").json()["tags"]
        assert sorted(tags) == sorted(f"c{c}" for c in range(8) if c % 2 == int(repo[-1]))
        for tag in tags:
            r = v2.http.get(f"/v2/{repo}/manifests/{tag}", headers={"accept": images[0][0].media_type})
            assert r.status_code == 200, r.text
            manifest: dict[str, Any] = r.json()
            for desc in [manifest["config"], *manifest["layers"]]:
                blob = v2.http.get(f"/v2/{repo}/blobs/{desc['digest']}", follow_redirects=True)
                assert blob.status_code == 200, (repo, tag, desc, blob.text)
                assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == desc["digest"]
                checked += 1
    assert checked == 8 * 4  # eight tags, each a config and three layers


def test_race_on_sqlite_with_gc_in_the_server(gc_server: RegistryServer, cc: ContainersClients, tmp_path: Path) -> None:
    _race(gc_server, cc, tmp_path)


@pytest.mark.postgres
def test_race_on_postgres_with_two_worker_processes(tmp_path: Path, pg_database: str, cc: ContainersClients) -> None:
    server = bundle_server(tmp_path, prefix="pg-", admin=True, DB_URI=pg_database, **FAST_GC)
    server.serve_args = ("--no-workers",)
    workers = [WorkerProcess(server, ("gc", "blob-gc")) for _ in range(2)]
    with server.start():
        for w in workers:
            w.start()
        try:
            _race(server, cc, tmp_path)
        finally:
            codes = [w.stop() for w in workers]
        logs = "".join(w.log() for w in workers)
        assert codes == [0, 0], logs
        assert "round failed" not in logs, logs
        assert re.search(r"gc: \d+ blobs deleted", logs), logs  # the worker processes collected them

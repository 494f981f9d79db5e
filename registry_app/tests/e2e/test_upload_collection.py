"""Abandoned uploads are collected, uploads in use never are, and open uploads are bounded per
account (issue 9, item 8).

Against the real server on a config bundle: the background collector (the ``uploads`` worker, in
the server or in ``registry-app worker uploads``) with an age of a few seconds
(REGISTRY_APP_UPLOAD_MAX_AGE), and ``registry-app uploads cleanup`` on uploads whose age the test
sets in the database and on the file (a day old, crash leftovers), so that what is old and what is
fresh does not depend on how fast this machine is.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.oci import error_code, sha256
from tests.support.server import RegistryServer, WorkerProcess

DAY_MS = 86_400_000
OCTETS = {"content-type": "application/octet-stream"}


class Uploads:
    """The server's upload rows (SQLite) and files (LocalStorage), as the test sees them."""

    def __init__(self, base: Path) -> None:
        self.db = base / "registry.db"
        self.dir = base / "storage" / "uploads"

    def rows(self) -> dict[str, int]:
        with sqlite3.connect(self.db) as conn:
            return dict(conn.execute("SELECT id, updated_ms FROM upload").fetchall())

    def files(self) -> set[str]:
        return {p.name for p in self.dir.iterdir() if not p.name.startswith(".")}

    def exists(self, upload_id: str) -> tuple[bool, bool]:
        return upload_id in self.rows(), upload_id in self.files()

    def age(self, upload_id: str, ms: int, row: bool = True, file: bool = True) -> None:
        """Make the upload look idle for ``ms``: its row's last activity and its file's mtime."""
        then = int(time.time() * 1000) - ms
        if row:
            with sqlite3.connect(self.db) as conn:
                assert conn.execute("UPDATE upload SET updated_ms = ? WHERE id = ?", (then, upload_id)).rowcount == 1
        if file:
            os.utime(self.dir / upload_id, (then / 1000, then / 1000))


def start(http: httpx.Client, repo: str, data: bytes = b"") -> tuple[str, str]:
    """A new upload (with ``data`` PATCHed into it): (upload id, location)."""
    r = http.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    if data:
        r = http.patch(location, content=data, headers=OCTETS)
        assert r.status_code == 202, r.text
    return r.headers["docker-upload-uuid"], location


def wait_for(what: str, check: Callable[[], bool], deadline_s: float = 90.0) -> None:
    """Poll ``check()`` until true (a wait for the background job, not a timing assertion)."""
    end = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < end, f"{what}: not within {deadline_s:.0f}s"
        time.sleep(0.2)


def server_on(tmp_path: Path, **config: object) -> RegistryServer:
    return bundle_server(tmp_path, admin=True, FEATURE_SUPERUSERS_FULL_ACCESS=True, **config)


HttpOf = Callable[..., httpx.Client]


@pytest.fixture
def http_of() -> Iterator[HttpOf]:
    """``http_of(server, auth=ADMIN)``: an httpx client for the server, closed after the test."""
    clients: list[httpx.Client] = []

    def make(server: RegistryServer, auth: tuple[str, str] = ADMIN) -> httpx.Client:
        c = httpx.Client(base_url=server.url, auth=auth, timeout=120)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# -- the background job --------------------------------------------------------------------------
def test_background_job_collects_idle_uploads_but_not_one_being_patched(tmp_path: Path, http_of: HttpOf) -> None:
    """Age 4 s, a round every second. An idle upload goes (row and file); an upload whose PATCH
    keeps streaming bytes slowly through the round that removed the idle one, for longer than
    the age, is kept and completes: the age counts from the last activity, not from creation."""
    server = server_on(tmp_path, REGISTRY_APP_UPLOAD_MAX_AGE="4s", REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL="1s")
    uploads = Uploads(tmp_path)
    with server.start():
        http = http_of(server)
        idle_id, idle_location = start(http, "admin/coll", b"bytes nobody will finish")
        assert uploads.exists(idle_id) == (True, True)

        busy_id, busy_location = start(http, "admin/coll")
        idle_gone = threading.Event()
        chunks: list[bytes] = []

        def trickle() -> Iterator[bytes]:
            started = time.monotonic()
            # Past the round that removes the idle upload, and for longer than the age in all.
            while not idle_gone.is_set() or time.monotonic() - started < 8 or len(chunks) < 10:
                chunk = os.urandom(1024)
                chunks.append(chunk)
                yield chunk
                time.sleep(0.5)
                if time.monotonic() - started > 120:  # the idle one was never collected: stop
                    break

        result: dict[str, httpx.Response] = {}
        other = http_of(server)

        def patch() -> None:
            result["patch"] = other.patch(busy_location, content=trickle(), headers=OCTETS)

        patcher = threading.Thread(target=patch)
        patcher.start()
        try:
            wait_for("the idle upload to be collected", lambda: uploads.exists(idle_id) == (False, False))
        finally:
            idle_gone.set()
            patcher.join(timeout=180)
        assert result["patch"].status_code == 202, result["patch"].text
        data = b"".join(chunks)
        assert int(result["patch"].headers["range"].split("-")[1]) == len(data) - 1
        r = http.put(busy_location, params={"digest": sha256(data)})
        assert r.status_code == 201, r.text
        assert http.get(f"/v2/admin/coll/blobs/{sha256(data)}").content == data
        assert busy_id not in uploads.rows()  # completed: the row went with the completion

        # The collected upload is unknown to the registry now, as after a DELETE.
        r = http.patch(idle_location, content=b"more", headers=OCTETS)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN", r.text
    assert "Traceback" not in server.log()


def test_worker_process_collects_for_servers_without_workers(tmp_path: Path, http_of: HttpOf) -> None:
    """``serve --no-workers`` leaves the collector out; ``registry-app worker uploads`` beside it
    removes an abandoned upload (row and file) under the lease ``upload-collector`` and gives the
    lease back when it stops on SIGTERM."""
    server = server_on(tmp_path, REGISTRY_APP_UPLOAD_MAX_AGE="4s", REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL="1s")
    server.serve_args = ("--no-workers",)
    uploads = Uploads(tmp_path)

    def lease() -> list[tuple[str, int]]:
        with sqlite3.connect(uploads.db) as conn:
            query = "SELECT holder, expires_ms FROM worker_lease WHERE name = 'upload-collector'"
            return conn.execute(query).fetchall()

    with server.start():
        assert "background workers: off" in server.log()
        http = http_of(server)
        idle_id, idle_location = start(http, "admin/apart", b"abandoned")
        uploads.age(idle_id, DAY_MS)
        kept_id, _ = start(http, "admin/apart", b"fresh")
        assert lease() == []  # the server process took no collector lease
        worker = WorkerProcess(server, ("uploads",)).start()
        try:
            wait_for("the worker process to collect", lambda: uploads.exists(idle_id) == (False, False))
            [(holder, _expires)] = lease()
            assert worker.proc is not None and holder.split(":")[1] == str(worker.proc.pid)
        finally:
            code = worker.stop()
        assert code == 0, worker.log()
        assert "uploads: removed 1 uploads (1 idle)" in worker.log(), worker.log()
        assert "uploads: stopped (" in worker.log()
        assert [expires for _, expires in lease()] == [0]  # given back at once
        assert uploads.exists(kept_id) == (True, True)
        r = http.patch(idle_location, content=b"more", headers=OCTETS)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN", r.text


# -- the command line -----------------------------------------------------------------------------
def test_cli_cleanup_dry_run_then_real(tmp_path: Path, http_of: HttpOf) -> None:
    """``registry-app uploads cleanup``: an upload idle for a day, a file no row knows (a crash
    before the row was written) and a row whose file is gone (a crash mid-completion) are listed
    by ``--dry-run`` and left in place, then removed; a fresh upload, a fresh orphan file (still
    within the grace period) and a fresh row are kept, and the fresh upload completes."""
    server = server_on(tmp_path, REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL="0s")  # no background job here
    uploads = Uploads(tmp_path)
    with server.start():
        http = http_of(server)
        old_id, old_location = start(http, "admin/cli", b"a day old" * 100)
        uploads.age(old_id, DAY_MS + 60_000)
        fresh_data = b"fresh bytes"
        fresh_id, fresh_location = start(http, "admin/cli", fresh_data)
        orphan_file = str(uuid.uuid4())
        (uploads.dir / orphan_file).write_bytes(b"left by a crash" * 10)
        uploads.age(orphan_file, 3600_000, row=False)
        young_orphan = str(uuid.uuid4())
        (uploads.dir / young_orphan).write_bytes(b"being started right now")
        orphan_row, _ = start(http, "admin/cli", b"its file is lost")
        (uploads.dir / orphan_row).unlink()
        uploads.age(orphan_row, 20 * 60_000, file=False)  # past the 15-minute grace, within the day

        before = (uploads.rows(), uploads.files())
        dry = server.cli("uploads", "cleanup", "--dry-run")
        out = dry.stdout.decode()
        assert f"would remove {old_id}: idle" in out, out
        assert f"would remove {orphan_file}: file without a row, 150 bytes" in out, out
        assert f"would remove {orphan_row}: row without a file" in out, out
        assert fresh_id not in out and young_orphan not in out, out
        assert "would remove 3 uploads" in out, out
        assert (uploads.rows(), uploads.files()) == before  # nothing removed

        real = server.cli("uploads", "cleanup")
        out = real.stdout.decode()
        assert "removed 3 uploads" in out and f"removed {old_id}: idle, 900 bytes" in out, out
        assert set(uploads.rows()) == {fresh_id}
        assert uploads.files() == {fresh_id, young_orphan}

        r = http.patch(old_location, content=b"more", headers=OCTETS)
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN", r.text
        r = http.put(fresh_location, params={"digest": sha256(fresh_data)})
        assert r.status_code == 201, r.text
        assert http.get(f"/v2/admin/cli/blobs/{sha256(fresh_data)}").content == fresh_data

        again = server.cli("uploads", "cleanup", "--older-than", "1w")
        assert "removed no uploads" in again.stdout.decode()
        bad = server.cli("uploads", "cleanup", "--older-than", "soon", check=False)
        assert bad.returncode == 2 and b"--older-than" in bad.stderr


# -- the bound on open uploads ------------------------------------------------------------------
def test_open_uploads_are_bounded_per_account(tmp_path: Path, http_of: HttpOf) -> None:
    server = server_on(tmp_path, REGISTRY_APP_MAX_OPEN_UPLOADS=3, REGISTRY_APP_UPLOAD_CLEANUP_INTERVAL="0s")
    server.create_user("bob", "bob-password-1234")
    with server.start():
        admin = http_of(server)
        bob = http_of(server, ("bob", "bob-password-1234"))
        opened = [start(admin, f"admin/bound{i}") for i in range(3)]  # the bound counts across repositories
        r = admin.post("/v2/admin/bound9/blobs/uploads/")
        assert r.status_code == 429 and error_code(r) == "TOOMANYREQUESTS", r.text
        assert "too many open uploads" in r.text and r.headers["retry-after"].isdigit()
        data = b"monolithic"
        r = admin.post("/v2/admin/bound9/blobs/uploads/", params={"digest": sha256(data)}, content=data)
        assert r.status_code == 429, r.text  # a monolithic upload is an upload too
        # Another account is not affected.
        assert start(bob, "bob/mine")[0]
        # Finishing or cancelling one makes room.
        _, location = opened[0]
        assert admin.delete(location).status_code == 204
        _, location = start(admin, "admin/bound9", data)
        assert admin.put(location, params={"digest": sha256(data)}).status_code == 201
        r = admin.post("/v2/admin/bound9/blobs/uploads/", params={"digest": sha256(b"x")}, content=b"x")
        assert r.status_code == 201, r.text
        assert admin.post("/v2/admin/bound9/blobs/uploads/").status_code == 202
        assert admin.post("/v2/admin/bound9/blobs/uploads/").status_code == 429

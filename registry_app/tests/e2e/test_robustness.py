"""Crashes, races and broken environments against the real server."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.oci import Client, Image, error_code, sha256
from tests.support.server import RegistryServer, registry_app_bin

MiB = 1024 * 1024
AUTH = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()


def _pattern(size: int, seed: int = 7) -> bytes:
    block = hashlib.sha512(str(seed).encode()).digest() * (MiB // 64)
    return (block * (size // MiB + 1))[:size]


def _stream_then_die(server: RegistryServer, method: str, path: str, data: bytes, kill_after: int,
                     extra_headers: dict[str, str] | None = None) -> BaseException | None:
    """Send ``data`` slowly enough that the server is SIGKILLed after ``kill_after`` bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"authorization": AUTH, "content-length": str(len(data)), "content-type": "application/octet-stream",
               **(extra_headers or {})}
    conn.putrequest(method, path)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    sent = 0
    try:
        while sent < len(data):
            conn.send(data[sent:sent + MiB])
            sent += MiB
            if sent >= kill_after and server.proc is not None and server.proc.poll() is None:
                time.sleep(0.3)  # let the server write what it has received
                server.kill()
        conn.getresponse().read()
    except (OSError, http.client.HTTPException) as exc:
        return exc
    finally:
        conn.close()
    return None


@pytest.fixture
def crash_server(tmp_path: Path) -> Iterator[RegistryServer]:
    server = RegistryServer(data_dir=tmp_path / "data", workers=2)
    server.create_user(*ADMIN, superuser=True)
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_sigkill_during_200mib_upload(crash_server: RegistryServer) -> None:
    server = crash_server
    data = _pattern(200 * MiB)
    digest = sha256(data)
    c = Client(server.url, auth=ADMIN)

    # 1) monolithic PUT, killed at ~100 MiB
    loc = c.http.post("/v2/admin/crash/blobs/uploads/").headers["location"]
    err = _stream_then_die(server, "PUT", f"{loc}?digest={digest}", data, 100 * MiB)
    assert err is not None, "the server should have died mid-request"
    c.close()
    server.start()
    c = Client(server.url, auth=ADMIN)
    assert c.http.head(f"/v2/admin/crash/blobs/{digest}").status_code == 404
    assert c.http.get(f"/v2/admin/crash/blobs/{digest}").status_code == 404
    stored = [p for p in (server.data_dir / "storage" / "blobs").rglob("*") if p.is_file()]
    assert stored == [], "nothing partial may be published as a blob"
    img_manifest = Image(b"{}", [data]).manifest()
    r = c.put_manifest("admin/crash", "v1", img_manifest)
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"

    # 2) chunked upload (16 MiB PATCHes), killed during the 5th chunk: the upload resumes
    loc = c.http.post("/v2/admin/crash/blobs/uploads/").headers["location"]
    chunk = 16 * MiB
    for i in range(4):
        part = data[i * chunk:(i + 1) * chunk]
        r = c.http.patch(loc, content=part, headers={"content-range": f"{i * chunk}-{(i + 1) * chunk - 1}"})
        assert r.status_code == 202, r.text
        loc = r.headers["location"]
    fifth = data[4 * chunk:5 * chunk]
    err = _stream_then_die(server, "PATCH", loc, fifth, 8 * MiB,
                           {"content-range": f"{4 * chunk}-{5 * chunk - 1}"})
    assert err is not None
    c.close()
    server.start()
    c = Client(server.url, auth=ADMIN)
    status = c.http.get(loc)
    assert status.status_code == 204 and status.headers["range"] == f"0-{4 * chunk - 1}"
    off = 4 * chunk
    while off < len(data):
        part = data[off:off + chunk]
        r = c.http.patch(loc, content=part, headers={"content-range": f"{off}-{off + len(part) - 1}"})
        assert r.status_code == 202, r.text
        loc, off = r.headers["location"], off + len(part)
    assert c.http.put(loc, params={"digest": digest}).status_code == 201

    # 3) a plain retry of the monolithic push also succeeds; the blob served is the whole blob
    assert c.push_blob("admin/crash2", data).status_code == 201
    h = hashlib.sha256()
    with c.http.stream("GET", f"/v2/admin/crash2/blobs/{digest}") as resp:
        assert resp.status_code == 200
        for part in resp.iter_bytes():
            h.update(part)
    assert "sha256:" + h.hexdigest() == digest
    c.close()


def test_eight_clients_same_blob_same_tag(crash_server: RegistryServer) -> None:
    server = crash_server
    shared = _pattern(3 * MiB, seed=3)
    config = b'{"architecture":"amd64","os":"linux"}'
    same = Image(config, [shared])
    different = [Image(config, [shared, os.urandom(1024)]) for _ in range(8)]

    def push(i: int) -> list[int]:
        c = Client(server.url, auth=ADMIN)
        try:
            codes = []
            if i % 2:
                codes.append(c.push_blob("admin/race", shared).status_code)
            else:
                codes.append(c.push_blob_chunked("admin/race", shared, MiB).status_code)
            codes.append(c.push_blob("admin/race", config).status_code)
            codes.append(c.put_manifest("admin/race", "same", same.manifest()).status_code)
            codes.append(c.push_blob("admin/race", different[i].layers[1]).status_code)
            codes.append(c.put_manifest("admin/race", "contended", different[i].manifest()).status_code)
            return codes
        finally:
            c.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(push, range(8)))
    assert all(code == 201 for codes in results for code in codes), results

    c = Client(server.url, auth=ADMIN)
    tags = c.http.get("/v2/admin/race/tags/list").json()["tags"]
    assert tags == ["contended", "same"]
    r = c.http.get("/v2/admin/race/manifests/same")
    assert r.content == same.manifest()
    final = c.http.get("/v2/admin/race/manifests/contended").content
    assert final in [img.manifest() for img in different]
    for img in different:  # every manifest pushed stays reachable by digest
        assert c.http.head(f"/v2/admin/race/manifests/{sha256(img.manifest())}").status_code == 200
    blob = c.http.get(f"/v2/admin/race/blobs/{sha256(shared)}")
    assert blob.content == shared
    assert "Traceback" not in server.log()
    c.close()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "data" / "storage"
    mnt.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        from tests.conftest import missing_dependency

        missing_dependency(f"cannot mount a tmpfs for the full-disk test: {proc.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_storage_gives_clear_error_and_recovers(tmp_path: Path, tmpfs: Path) -> None:
    server = RegistryServer(data_dir=tmp_path / "data")
    server.create_user(*ADMIN, superuser=True)
    server.start()
    try:
        c = Client(server.url, auth=ADMIN)
        big = os.urandom(64 * MiB)
        r = c.push_blob("admin/full", big)
        assert r.status_code == 507, r.text
        msg = r.json()["errors"][0]["message"]
        assert "no space left" in msg and "Traceback" not in r.text
        assert c.http.head(f"/v2/admin/full/blobs/{sha256(big)}").status_code == 404
        # the partial upload was dropped, so a blob that fits still goes in
        small = os.urandom(MiB)
        assert c.push_blob("admin/full", small).status_code == 201
        assert c.http.get(f"/v2/admin/full/blobs/{sha256(small)}").content == small
        c.close()
    finally:
        server.stop()


def test_read_only_storage(tmp_path: Path, tmpfs: Path) -> None:
    server = RegistryServer(data_dir=tmp_path / "data")
    server.create_user(*ADMIN, superuser=True)
    server.start()
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
        c = Client(server.url, auth=ADMIN)
        r = c.http.post("/v2/admin/ro/blobs/uploads/")
        assert r.status_code == 503 and "not writable" in r.json()["errors"][0]["message"], r.text
        health = httpx.get(f"{server.url}/health/instance")
        assert health.status_code == 503 and health.json()["data"]["services"]["disk_space"] is False
        c.close()
    finally:
        server.stop()
    # and at start-up: refuse with a one-line reason, no traceback
    proc = subprocess.run([registry_app_bin(), "serve", "--bind", "127.0.0.1:1", "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4
    assert "not writable" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_database_is_reported_without_secrets(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.yaml").write_text(
        "SERVER_HOSTNAME: localhost:1\n"
        "DB_URI: postgresql://quay:sup3r-s3cret@127.0.0.1:1/quay\n"
        "DISTRIBUTED_STORAGE_CONFIG: {default: [LocalStorage, {storage_path: %s}]}\n"
        "DISTRIBUTED_STORAGE_PREFERENCE: [default]\n" % (tmp_path / "storage")
    )
    for args in (["serve", "--bind", "127.0.0.1:1"], ["migrate"]):
        proc = subprocess.run([registry_app_bin(), *args, "--config-dir", str(bundle)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 3, proc.stderr
        assert "127.0.0.1:1" in proc.stderr and "sup3r-s3cret" not in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr


def test_broken_config_fails_before_start(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.yaml").write_text("SERVER_HOSTNAME: x\nDB_URI: sqlite:///x.db\nFEATURE_ANONYMOUS_ACCESS: maybe\n")
    proc = subprocess.run([registry_app_bin(), "serve", "--bind", "127.0.0.1:1", "--config-dir", str(bundle)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "FEATURE_ANONYMOUS_ACCESS: expected boolean" in proc.stderr
    assert "DISTRIBUTED_STORAGE_CONFIG: required key is missing" in proc.stderr




"""Client-facing errors carry no internals; the server log keeps the detail (issue 9, item 5).

A storage error (the upload area made immutable with chattr, since tests run as root and file
modes do not stop root; and the concurrent completion of one upload, which answered 503 with the
absolute path of the storage directory) and a database outage (real PostgreSQL refusing the
registry's role) must answer a 4xx/5xx whose body names no path of the data directory, no
database driver or server, no system error text and no traceback, with a reference that the
server log has on the line holding the detail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from psycopg import sql

from tests.conftest import ADMIN, missing_dependency
from tests.support.oci import Client, Image, error_code, sha256
from tests.support.postgres import PostgresServer
from tests.support.server import RegistryServer

REFERENCE = re.compile(r"reference ([0-9a-f]{8})")
# Words that only come from the inside of the server: drivers, system errors, tracebacks.
INTERNAL_WORDS = ("sqlite", "psycopg", "sqlalchemy", "postgres", "FATAL", "Traceback", "Errno",
                  "Operation not permitted", "No such file", "File \"")


def assert_no_internals(resp: httpx.Response, *secrets_: str) -> str:
    """The body names nothing internal; returns the reference it gives (every 5xx gives one)."""
    text = resp.text
    assert "/" not in "".join(re.findall(r'"message": "([^"]*)"', text)), text  # no path in /v2 messages
    for word in (*INTERNAL_WORDS, *secrets_):
        assert word.lower() not in text.lower(), f"{word!r} in the response: {text}"
    found = REFERENCE.search(text)
    if resp.status_code >= 500:
        assert found, f"a 5xx without a reference: {text}"
    return found.group(1) if found else ""


def assert_logged(server: RegistryServer, ref: str, *words: str) -> None:
    """The server log has the reference on a line that holds the detail."""
    lines = [line for line in server.log().splitlines() if f"ref {ref}" in line]
    assert lines, f"reference {ref} is not in the server log:\n{server.log()[-3000:]}"
    assert any(all(w in line for w in words) for line in lines), (words, lines)


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i``: not even root can create, rename or write there until it is lifted."""
    if shutil.which("chattr") is None:
        missing_dependency("chattr (e2fsprogs) is needed to make storage unwritable for root")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        missing_dependency(f"chattr +i does not work on {path}'s filesystem")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def http(registry: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60) as c:
        yield c


def uploads_dir(server: RegistryServer) -> Path:
    return server.data_dir / "storage" / "uploads"


# -- storage ------------------------------------------------------------------------------------
def test_storage_error_on_start(registry: RegistryServer, http: httpx.Client) -> None:
    with immutable(uploads_dir(registry)):
        r = http.post("/v2/admin/st/blobs/uploads/")
    assert r.status_code == 503 and error_code(r) == "UNKNOWN", r.text
    assert "storage is not writable" in r.text
    ref = assert_no_internals(r, str(registry.data_dir))
    assert_logged(registry, ref, str(uploads_dir(registry)), "Operation not permitted")


def test_storage_error_on_patch_and_complete(registry: RegistryServer, http: httpx.Client) -> None:
    data = b"some bytes of a layer" * 100
    r = http.post("/v2/admin/st/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    upload = uploads_dir(registry) / r.headers["docker-upload-uuid"]
    with immutable(upload):
        r = http.patch(location, content=data, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 503, r.text
    ref = assert_no_internals(r, str(registry.data_dir))
    assert_logged(registry, ref, str(upload))
    r = http.patch(location, content=data, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 202, r.text  # nothing was lost: the upload goes on
    with immutable(uploads_dir(registry)):  # the blob cannot be renamed out of the upload area
        r = http.put(location, params={"digest": sha256(data)})
    assert r.status_code == 503, r.text
    ref = assert_no_internals(r, str(registry.data_dir))
    assert_logged(registry, ref, "committing", str(registry.data_dir))
    r = http.put(location, params={"digest": sha256(data)})
    assert r.status_code == 201, r.text
    assert http.get(f"/v2/admin/st/blobs/{sha256(data)}").content == data


def test_concurrent_completion_of_one_upload(registry: RegistryServer) -> None:
    """The probe: several PUTs finish the same upload at once. One publishes the blob; the others
    find the upload gone (404 BLOB_UPLOAD_UNKNOWN), never a 5xx naming the storage path."""
    data = b"x" * (2 * 1024 * 1024)
    digest = sha256(data)
    clients = [httpx.Client(base_url=registry.url, auth=ADMIN, timeout=120) for _ in range(6)]
    try:
        for round_ in range(4):
            r = clients[0].post(f"/v2/admin/race{round_}/blobs/uploads/")
            assert r.status_code == 202, r.text
            location = r.headers["location"]
            r = clients[0].patch(location, content=data, headers={"content-type": "application/octet-stream"})
            assert r.status_code == 202, r.text
            with ThreadPoolExecutor(len(clients)) as pool:
                answers = list(pool.map(lambda c, url=location: c.put(url, params={"digest": digest}), clients))
            statuses = sorted(a.status_code for a in answers)
            assert 201 in statuses and set(statuses) <= {201, 404}, [(a.status_code, a.text) for a in answers]
            for a in answers:
                assert_no_internals(a, str(registry.data_dir))
                if a.status_code == 404:
                    assert error_code(a) == "BLOB_UPLOAD_UNKNOWN", a.text
            assert clients[0].get(f"/v2/admin/race{round_}/blobs/{digest}").content == data
    finally:
        for c in clients:
            c.close()
    assert "Traceback" not in registry.log()


# -- database -----------------------------------------------------------------------------------
def role_of(db_uri: str) -> tuple[str, str, str]:
    parts = urlsplit(db_uri)
    return parts.username or "", parts.path.lstrip("/"), str(parts.port)


def set_login(postgres: PostgresServer, role: str, allowed: bool) -> None:
    statements = [sql.SQL("ALTER ROLE {} " + ("LOGIN" if allowed else "NOLOGIN")).format(sql.Identifier(role))]
    if not allowed:  # and drop the registry's open connections
        statements.append(
            sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}").format(
                sql.Literal(role)
            )
        )
    postgres.execute(statements)


@pytest.mark.postgres
def test_database_outage(pg_registry: RegistryServer, pg_database: str, postgres_server: PostgresServer) -> None:
    role, dbname, port = role_of(pg_database)
    client = Client(pg_registry.url, auth=ADMIN)
    try:
        assert client.push_image("admin/db", Image.random(), "v1").status_code == 201
    finally:
        client.close()
    token = pg_registry.v2_token(ADMIN, scope="repository:admin/db:pull").json()["token"]
    set_login(postgres_server, role, allowed=False)
    try:
        answers = [
            # a registry token: the first database call is the repository lookup
            httpx.get(f"{pg_registry.url}/v2/admin/db/tags/list", headers={"authorization": f"Bearer {token}"}),
            # Basic credentials: the account lookup fails first
            httpx.get(f"{pg_registry.url}/v2/admin/db/tags/list", auth=ADMIN),
            pg_registry.v2_token(ADMIN, scope="repository:admin/db:pull"),
            httpx.get(f"{pg_registry.url}/api/v1/repository/admin/db", auth=ADMIN),
            httpx.get(f"{pg_registry.url}/api/v1/repository", params={"namespace": "admin"}, auth=ADMIN),
        ]
        for r in answers:
            assert r.status_code == 503, (r.request.url, r.status_code, r.text)
            assert "database unavailable" in r.text, r.text
            ref = assert_no_internals(r, role, dbname, port, ADMIN[1])
            assert_logged(pg_registry, ref, "database unavailable", role)
    finally:
        set_login(postgres_server, role, allowed=True)
    r = httpx.get(f"{pg_registry.url}/v2/admin/db/tags/list", auth=ADMIN)
    assert r.status_code == 200 and r.json()["tags"] == ["v1"], r.text  # back once the database is

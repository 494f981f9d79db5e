"""Memory and time a client can make the server spend (issue 9, items 1 and 6), against the real server.

- Memory does not grow with what a client asks for or sends: Range GETs of a big blob are
  streamed, every request body has a limit, and credentials are checked before a body is read
  (the server's RSS is watched while anonymous clients ask for 8 ranges of a 100 MiB blob and send two 200 MiB bodies).
- Slow clients cannot hold the server: a request body that stops arriving ends the request (408,
  connection closed) after REGISTRY_APP_BODY_IDLE_TIMEOUT, while other clients are served; an
  interrupted upload keeps its last complete size and can be finished.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.oci import Client, Image, error_code, sha256
from tests.support.rawhttp import Answer, basic, process_tree_rss, send_body, stream
from tests.support.server import RegistryServer

MiB = 1024 * 1024
BIG = 100 * MiB
HUGE_BODY = 200 * MiB
AUTH = basic(*ADMIN)


def pattern(size: int, seed: int = 9) -> Iterator[bytes]:
    """``size`` pseudo-random bytes in 1 MiB chunks, the same for a seed (nothing repeats, so a
    range served from a wrong offset has a different digest)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    left = size
    while left > 0:
        n = min(MiB, left)
        yield rng.randbytes(n)
        left -= n


def digest_from(offset: int, size: int) -> str:
    h = hashlib.sha256()
    pos = 0
    for chunk in pattern(size):
        if pos + len(chunk) > offset:
            h.update(chunk[max(0, offset - pos) :])
        pos += len(chunk)
    return "sha256:" + h.hexdigest()


def json_body(size: int) -> Iterator[bytes]:
    """A valid JSON document of about ``size`` bytes (a repository with a huge description)."""
    yield b'{"repository": "huge", "visibility": "public", "description": "'
    for _ in range(size // MiB):
        yield b"A" * MiB
    yield b'"}'


JSON_FRAME = len(b'{"repository": "huge", "visibility": "public", "description": "') + len(b'"}')


class RssWatch:
    """Samples the RSS of a process tree in a thread; ``peak`` is the highest sample."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = process_tree_rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, process_tree_rss(self.pid))

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, process_tree_rss(self.pid))


# -- item 1: memory ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_blob_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, str]]:
    """A server with two workers and a public repository ``admin/big`` holding a 100 MiB blob."""
    server = RegistryServer(data_dir=tmp_path_factory.mktemp("limits") / "data", workers=2)
    server.create_user(*ADMIN, superuser=True)
    with server.start():
        digest = digest_from(0, BIG)
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=300) as c:
            r = c.post("/v2/admin/big/blobs/uploads/")
            assert r.status_code == 202, r.text
            r = c.put(r.headers["location"], params={"digest": digest}, content=pattern(BIG))
            assert r.status_code == 201, r.text
        server.cli("repo", "visibility", "admin/big", "public")
        yield server, digest


def range_get(server: RegistryServer, digest: str, first: int) -> tuple[int, dict[str, str], str, int]:
    """An anonymous ``Range: bytes=FIRST-`` GET, read as a stream: status, headers, sha256, length."""
    h = hashlib.sha256()
    n = 0
    with httpx.stream(
        "GET", f"{server.url}/v2/admin/big/blobs/{digest}", headers={"range": f"bytes={first}-"}, timeout=300
    ) as r:
        for chunk in r.iter_raw(256 * 1024):
            h.update(chunk)
            n += len(chunk)
        return r.status_code, dict(r.headers), "sha256:" + h.hexdigest(), n


def huge_api_post(server: RegistryServer, chunked: bool) -> Answer:
    """An anonymous POST /api/v1/repository with a 200 MiB JSON body, streamed."""
    headers = {"Content-Type": "application/json"}
    if not chunked:
        headers["Content-Length"] = str(HUGE_BODY + JSON_FRAME)
    return send_body(
        "127.0.0.1", server.port, "POST", "/api/v1/repository", headers, stream(json_body(HUGE_BODY)), chunked=chunked
    )


def test_server_memory_stays_flat_under_big_ranges_and_bodies(big_blob_server: tuple[RegistryServer, str]) -> None:
    server, digest = big_blob_server
    assert server.proc is not None
    offsets = [0, 0, 0, 0, 1, 12345, MiB + 7, 50 * MiB]
    expected = {first: digest_from(first, BIG) for first in set(offsets)}
    # Warm both workers up (imports, pools, caches) with the same kinds of requests, small ones.
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for _ in range(8):
            r = c.get(f"/v2/admin/big/blobs/{digest}", headers={"range": "bytes=0-1048575"})
            assert r.status_code == 206 and len(r.content) == MiB
            assert c.post("/api/v1/repository", json={"repository": "x", "visibility": "public"}).status_code == 401
    time.sleep(1)
    before = process_tree_rss(server.proc.pid)

    with RssWatch(server.proc.pid) as watch, ThreadPoolExecutor(10) as pool:
        ranges = [pool.submit(range_get, server, digest, first) for first in offsets]
        posts = [pool.submit(huge_api_post, server, chunked) for chunked in (False, True)]
        got = [f.result() for f in ranges]
        answers = [f.result() for f in posts]

    growth = watch.peak - before
    print(f"server RSS {before / MiB:.0f} MiB before, peak {watch.peak / MiB:.0f} MiB")
    assert growth < 100 * MiB, f"server RSS grew by {growth / MiB:.0f} MiB (from {before / MiB:.0f} MiB)"
    for first, (status, headers, actual, n) in zip(offsets, got, strict=True):
        assert status == 206, (first, status)
        assert headers["content-range"] == f"bytes {first}-{BIG - 1}/{BIG}"
        assert n == BIG - first and int(headers["content-length"]) == BIG - first
        assert actual == expected[first], f"range from {first} has the wrong bytes"
    declared, chunked = answers
    assert declared.status == 413, declared  # Content-Length over the limit: refused before reading
    assert json.loads(declared.body)["status"] == 413
    assert chunked.status == 401, chunked  # no credentials: refused before reading
    assert json.loads(chunked.body)["error_type"] == "invalid_token"
    for answer in answers:
        assert answer.sent < 64 * MiB, f"the server read {answer.sent} bytes of a body it refuses"
        assert answer.closed, "a refused body's connection must be closed"


def test_range_edge_cases_keep_their_answers(big_blob_server: tuple[RegistryServer, str]) -> None:
    """HEAD with Range, multi-range, malformed and unsatisfiable ranges answer as before; a client
    that leaves in the middle of a range does not disturb the server."""
    server, digest = big_blob_server
    url = f"{server.url}/v2/admin/big/blobs/{digest}"
    r = httpx.head(url, headers={"range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == b""
    assert r.headers["content-length"] == "100" and r.headers["content-range"] == f"bytes 100-199/{BIG}"
    r = httpx.get(url, headers={"range": "bytes=-10"})
    assert r.status_code == 206 and r.content == digest_tail(10)
    for header in ("bytes=0-1,5-6", "bytes=abc", "items=0-1"):  # not a single byte range: the whole blob
        r = httpx.head(url, headers={"range": header})
        assert r.status_code == 200 and r.headers["content-length"] == str(BIG), header
    r = httpx.get(url, headers={"range": f"bytes={BIG}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{BIG}"
    with httpx.stream("GET", url, headers={"range": "bytes=0-"}) as r:
        assert r.status_code == 206
        next(r.iter_raw(MiB))  # then leave
    status, _headers, actual, _n = range_get(server, digest, 1)
    assert status == 206 and actual == digest_from(1, BIG)
    assert "Traceback" not in server.log()


def test_range_of_an_unreadable_blob_is_an_error_response(shared_registry: RegistryServer) -> None:
    """The range is opened before the 206 head is sent: a blob whose file went missing gets an
    error response (503, no path in it), not a 206 that breaks off."""
    server = shared_registry
    data = bytes(range(256)) * 64
    c = Client(server.url, auth=ADMIN)
    assert c.push_blob("admin/gone", data).status_code == 201
    digest = sha256(data)
    hexpart = digest.split(":", 1)[1]
    (server.data_dir / "storage" / "blobs" / "sha256" / hexpart[:2] / hexpart).unlink()
    r = c.http.get(f"/v2/admin/gone/blobs/{digest}", headers={"range": "bytes=10-"})
    assert r.status_code == 503, r.text
    assert str(server.data_dir) not in r.text and "errors" in r.json()
    c.close()


def digest_tail(n: int) -> bytes:
    *_, last = pattern(BIG)
    return last[-n:]


# -- item 1: credentials before bodies, and a limit on every API body -------------------------------

BODY_ENDPOINTS = [
    ("POST", "/api/v1/repository"),
    ("PUT", "/api/v1/repository/admin/some"),
    ("POST", "/api/v1/organization/"),
    ("PUT", "/api/v1/organization/someorg/team/owners"),
    ("PUT", "/api/v1/repository/admin/some/tag/latest"),
    ("POST", "/api/v1/superuser/users/"),
    ("PUT", "/v2/admin/some/manifests/latest"),
    ("POST", f"/v2/admin/some/blobs/uploads/?digest={sha256(b'x')}"),
    ("PATCH", "/v2/admin/some/blobs/uploads/2f7c7f0e-6a51-4c43-9b0c-0d1a5a4c9d11"),
    ("PUT", f"/v2/admin/some/blobs/uploads/2f7c7f0e-6a51-4c43-9b0c-0d1a5a4c9d11?digest={sha256(b'x')}"),
]


@pytest.mark.parametrize("credentials", ["none", "bad-token"])
@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_bodies_are_read_only_after_credentials(
    shared_registry: RegistryServer, method: str, path: str, credentials: str
) -> None:
    """A 64 MiB body without valid credentials is refused with 401 before the server reads it."""
    server = shared_registry
    headers = {"Content-Type": "application/json"}
    if credentials == "bad-token":
        headers["Authorization"] = "Bearer not-a-token"
    answer = send_body("127.0.0.1", server.port, method, path, headers, stream(json_body(64 * MiB)), chunked=True)
    assert answer.status == 401, answer
    assert answer.sent < 32 * MiB, f"the server read {answer.sent} bytes before refusing"
    assert answer.closed


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An empty registry (user/initialize on) whose API takes bodies of at most 64 KiB."""
    server = bundle_server(
        tmp_path_factory.mktemp("apilimit"),
        FEATURE_USER_INITIALIZE=True,
        SUPER_USERS=["owner"],
        REGISTRY_APP_MAX_API_BODY_SIZE=64 * 1024,
    )
    with server.start():
        yield server


def test_api_bodies_have_a_configured_limit(small_limit_server: RegistryServer) -> None:
    """Over REGISTRY_APP_MAX_API_BODY_SIZE: 413 whether declared (Content-Length) or counted
    (chunked), for the anonymous user/initialize as for signed-in callers; under it, the same
    requests work."""
    server = small_limit_server
    init = {"username": "owner", "password": "owner-password-1", "email": "owner@example.test"}
    padded = json.dumps({**init, "padding": "x" * 70_000}).encode()
    for chunked in (False, True):
        headers = {"Content-Type": "application/json"}
        if not chunked:
            headers["Content-Length"] = str(len(padded))
        answer = send_body(
            "127.0.0.1", server.port, "POST", "/api/v1/user/initialize", headers, stream([padded]), chunked=chunked
        )
        assert answer.status == 413, answer
        body = json.loads(answer.body)
        assert body["status"] == 413 and "65536" in body["error_message"]
    r = httpx.post(f"{server.url}/api/v1/user/initialize", json={**init, "access_token": True})
    assert r.status_code == 200, r.text
    token = {"Authorization": f"Bearer {r.json()['access_token']}"}

    big = {"repository": "big", "visibility": "private", "description": "d" * 70_000}
    r = httpx.post(f"{server.url}/api/v1/repository", json=big, headers=token)
    assert r.status_code == 413 and r.json()["error_type"] == "invalid_request"
    answer = send_body(
        "127.0.0.1",
        server.port,
        "POST",
        "/api/v1/repository",
        {**token, "Content-Type": "application/json"},
        stream(json_body(64 * MiB)),
        chunked=True,
    )
    assert answer.status == 413 and answer.sent < 32 * MiB, answer
    r = httpx.post(f"{server.url}/api/v1/repository", json={**big, "description": "d" * 60_000}, headers=token)
    assert r.status_code == 201, r.text
    r = httpx.get(f"{server.url}/api/v1/repository/owner/big", headers=token)
    assert r.status_code == 200 and r.json()["description"] == "d" * 60_000


# -- item 6: slow clients ---------------------------------------------------------------------------

IDLE = 5  # REGISTRY_APP_BODY_IDLE_TIMEOUT of the slow-client server
MARGIN = 30  # how long after the idle timeout a dropped client's connection may still be open


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[RegistryServer]:
    server = bundle_server(tmp_path, admin=True, REGISTRY_APP_BODY_IDLE_TIMEOUT=IDLE)
    with server.start():
        yield server


def test_stalled_bodies_are_dropped_while_others_are_served(idle_server: RegistryServer) -> None:
    server = idle_server
    c = Client(server.url, auth=ADMIN)
    first = b"0123456789"
    rest = bytes(range(256)) * 4
    loc = c.http.post("/v2/admin/slow/blobs/uploads/").headers["location"]
    r = c.http.patch(loc, content=first, headers={"content-range": "0-9"})
    assert r.status_code == 202
    loc = r.headers["location"]
    steady_image = Image.random()
    for blob in (steady_image.config, *steady_image.layers):
        assert c.push_blob("admin/steady", blob).status_code == 201
    manifest = steady_image.manifest()
    lasting = IDLE + MARGIN + 10

    def pieces(*items: tuple[float, bytes]) -> list[tuple[float, bytes]]:
        return list(items)

    octets = {"Authorization": AUTH, "Content-Type": "application/octet-stream"}
    trickles = {
        # the head and 5 of 100 bytes of the upload's next chunk, then nothing
        "patch": ("PATCH", loc, {**octets, "Content-Length": "100", "Content-Range": "10-109"}, pieces((0, b"abcde"))),
        # a monolithic upload that sends a byte, then one every IDLE + 2 seconds
        "trickle": (
            "POST",
            f"/v2/admin/slow2/blobs/uploads/?digest={sha256(b'z' * 50)}",
            {**octets, "Content-Length": "50"},
            pieces(*[(0 if i == 0 else IDLE + 2, b"z") for i in range(50)]),
        ),
        # a manifest's head and first byte
        "manifest": (
            "PUT",
            "/v2/admin/slow3/manifests/latest",
            {
                "Authorization": AUTH,
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Content-Length": str(len(manifest)),
            },
            pieces((0, manifest[:1])),
        ),
        # an API body, chunked, that stops after its first chunk
        "api": (
            "POST",
            "/api/v1/repository",
            {"Authorization": AUTH, "Content-Type": "application/json"},
            pieces((0, b'{"repository": '), (lasting, b"")),  # no terminating chunk
        ),
    }
    chunked = {"api"}
    with ThreadPoolExecutor(len(trickles) + 1) as pool:
        futures = {
            name: pool.submit(
                send_body, "127.0.0.1", server.port, m, p, h, pcs, chunked=name in chunked, timeout=lasting
            )
            for name, (m, p, h, pcs) in trickles.items()
        }
        # A body that is slow but never pauses for IDLE seconds is not cut off.
        steady = pool.submit(
            send_body,
            "127.0.0.1",
            server.port,
            "PUT",
            "/v2/admin/steady/manifests/v1",
            {
                "Authorization": AUTH,
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Content-Length": str(len(manifest)),
            },
            [(0, manifest[: len(manifest) // 2]), (IDLE - 2, b""), (0, manifest[len(manifest) // 2 :])],
            timeout=lasting,
        )
        # Meanwhile other clients push and pull (the server has one worker).
        image = Image.random()
        assert c.push_image("admin/other", image, "v1").status_code == 201
        r = c.http.get("/v2/admin/other/manifests/v1", headers={"accept": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 200 and r.content == image.manifest()
        assert c.http.get("/api/v1/repository/admin/other").status_code == 200
        answers = {name: f.result() for name, f in futures.items()}
        steady_answer = steady.result()

    for name, answer in answers.items():
        assert answer.status == 408, (name, answer)
        assert answer.closed, f"{name}: the server kept the connection after dropping the request"
        assert answer.seconds < IDLE + MARGIN, (name, answer.seconds)
    assert error_code(answers["patch"].body) == "UNKNOWN"
    assert json.loads(answers["api"].body)["status"] == 408
    assert steady_answer.status == 201, steady_answer
    r = c.http.get("/v2/admin/steady/manifests/v1", headers={"accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200 and r.content == manifest

    # The dropped PATCH stored nothing: the upload resumes from its 10 bytes and completes.
    r = c.http.get(loc)
    assert r.status_code == 204 and r.headers["range"] == "0-9"
    r = c.http.patch(loc, content=rest, headers={"content-range": f"10-{10 + len(rest) - 1}"})
    assert r.status_code == 202
    r = c.http.put(r.headers["location"], params={"digest": sha256(first + rest)})
    assert r.status_code == 201, r.text
    assert c.http.get(f"/v2/admin/slow/blobs/{sha256(first + rest)}").content == first + rest
    # Nothing was stored from the dropped bodies.
    assert c.http.head(f"/v2/admin/slow2/blobs/{sha256(b'z' * 50)}").status_code == 404
    assert c.http.head("/v2/admin/slow3/manifests/latest").status_code == 404
    assert "Traceback" not in server.log()
    c.close()

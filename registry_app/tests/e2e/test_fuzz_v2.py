"""Property-based requests against /v2 (hypothesis): no input makes the server answer 5xx or log a
traceback (issue 9, item 4).

Requests are built from the pieces /v2 parses: a method, a path of repository name and endpoint
(manifests, blobs, uploads, tags, referrers, catalog, the token endpoint), query parameters
(``n``, ``last``, ``digest``, ``mount``, ``scope``, ...), headers (credentials of every kind,
Content-Type, Content-Range, Range, Accept) and a body (bytes, manifests valid and mutated, deep
JSON). Each piece is drawn half from what exists on the server (a pushed image, its digests, an
open upload, a real token) and half generated, so requests reach deep code as well as the checks
at the door. Sent byte for byte with http.client. A second test runs uploads as a state machine.

Bounded and reproducible: ``derandomize`` with a fixed number of examples per test; a failure is
shown with the request that caused it. ``REGISTRY_APP_FUZZ_EXAMPLES`` changes the budget.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, Client, Image, sha256
from tests.support.server import RegistryServer

EXAMPLES = int(os.environ.get("REGISTRY_APP_FUZZ_EXAMPLES", "400"))
REPO = "admin/fuzz"
MALLORY = "mallory"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class World:
    """What exists on the fuzzed server."""

    server: RegistryServer
    manifest: bytes
    digest: str
    config_digest: str
    layer_digest: str
    upload_id: str
    token: str
    log_offset: int = 0
    sent: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Wrong passwords are sent for MALLORY only: ADMIN, whose credentials the runs use, must not
    # be locked out by the login guard. Open uploads are not bounded here (the fuzz opens many;
    # the bound has its own test in test_upload_collection.py).
    server = bundle_server(
        tmp_path_factory.mktemp("fuzz-v2"),
        admin=True,
        FEATURE_SUPERUSERS_FULL_ACCESS=True,
        REGISTRY_APP_MAX_OPEN_UPLOADS=0,
    )
    server.create_user(MALLORY, "mallory-password")
    with server.start():
        client = Client(server.url, auth=ADMIN)
        try:
            image = Image.random()
            r = client.push_image(REPO, image, "v1")
            assert r.status_code == 201, r.text
            upload = client.http.post(f"/v2/{REPO}/blobs/uploads/")
            assert upload.status_code == 202, upload.text
        finally:
            client.close()
        token = server.v2_token(ADMIN, scope=f"repository:{REPO}:pull,push,delete").json()["token"]
        yield World(
            server,
            image.manifest(),
            r.headers["docker-content-digest"],
            sha256(image.config),
            sha256(image.layers[0]),
            upload.headers["docker-upload-uuid"],
            token,
        )


# -- strategies --------------------------------------------------------------------------------
PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)  # what a request line may carry
PATH_TEXT = st.text(PRINTABLE.filter(lambda c: c not in "?#"), min_size=0, max_size=40)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
HUGE_INTS = st.integers(min_value=-(10**40), max_value=10**40).map(str)


def hex_digest(algorithm: str, n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=n, max_size=n).map(lambda h: f"{algorithm}:{h}")


def digests(world: World) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([world.digest, world.config_digest, world.layer_digest]),
        hex_digest("sha256", 64),
        hex_digest("sha512", 128),
        st.builds(lambda a, b: f"{a}:{b}", st.sampled_from(["sha256", "sha512", "md5", "SHA256", ""]), PATH_TEXT),
        PATH_TEXT,
    )


def names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(REPO),
        st.just("admin/nothing-here"),
        st.builds(lambda a, b: f"{a}/{b}", st.sampled_from(["admin", "nobody", "a" * 300]), PATH_TEXT),
        PATH_TEXT,
        st.lists(st.sampled_from(["admin", "..", ".", "%2e%2e", "%2F", "x", ""]), min_size=1, max_size=6).map("/".join),
    )


def paths(world: World) -> st.SearchStrategy[str]:
    ref = st.one_of(st.sampled_from(["v1", "latest", world.digest]), digests(world), PATH_TEXT)
    uuids = st.one_of(st.just(world.upload_id), st.uuids().map(str), PATH_TEXT)
    endpoint = st.one_of(
        ref.map(lambda r: f"manifests/{r}"),
        digests(world).map(lambda d: f"blobs/{d}"),
        st.just("blobs/uploads/"),
        uuids.map(lambda u: f"blobs/uploads/{u}"),
        st.just("tags/list"),
        digests(world).map(lambda d: f"referrers/{d}"),
        PATH_TEXT,
    )
    return st.one_of(
        st.builds(lambda n, e: f"/v2/{n}/{e}", names(), endpoint),
        st.sampled_from(["/v2/", "/v2", "/v2/_catalog", "/v2/auth", "/", "/health/instance"]),
        PATH_TEXT.map(lambda p: f"/v2/{p}"),
    )


def queries(world: World) -> st.SearchStrategy[list[tuple[str, str]]]:
    value = st.one_of(
        HUGE_INTS,
        st.integers(min_value=-5, max_value=2000).map(str),
        digests(world),
        st.sampled_from([REPO, "v1", f"repository:{REPO}:pull,push", "registry:catalog:*", "admin"]),
        st.builds(lambda a, b, c: f"{a}:{b}:{c}", st.sampled_from(["repository", "registry", "x"]), names(), PATH_TEXT),
        PATH_TEXT,
    )
    key = st.one_of(
        st.sampled_from(["n", "last", "digest", "mount", "from", "scope", "service", "account", "tag", "artifactType"]),
        PATH_TEXT,
    )
    return st.lists(st.tuples(key, value), max_size=4)


def credentials(world: World) -> st.SearchStrategy[str | None]:
    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    return st.one_of(
        st.none(),
        st.just(basic(*ADMIN)),
        st.just(f"Bearer {world.token}"),
        st.builds(basic, st.sampled_from([MALLORY, "nobody", "admin+robot", "$app", "$oauthtoken", ""]), HEADER_TEXT),
        st.integers(min_value=1000, max_value=6000).map(lambda n: basic(MALLORY, "p" * n)),
        st.builds(lambda s, t: f"{s} {t}", st.sampled_from(["Bearer", "Basic", "Digest", "bearer"]), HEADER_TEXT),
        HEADER_TEXT,
    )


def headers(world: World) -> st.SearchStrategy[dict[str, str]]:
    content_range = st.one_of(
        st.builds(lambda a, b: f"{a}-{b}", HUGE_INTS, HUGE_INTS),
        st.builds(lambda a, b: f"bytes {a}-{b}/*", st.integers(-1, 10**6), st.integers(-1, 10**6)),
        HEADER_TEXT,
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "content-type": st.one_of(
                st.sampled_from(
                    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "application/json", "application/octet-stream"]
                ),
                HEADER_TEXT,
            ),
            "content-range": content_range,
            "range": st.one_of(st.builds(lambda a, b: f"bytes={a}-{b}", HUGE_INTS, HUGE_INTS), HEADER_TEXT),
            "accept": st.one_of(st.sampled_from([OCI_MANIFEST, OCI_INDEX, "*/*"]), HEADER_TEXT),
        },
    )


def json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=20,
    )


def bodies(world: World) -> st.SearchStrategy[bytes]:
    doc = json.loads(world.manifest)

    def mutate(key: str, value: object) -> bytes:
        changed = dict(doc)
        changed[key] = value
        return json.dumps(changed).encode()

    return st.one_of(
        st.just(b""),
        st.binary(max_size=2048),
        st.just(world.manifest),
        st.builds(
            mutate,
            st.sampled_from(
                [
                    "schemaVersion",
                    "mediaType",
                    "config",
                    "layers",
                    "manifests",
                    "subject",
                    "annotations",
                    "artifactType",
                ]
            ),
            json_values(),
        ),
        json_values().map(lambda v: json.dumps(v).encode()),
        st.integers(min_value=50, max_value=100_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(min_value=50, max_value=100_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def target(self) -> str:
        if not self.query:
            return self.path
        from urllib.parse import quote

        return self.path + "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)

    def __str__(self) -> str:
        shown = {k: v if len(v) <= 120 else f"{v[:100]}...({len(v)} chars)" for k, v in self.headers.items()}
        return f"{self.method} {self.target()[:300]} headers={shown} body={self.body[:200]!r} ({len(self.body)} bytes)"


def requests(world: World) -> st.SearchStrategy[Req]:
    auth = credentials(world)
    return st.builds(
        lambda m, p, q, h, a, b: Req(m, p, q, {**h, **({"authorization": a} if a else {})}, b),
        st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]),
        paths(world),
        queries(world),
        headers(world),
        auth,
        bodies(world),
    )


def send(world: World, req: Req) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", world.server.port, timeout=120)
    try:
        conn.putrequest(req.method, req.target(), skip_accept_encoding=True)
        for k, v in {**req.headers, "content-length": str(len(req.body))}.items():
            conn.putheader(k, v)
        conn.endheaders(req.body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def assert_clean_log(world: World) -> None:
    log = world.server.log()
    new, world.log_offset = log[world.log_offset :], len(log)
    assert "Traceback" not in new and "ERROR [ref" not in new, f"the server logged an error:\n{new[-5000:]}"


# -- the tests -----------------------------------------------------------------------------------
def test_v2_never_answers_5xx(world: World) -> None:
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(req=requests(world))
    def one(req: Req) -> None:
        status = send(world, req)
        statuses.append(status)
        assert status < 500, f"{status} for {req}\nserver log:\n{world.server.log()[-3000:]}"

    world.log_offset = len(world.server.log())
    one()
    assert_clean_log(world)
    # The run reached past the door: successes and client errors of several kinds.
    assert len(statuses) >= EXAMPLES // 2 and any(s < 300 for s in statuses) and len(set(statuses)) >= 4, statuses


class Uploads(RuleBasedStateMachine):
    """Uploads driven as a client might, and as no client should: chunks with right and wrong
    Content-Range, completions with right and wrong digests, cancels, status queries, on open,
    finished and unknown uploads. No 5xx; a completed blob is exactly the bytes sent."""

    world: World

    uploads = Bundle("uploads")

    @initialize()
    def connect(self) -> None:
        self.sent: dict[str, bytes] = {}

    def request(self, method: str, path: str, body: bytes = b"", **headers: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.world.server.port, timeout=120)
        auth = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        conn.request(
            method, path, body=body, headers={"authorization": auth, "content-length": str(len(body)), **headers}
        )
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert resp.status < 500, f"{method} {path} {headers}: {resp.status}"
        return resp

    @rule(target=uploads)
    def start(self) -> str:
        resp = self.request("POST", f"/v2/{REPO}/blobs/uploads/")
        if resp.status == 429:  # the bound on open uploads (REGISTRY_APP_MAX_OPEN_UPLOADS) is reached
            return "bounded"
        assert resp.status == 202
        upload_id = resp.headers["docker-upload-uuid"]
        self.sent[upload_id] = b""
        return upload_id

    @rule(upload=uploads, data=st.binary(min_size=1, max_size=4096), honest=st.booleans(), shift=st.integers(-3, 3))
    def patch(self, upload: str, data: bytes, honest: bool, shift: int) -> None:
        done = self.sent.get(upload, b"")
        start = len(done) if honest else max(0, len(done) + shift)
        resp = self.request(
            "PATCH",
            f"/v2/{REPO}/blobs/uploads/{upload}",
            data,
            **{"content-type": "application/octet-stream", "content-range": f"{start}-{start + len(data) - 1}"},
        )
        expected = 404 if upload not in self.sent else 202 if start == len(done) else 416
        assert resp.status == expected, (upload, start, len(done), resp.status)
        if resp.status == 202:
            self.sent[upload] = done + data

    @rule(upload=uploads, honest=st.booleans())
    def complete(self, upload: str, honest: bool) -> None:
        data = self.sent.get(upload, b"")
        digest = sha256(data) if honest else "sha256:" + hashlib.sha256(data + b"!").hexdigest()
        resp = self.request("PUT", f"/v2/{REPO}/blobs/uploads/{upload}?digest={digest}")
        if upload not in self.sent:
            assert resp.status == 404
            return
        del self.sent[upload]  # finished either way: a wrong digest stores nothing and ends it
        assert resp.status == (201 if honest else 400), resp.status
        if honest:
            blob = self.request("GET", f"/v2/{REPO}/blobs/{digest}")
            assert blob.status in (200, 307)

    @rule(upload=uploads)
    def cancel(self, upload: str) -> None:
        resp = self.request("DELETE", f"/v2/{REPO}/blobs/uploads/{upload}")
        assert resp.status == (204 if upload in self.sent else 404)
        self.sent.pop(upload, None)

    @rule(upload=uploads)
    def status(self, upload: str) -> None:
        resp = self.request("GET", f"/v2/{REPO}/blobs/uploads/{upload}")
        if upload in self.sent:
            assert resp.status == 204 and resp.headers["range"] == f"0-{max(len(self.sent[upload]) - 1, 0)}"
        else:
            assert resp.status == 404

    @invariant()
    def nothing_logged(self) -> None:
        assert "Traceback" not in self.world.server.log()[self.world.log_offset :]

    def teardown(self) -> None:
        for upload in list(self.sent):  # leave no open uploads behind for the next example
            self.request("DELETE", f"/v2/{REPO}/blobs/uploads/{upload}")


def test_uploads_state_machine(world: World) -> None:
    Uploads.world = world
    world.log_offset = len(world.server.log())
    run = Uploads.TestCase
    run.settings = settings(
        max_examples=max(10, EXAMPLES // 10),
        stateful_step_count=20,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()
    assert_clean_log(world)

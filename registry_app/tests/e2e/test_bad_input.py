"""Bad input gets a 4xx with a clear message, never a 500 (issue 9, item 4).

Each request below answered 500 with a traceback in the server log before: integers out of the
database's range in ``n``, the tag API's ``page``/``limit`` and in page tokens, passwords longer
than passlib takes, manifests (and image configs, label values) nested deeper than Python's parser
recurses, and log filter dates at the ends of the calendar. Every test checks the status, that the
message names the problem, and that the server logged no traceback for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.oci import OCI_CONFIG, OCI_MANIFEST, Client, Image, error_code, sha256
from tests.support.server import RegistryServer

HUGE = str(10**30)  # far outside a 64-bit integer


def token(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture(scope="module")
def server(shared_registry: RegistryServer) -> Iterator[RegistryServer]:
    c = Client(shared_registry.url, auth=ADMIN)
    try:
        assert c.push_image("admin/bad", Image.random(), "v1").status_code == 201
    finally:
        c.close()
    yield shared_registry


@pytest.fixture
def http(server: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as c:
        yield c


@pytest.fixture
def clean_log(server: RegistryServer) -> Iterator[None]:
    """The server log gains no traceback during the test."""
    before = len(server.log())
    yield
    new = server.log()[before:]
    assert "Traceback" not in new, f"the server logged a traceback:\n{new[-4000:]}"


def problem(resp: httpx.Response) -> str:
    """The message of a /v2 error or of Quay's API error JSON."""
    body = resp.json()
    return str(body["errors"][0]["message"] if "errors" in body else body["error_message"])


# -- integers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v2/admin/bad/tags/list", "/v2/_catalog"])
def test_v2_page_size_out_of_range_is_clamped(http: httpx.Client, clean_log: None, path: str) -> None:
    """As Quay: ``n`` beyond the page size gets a page of at most that size, not a database error."""
    r = http.get(path, params={"n": HUGE})
    assert r.status_code == 200, r.text
    assert r.json().get("tags", r.json().get("repositories"))


@pytest.mark.parametrize("value", ["-1", "ten", "1e3"])
def test_v2_page_size_not_a_count(http: httpx.Client, clean_log: None, value: str) -> None:
    r = http.get("/v2/admin/bad/tags/list", params={"n": value})
    assert r.status_code == 400 and error_code(r) == "PAGINATION_NUMBER_INVALID", r.text
    assert "query parameter n" in problem(r)


@pytest.mark.parametrize(("param", "value"), [("page", HUGE), ("page", "1000001"), ("limit", HUGE)])
def test_tag_api_integers_out_of_range(http: httpx.Client, clean_log: None, param: str, value: str) -> None:
    r = http.get("/api/v1/repository/admin/bad/tag/", params={param: value})
    assert r.status_code == 400, r.text
    assert f"query.{param}" in problem(r) and "less than or equal" in problem(r)


def test_tag_api_integers_in_range_still_work(http: httpx.Client, clean_log: None) -> None:
    r = http.get("/api/v1/repository/admin/bad/tag/", params={"page": "1000000", "limit": "1000"})
    assert r.status_code == 200 and r.json()["tags"] == [], r.text


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v1/repository", "start_id"),
        ("/api/v1/repository/admin/bad/logs", "before_id"),
        ("/api/v1/superuser/logs", "before_id"),
    ],
)
@pytest.mark.parametrize("value", [10**30, -(10**30), "1", True, 1.5])
def test_page_token_out_of_range(
    http: httpx.Client, clean_log: None, path: str, key: str, value: object
) -> None:
    r = http.get(path, params={"namespace": "admin", "next_page": token({key: value})})
    assert r.status_code == 400, r.text
    assert "next_page" in problem(r)


def test_page_token_nested_too_deep_is_ignored(http: httpx.Client, clean_log: None) -> None:
    """A token that does not decode starts the listing over (as Quay), however it is built."""
    deep = base64.urlsafe_b64encode(nested(5000).encode()).decode()
    r = http.get("/api/v1/repository", params={"namespace": "admin", "next_page": deep})
    assert r.status_code == 200 and r.json()["repositories"], r.text


def test_tag_expiration_not_finite(http: httpx.Client, clean_log: None) -> None:
    """``NaN``/``Infinity`` (accepted by Python's JSON parser) are not a time."""
    for text in ("NaN", "Infinity", "-Infinity"):
        r = http.put(
            "/api/v1/repository/admin/bad/tag/v1",
            content=f'{{"expiration": {text}}}',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400, (text, r.text)
        assert "expiration" in problem(r)


# -- dates --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("endtime", "12/31/9999"),
        ("endtime", "9999-12-31"),
        ("starttime", "9999-12-31T23:59:59-12:00"),
        ("starttime", "0001-01-01"),
        ("endtime", "0001-01-01T00:00:00+14:00"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/repository/admin/bad/logs", "/api/v1/superuser/aggregatelogs"])
def test_log_dates_out_of_range(http: httpx.Client, clean_log: None, path: str, param: str, value: str) -> None:
    r = http.get(path, params={param: value})
    assert r.status_code == 400, r.text
    assert param in problem(r) and "out of range" in problem(r)


def test_log_dates_at_the_limits_work(http: httpx.Client, clean_log: None) -> None:
    r = http.get("/api/v1/repository/admin/bad/logs", params={"starttime": "01/01/1970", "endtime": "12/31/9998"})
    assert r.status_code == 200 and r.json()["logs"], r.text


# -- passwords ----------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [4097, 100_000])
def test_overlong_password_v2_auth(server: RegistryServer, clean_log: None, length: int) -> None:
    r = server.v2_token(("admin", "x" * length), scope="repository:admin/bad:pull")
    assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED", r.text
    assert "invalid username or password" in problem(r)


def test_overlong_password_v2_basic(server: RegistryServer, clean_log: None) -> None:
    r = httpx.get(f"{server.url}/v2/admin/bad/tags/list", auth=("admin", "x" * 5000))
    assert r.status_code == 401, r.text


def test_overlong_password_api(server: RegistryServer, clean_log: None) -> None:
    r = httpx.get(f"{server.url}/api/v1/user/", auth=("admin", "x" * 5000))
    assert r.status_code == 401, r.text
    assert "invalid username or password" in problem(r)


def test_overlong_password_cli(server: RegistryServer) -> None:
    proc = server.cli("user", "create", "longpw", "--password-stdin", input=b"y" * 5000 + b"\n", check=False)
    assert proc.returncode == 2 and b"at most 1024 characters" in proc.stderr, proc.stderr


# -- nested JSON --------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [101, 5_000, 200_000])
def test_manifest_nested_too_deep(http: httpx.Client, clean_log: None, depth: int) -> None:
    body = f'{{"schemaVersion": 2, "mediaType": "{OCI_MANIFEST}", "annotations": {{}}, "x": {nested(depth)}}}'
    r = http.put("/v2/admin/bad/manifests/deep", content=body, headers={"content-type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", r.text
    assert "nested" in problem(r)


def test_manifest_descriptor_size_beyond_int64(http: httpx.Client, clean_log: None) -> None:
    image = Image.random()
    doc = json.loads(image.manifest())
    doc["layers"][0]["size"] = 2**63
    r = http.put("/v2/admin/bad/manifests/big", content=json.dumps(doc), headers={"content-type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", r.text
    assert "layers[0].size" in problem(r)


def test_image_config_nested_too_deep(server: RegistryServer, http: httpx.Client, clean_log: None) -> None:
    """The image config is a client's blob too: the push reads its labels, the API its history."""
    labels = '"config": {"Labels": {"a": "b"}}'
    config = f'{{"architecture": "amd64", "os": "linux", {labels}, "x": {nested(5000)}}}'.encode()
    layer = b"layer of the deep config image"
    c = Client(server.url, auth=ADMIN)
    try:
        for blob in (config, layer):
            assert c.push_blob("admin/bad", blob).status_code == 201
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": "application/octet-stream", "digest": sha256(layer), "size": len(layer)}],
            }
        ).encode()
        r = c.put_manifest("admin/bad", "deepconfig", manifest)
        assert r.status_code == 201, r.text
    finally:
        c.close()
    digest = sha256(manifest)
    r = http.get(f"/api/v1/repository/admin/bad/manifest/{digest}/labels")
    assert r.status_code == 200 and r.json()["labels"] == [], r.text
    r = http.get(f"/api/v1/repository/admin/bad/manifest/{digest}")
    assert r.status_code in (200, 404) and r.status_code < 500, r.text


def test_label_value_nested_too_deep(http: httpx.Client, clean_log: None) -> None:
    """A label value that looks like JSON is parsed to choose its media type."""
    digest = http.get("/api/v1/repository/admin/bad/tag/", params={"specificTag": "v1"}).json()["tags"][0][
        "manifest_digest"
    ]
    value = nested(5000)
    r = http.post(
        f"/api/v1/repository/admin/bad/manifest/{digest}/labels",
        json={"key": "deep", "value": value, "media_type": None},
    )
    assert r.status_code == 201, r.text
    assert r.json()["label"]["media_type"] == "text/plain"


def test_api_body_nested_too_deep(http: httpx.Client, clean_log: None) -> None:
    r = http.put(
        "/api/v1/repository/admin/bad",
        content=f'{{"description": {nested(100_000)}}}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text


def test_image_config_dates_out_of_range(server: RegistryServer, http: httpx.Client, clean_log: None) -> None:
    """History dates of an image config (a client's blob) that an offset pushes past year 9999 or
    before year 1 are no date: the manifest view shows none instead of failing to format them."""
    history = [
        {"created": "9999-12-31T23:59:59-12:00", "created_by": "RUN late"},
        {"created": "0001-01-01T00:00:00+14:00", "created_by": "RUN early"},
        {"created": "0001-01-01T00:00:00Z", "created_by": "RUN ko's epoch"},
    ]
    config = json.dumps({"architecture": "amd64", "os": "linux", "history": history}).encode()
    layers = [b"late layer", b"early layer", b"epoch layer"]
    c = Client(server.url, auth=ADMIN)
    try:
        for blob in (config, *layers):
            assert c.push_blob("admin/bad", blob).status_code == 201
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": "application/octet-stream", "digest": sha256(b), "size": len(b)}
                           for b in layers],
            }
        ).encode()
        assert c.put_manifest("admin/bad", "dates", manifest).status_code == 201
    finally:
        c.close()
    r = http.get(f"/api/v1/repository/admin/bad/manifest/{sha256(manifest)}")
    assert r.status_code == 200, r.text
    dates = [layer["created_datetime"] for layer in r.json()["layers"]]
    assert dates == [None, None, "Mon, 01 Jan 0001 00:00:00 -0000"], dates

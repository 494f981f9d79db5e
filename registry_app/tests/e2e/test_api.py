"""The distribution API over HTTP against the real server: auth, errors, negotiation, paging."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, Client, Image, error_code, raw_request, sha256
from tests.support.server import RegistryServer


@pytest.fixture
def registry(shared_registry: RegistryServer) -> RegistryServer:
    return shared_registry


def test_ping_requires_auth_and_challenges_with_bearer(registry: RegistryServer) -> None:
    r = httpx.get(f"{registry.url}/v2/")
    assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="http://{registry.host}/v2/auth"') and 'service="' in challenge
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert httpx.get(f"{registry.url}/v2/", auth=ADMIN).status_code == 200


def test_token_flow_reduces_scope(registry: RegistryServer) -> None:
    registry.create_user("alice", "alice-password")
    url = registry.url
    r = httpx.get(f"{url}/v2/alice/app/manifests/latest")
    assert r.status_code == 401 and 'scope="repository:alice/app:pull"' in r.headers["www-authenticate"]
    tok = httpx.get(f"{url}/v2/auth", params={"service": registry.host, "scope": "repository:alice/app:pull,push"},
                    auth=("alice", "alice-password")).json()
    import jwt

    claims = jwt.decode(tok["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}]
    # alice may not push into admin's namespace: the token grants nothing there
    tok2 = httpx.get(f"{url}/v2/auth", params={"scope": "repository:admin/secret:pull,push"},
                     auth=("alice", "alice-password")).json()
    assert jwt.decode(tok2["token"], options={"verify_signature": False})["access"][0]["actions"] == []
    r = httpx.post(f"{url}/v2/admin/secret/blobs/uploads/", headers={"authorization": f"Bearer {tok2['token']}"})
    assert r.status_code == 401 and 'error="insufficient_scope"' in r.headers["www-authenticate"]
    # with Basic credentials the answer is a plain 403 DENIED
    r = httpx.post(f"{url}/v2/admin/secret/blobs/uploads/", auth=("alice", "alice-password"))
    assert r.status_code == 403 and error_code(r) == "DENIED"
    # the token works for what it grants
    img = Image.random()
    c = Client(url)
    c.http.headers["authorization"] = f"Bearer {tok['token']}"
    assert c.push_image("alice/app", img, "v1").status_code == 201
    # a forged token is refused
    bad = httpx.get(f"{url}/v2/alice/app/tags/list", headers={"authorization": "Bearer " + tok["token"][:-3] + "abc"})
    assert bad.status_code == 401


def test_wrong_password_and_throttle(registry: RegistryServer) -> None:
    registry.create_user("bob", "bob-password1")
    robot = httpx.put(f"{registry.url}/api/v1/user/robots/ci", auth=("bob", "bob-password1"))
    assert robot.status_code == 201, robot.text
    codes = [httpx.get(f"{registry.url}/v2/auth", auth=("bob", f"wrong{i}")).status_code for i in range(7)]
    r = httpx.get(f"{registry.url}/v2/auth", auth=("bob", "bob-password1"))  # even the right password
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # neither the account's robot nor other accounts are locked out
    assert httpx.get(f"{registry.url}/v2/auth", auth=("bob+ci", robot.json()["token"])).status_code == 200
    assert httpx.get(f"{registry.url}/v2/auth", auth=ADMIN).status_code == 200


def test_private_by_default_and_public_pull(registry: RegistryServer, client: Client) -> None:
    img = Image.random()
    assert client.push_image("admin/web", img, "latest").status_code == 201
    anon = httpx.get(f"{registry.url}/v2/admin/web/manifests/latest")
    assert anon.status_code == 401
    registry.cli("repo", "visibility", "admin/web", "public")
    tok = httpx.get(f"{registry.url}/v2/auth", params={"scope": "repository:admin/web:pull,push"}).json()["token"]
    r = httpx.get(f"{registry.url}/v2/admin/web/manifests/latest",
                  headers={"authorization": f"Bearer {tok}", "accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.content == img.manifest()
    assert r.headers["docker-content-digest"] == sha256(img.manifest())
    # the anonymous token must not allow a push
    r = httpx.post(f"{registry.url}/v2/admin/web/blobs/uploads/", headers={"authorization": f"Bearer {tok}"})
    assert r.status_code == 401


def test_wrong_digest_stores_nothing(registry: RegistryServer, client: Client) -> None:
    data = b"some bytes" * 1000
    wrong = sha256(b"other")
    r = client.push_blob("admin/x", data, digest=wrong)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert wrong in r.json()["errors"][0]["message"]
    assert client.http.head(f"/v2/admin/x/blobs/{wrong}").status_code == 404
    assert client.http.head(f"/v2/admin/x/blobs/{sha256(data)}").status_code == 404
    storage = registry.data_dir / "storage"
    stored = {p.name for p in (storage / "blobs").rglob("*") if p.is_file()}
    assert sha256(data).split(":")[1] not in stored and wrong.split(":")[1] not in stored
    assert not [p for p in (storage / "uploads").iterdir() if not p.name.startswith(".")]


def test_malformed_manifests(client: Client) -> None:
    img = Image.random()
    for blob in [img.config, *img.layers]:
        assert client.push_blob("admin/m", blob).status_code == 201
    cases = [
        (b"{", OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "%s"}' % OCI_MANIFEST.encode(), OCI_MANIFEST),
        (
            json.dumps({"schemaVersion": 2, "config": {"digest": "nope", "size": 1}, "layers": []}).encode(),
            OCI_MANIFEST,
        ),
        (img.manifest(), OCI_INDEX),
    ]
    for body, ctype in cases:
        r = client.put_manifest("admin/m", "bad", body, ctype)
        assert r.status_code == 400 and error_code(r) == "MANIFEST_INVALID", (body, r.text)
    assert client.http.get("/v2/admin/m/manifests/bad").status_code == 404


def test_manifest_with_missing_blob(client: Client) -> None:
    img = Image.random(n_layers=2)
    assert client.push_blob("admin/mb", img.config).status_code == 201
    assert client.push_blob("admin/mb", img.layers[0]).status_code == 201
    r = client.put_manifest("admin/mb", "v1", img.manifest())
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert sha256(img.layers[1]) in r.text
    # a blob pushed to another repository does not count
    assert client.push_blob("admin/other", img.layers[1]).status_code == 201
    assert error_code(client.put_manifest("admin/mb", "v1", img.manifest())) == "MANIFEST_BLOB_UNKNOWN"


@pytest.mark.parametrize(
    "path",
    ["/v2/admin/../etc/manifests/latest", "/v2/admin/%2e%2e/manifests/latest", "/v2/admin/%2E%2E/x/tags/list",
     "/v2/Admin/app/manifests/latest", "/v2/admin/UPPER/tags/list", "/v2/admin/" + "a" * 260 + "/tags/list",
     "/v2/admin/a..b/tags/list", "/v2/nonamespace/tags/list"],
)
def test_invalid_names(registry: RegistryServer, path: str) -> None:
    status, _, body = raw_request("127.0.0.1", registry.port, "GET", path, auth=ADMIN)
    assert status == 400 and error_code(body) == "NAME_INVALID", (path, status, body)


def test_manifest_size_limit(client: Client) -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "pad": "x" * (4 * 1024 * 1024)}).encode()
    r = client.put_manifest("admin/big", "v1", body)
    assert r.status_code == 413


def test_out_of_order_chunk_is_416(client: Client) -> None:
    r = client.http.post("/v2/admin/c/blobs/uploads/")
    loc = r.headers["location"]
    r = client.http.patch(loc, content=b"a" * 10, headers={"content-range": "0-9"})
    assert r.status_code == 202 and r.headers["range"] == "0-9"
    r = client.http.patch(r.headers["location"], content=b"b" * 10, headers={"content-range": "20-29"})
    assert r.status_code == 416 and r.headers["range"] == "0-9"
    r = client.http.get(loc)
    assert r.status_code == 204 and r.headers["range"] == "0-9"


def test_accept_negotiation_and_heads(client: Client) -> None:
    img = Image.random()
    assert client.push_image("admin/neg", img, "v1").status_code == 201
    ok = client.http.head("/v2/admin/neg/manifests/v1", headers={"accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
    assert ok.status_code == 200 and int(ok.headers["content-length"]) == len(img.manifest())
    assert ok.headers["content-type"] == OCI_MANIFEST and ok.headers["docker-content-digest"] == sha256(img.manifest())
    no = client.http.get("/v2/admin/neg/manifests/v1",
                         headers={"accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert no.status_code == 404 and error_code(no) == "MANIFEST_UNKNOWN"


def test_blob_ranges(client: Client) -> None:
    data = bytes(range(256)) * 40
    assert client.push_blob("admin/r", data).status_code == 201
    url = f"/v2/admin/r/blobs/{sha256(data)}"
    r = client.http.get(url, headers={"range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = client.http.get(url, headers={"range": "bytes=-5"})
    assert r.content == data[-5:]
    r = client.http.get(url, headers={"range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    full = client.http.get(url)
    assert full.content == data and full.headers["docker-content-digest"] == sha256(data)


def test_tag_and_catalog_paging(tmp_path: Path) -> None:
    registry = RegistryServer(data_dir=tmp_path / "data")
    registry.create_user(*ADMIN, superuser=True)
    registry.start()
    client = Client(registry.url, auth=ADMIN)
    try:
        _paging(registry, client)
    finally:
        client.close()
        registry.stop()


def _paging(registry: RegistryServer, client: Client) -> None:
    img = Image.random()
    for t in ["c", "a", "b", "d"]:
        assert client.push_image("admin/p", img, t).status_code == 201
    r = client.http.get("/v2/admin/p/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a", "b"] and 'last=b' in r.headers["link"]
    r = client.http.get("/v2/admin/p/tags/list", params={"n": 2, "last": "b"})
    assert r.json()["tags"] == ["c", "d"]
    assert client.push_image("admin/q", img, "x").status_code == 201
    r = client.http.get("/v2/_catalog", params={"n": 1})
    assert r.json()["repositories"] == ["admin/p"] and "rel=\"next\"" in r.headers["link"]
    assert client.http.get("/v2/_catalog", params={"n": 1, "last": "admin/p"}).json()["repositories"] == ["admin/q"]
    # another user sees none of admin's private repositories
    registry.create_user("carol", "carol-password")
    assert httpx.get(f"{registry.url}/v2/_catalog", auth=("carol", "carol-password")).json()["repositories"] == []


def test_tag_delete_keeps_digest(client: Client) -> None:
    img = Image.random()
    assert client.push_image("admin/del", img, "v1").status_code == 201
    digest = sha256(img.manifest())
    assert client.http.delete("/v2/admin/del/manifests/v1").status_code == 202
    assert client.http.get("/v2/admin/del/manifests/v1").status_code == 404
    assert client.http.get(f"/v2/admin/del/manifests/{digest}").status_code == 200
    assert client.http.delete(f"/v2/admin/del/manifests/{digest}").status_code == 202
    assert client.http.get(f"/v2/admin/del/manifests/{digest}").status_code == 404


def test_quay_expires_after_label(client: Client) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"quay.expires-after": "3s"}},
                         "nonce": os.urandom(4).hex()}).encode()
    img = Image(config, [os.urandom(512)])
    assert client.push_image("admin/expiring", img, "short").status_code == 201
    assert client.http.get("/v2/admin/expiring/manifests/short").status_code == 200
    tags = client.http.get("/api/v1/repository/admin/expiring/tag/", params={"onlyActiveTags": "true"}).json()["tags"]
    assert tags[0]["name"] == "short" and "expiration" in tags[0]
    time.sleep(3.5)
    assert client.http.get("/v2/admin/expiring/manifests/short").status_code == 404
    assert client.http.get("/v2/admin/expiring/tags/list").json()["tags"] == []
    assert client.http.get(f"/v2/admin/expiring/manifests/{sha256(img.manifest())}").status_code == 200

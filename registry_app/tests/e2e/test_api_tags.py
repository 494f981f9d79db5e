"""/api/v1 tags and manifests against the real server: tag history, moves, deletion, restore,
expiration (and its effect on /v2), the manifest view, labels, permissions and the audit log."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, Client, Image, sha256
from tests.support.server import RegistryServer

RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$")
EMPTY_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"


OTHER = ("otheruser", "other-user-password")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One server for the module (tests use distinct repositories), on a config bundle whose tags
    may expire one second after they were pushed (Quay's LABELED_EXPIRATION_MINIMUM, one hour by
    default) and at most a day after (LABELED_EXPIRATION_MAXIMUM, 104 weeks by default), so that
    expiry can be watched in a test. Users: ``admin`` (superuser) and OTHER (no permissions)."""
    base = tmp_path_factory.mktemp("tags")
    server = bundle_server(base, admin=True, LABELED_EXPIRATION_MINIMUM="1s", LABELED_EXPIRATION_MAXIMUM="1d")
    server.create_user(*OTHER)
    with server.start():
        yield server


@pytest.fixture
def api(registry: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=ADMIN, timeout=30) as c:
        yield c


def repo_name() -> str:
    return f"admin/t{uuid.uuid4().hex[:10]}"


def push(client: Client, repo: str, tag: str, image: Image | None = None) -> tuple[Image, str]:
    image = image or Image.random()
    r = client.push_image(repo, image, tag)
    assert r.status_code == 201, r.text
    return image, sha256(image.manifest())


def push_index(client: Client, repo: str, tag: str, children: list[Image]) -> str:
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": sha256(c.manifest()), "size": len(c.manifest())} for c in children
            ],
        }
    ).encode()
    r = client.put_manifest(repo, tag, index, OCI_INDEX)
    assert r.status_code == 201, r.text
    return sha256(index)


def tags(api: httpx.Client, repo: str, **params: Any) -> dict[str, Any]:
    r = api.get(f"/repository/{repo}/tag/", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def v2_status(client: Client, repo: str, ref: str, method: str = "GET") -> int:
    return client.http.request(method, f"/v2/{repo}/manifests/{ref}", headers={"accept": OCI_MANIFEST}).status_code


def v2_tags(client: Client, repo: str) -> list[str]:
    r = client.http.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    return list(r.json()["tags"] or [])


def audit_kinds(server: RegistryServer, repo: str, expected: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The audit entries of a repository (polled: the log is written in batches)."""
    assert server.config_dir is not None
    db = server.config_dir.parent / "registry.db"
    namespace, name = repo.split("/", 1)
    found: list[tuple[str, dict[str, Any]]] = []
    for _ in range(50):
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT l.kind, l.metadata_json FROM log_entry l JOIN repository r ON r.id = l.repository_id "
                "JOIN user u ON u.id = r.namespace_id WHERE u.username = ? AND r.name = ? ORDER BY l.id",
                (namespace, name),
            ).fetchall()
        found = [(k, json.loads(m)) for k, m in rows]
        if expected <= {k for k, _ in found}:
            break
        time.sleep(0.1)
    return found


# --- tag history ----------------------------------------------------------------------------------


def test_history_after_repush_and_paging(client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    img1, d1 = push(client, repo, "latest")
    time.sleep(0.01)
    img2, d2 = push(client, repo, "latest")
    time.sleep(0.01)
    push(client, repo, "v1", img1)
    child = Image.random()
    push(client, repo, "child", child)
    time.sleep(0.01)
    di = push_index(client, repo, "multi", [child])

    body = tags(api, repo)
    assert body["page"] == 1 and body["has_additional"] is False
    rows = body["tags"]
    assert [(t["name"], t["manifest_digest"]) for t in rows] == [
        ("multi", di),
        ("child", sha256(child.manifest())),
        ("v1", d1),
        ("latest", d2),
        ("latest", d1),
    ]
    live = rows[3]
    assert set(live) == {
        "name",
        "reversion",
        "immutable",
        "start_ts",
        "manifest_digest",
        "is_manifest_list",
        "size",
        "last_modified",
    }
    assert live["reversion"] is False and live["is_manifest_list"] is False
    assert live["size"] == sum(len(layer) for layer in img2.layers)
    assert abs(live["start_ts"] - time.time()) < 60 and RFC2822.match(live["last_modified"])
    ended = rows[4]
    assert ended["end_ts"] >= ended["start_ts"] and RFC2822.match(ended["expiration"])
    assert rows[0]["is_manifest_list"] is True and rows[0]["size"] is None

    active = tags(api, repo, onlyActiveTags="true")["tags"]
    assert [(t["name"], t["manifest_digest"]) for t in active] == [
        ("multi", di),
        ("child", sha256(child.manifest())),
        ("v1", d1),
        ("latest", d2),
    ]
    assert all("end_ts" not in t and "expiration" not in t for t in active)
    assert [t["manifest_digest"] for t in tags(api, repo, specificTag="latest")["tags"]] == [d2, d1]
    assert [t["name"] for t in tags(api, repo, filter_tag_name="like:ult")["tags"]] == ["multi"]
    assert api.get(f"/repository/{repo}/tag/", params={"filter_tag_name": "nope"}).status_code == 400

    page1 = tags(api, repo, limit=2, page=1)
    page3 = tags(api, repo, limit=2, page=3)
    assert [t["name"] for t in page1["tags"]] == ["multi", "child"] and page1["has_additional"] is True
    assert [t["manifest_digest"] for t in page3["tags"]] == [d1] and page3["has_additional"] is False
    assert page3["page"] == 3
    assert api.get(f"/repository/{repo}/tag/", params={"limit": "x"}).status_code == 400


# --- move, delete, restore ------------------------------------------------------------------------


def test_move_delete_restore(registry: RegistryServer, client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    _, d1 = push(client, repo, "app")
    _, d2 = push(client, repo, "other")

    r = api.put(f"/repository/{repo}/tag/app", json={"manifest_digest": d2})
    assert r.status_code == 201 and r.json() == "Updated"
    assert (
        client.http.get(f"/v2/{repo}/manifests/app", headers={"accept": OCI_MANIFEST}).headers["docker-content-digest"]
        == d2
    )
    # a new tag is created the same way
    assert api.put(f"/repository/{repo}/tag/fresh", json={"manifest_digest": d1}).status_code == 201
    assert sorted(v2_tags(client, repo)) == ["app", "fresh", "other"]
    # unknown manifests and bad names
    missing = "sha256:" + "0" * 64
    assert api.put(f"/repository/{repo}/tag/app", json={"manifest_digest": missing}).status_code == 404
    assert api.put(f"/repository/{repo}/tag/-bad", json={"manifest_digest": d1}).status_code == 400
    assert api.put(f"/repository/{repo}/tag/app", content=b"not json").status_code == 400

    r = api.delete(f"/repository/{repo}/tag/app")
    assert r.status_code == 204 and r.content == b""
    assert v2_status(client, repo, "app") == 404 and v2_status(client, repo, "app", "HEAD") == 404
    assert v2_status(client, repo, d2) == 200
    assert sorted(v2_tags(client, repo)) == ["fresh", "other"]
    assert api.delete(f"/repository/{repo}/tag/app").status_code == 404
    history = tags(api, repo, specificTag="app")["tags"]
    assert [t["manifest_digest"] for t in history] == [d2, d1] and all("end_ts" in t for t in history)

    # the time machine: the tag points at its first manifest again
    r = api.post(f"/repository/{repo}/tag/app/restore", json={"manifest_digest": d1})
    assert r.status_code == 200 and r.json() == {}
    assert v2_status(client, repo, "app") == 200
    assert tags(api, repo, specificTag="app", onlyActiveTags="true")["tags"][0]["manifest_digest"] == d1
    assert api.post(f"/repository/{repo}/tag/app/restore", json={}).status_code == 400
    assert api.post(f"/repository/{repo}/tag/app/restore", json={"manifest_digest": missing}).status_code == 404

    entries = audit_kinds(registry, repo, {"move_tag", "create_tag", "delete_tag", "revert_tag"})
    by_kind = {k: m for k, m in entries}
    assert by_kind["move_tag"] == {
        "username": "admin",
        "repo": repo.split("/")[1],
        "tag": "app",
        "namespace": "admin",
        "manifest_digest": d2,
        "original_manifest_digest": d1,
    }
    assert by_kind["create_tag"]["original_manifest_digest"] is None
    assert by_kind["delete_tag"]["tag"] == "app" and by_kind["revert_tag"]["manifest_digest"] == d1


# --- expiration -----------------------------------------------------------------------------------


def wait_until(unix_seconds: float) -> None:
    time.sleep(max(0.0, unix_seconds - time.time()))


def test_expiration_hides_the_tag_from_v2(client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    _, d1 = push(client, repo, "soon")
    stays, _ = push(client, repo, "stays")
    push(client, repo, "third")
    expires = int(time.time()) + 3
    assert api.put(f"/repository/{repo}/tag/soon", json={"expiration": expires}).status_code == 201
    row = tags(api, repo, specificTag="soon")["tags"][0]
    assert row["end_ts"] == expires and RFC2822.match(row["expiration"])
    # pulled (and cached by the server) while live ...
    assert v2_status(client, repo, "soon") == 200 and v2_status(client, repo, "soon", "HEAD") == 200
    assert sorted(v2_tags(client, repo)) == ["soon", "stays", "third"]
    # (Quay keeps the sub-second part of the push time: the tag ends within a second after end_ts)
    wait_until(expires + 1.1)
    # ... and gone once expired, though nothing was written since
    assert v2_status(client, repo, "soon") == 404 and v2_status(client, repo, "soon", "HEAD") == 404
    assert v2_status(client, repo, d1) == 200
    assert sorted(v2_tags(client, repo)) == ["stays", "third"]
    assert [t["name"] for t in tags(api, repo, onlyActiveTags="true")["tags"]] == ["third", "stays"]
    assert tags(api, repo, specificTag="soon")["tags"][0]["end_ts"] == expires
    assert api.delete(f"/repository/{repo}/tag/soon").status_code == 404
    assert api.put(f"/repository/{repo}/tag/soon", json={"expiration": None}).status_code == 404
    # pushing the tag again makes it live, without expiration, with the expired row in history
    push(client, repo, "soon")
    history = tags(api, repo, specificTag="soon")["tags"]
    assert len(history) == 2 and "end_ts" not in history[0]
    assert history[1]["manifest_digest"] == d1 and history[1]["end_ts"] == expires
    assert v2_status(client, repo, "soon") == 200

    # an expired tag also comes back when its own manifest is pushed to it again, or when restored
    # a few seconds ahead: two API calls must land before it, even on a loaded machine
    expires = int(time.time()) + 4
    for tag in ("stays", "third"):
        assert api.put(f"/repository/{repo}/tag/{tag}", json={"expiration": expires}).status_code == 201
    wait_until(expires + 1.1)
    assert v2_status(client, repo, "stays") == 404 and v2_status(client, repo, "third") == 404
    push(client, repo, "stays", stays)
    assert v2_status(client, repo, "stays") == 200
    assert api.post(f"/repository/{repo}/tag/third/restore", json={"manifest_digest": d1}).status_code == 200
    assert v2_status(client, repo, "third") == 200
    assert sorted(v2_tags(client, repo)) == ["soon", "stays", "third"]


def test_expiration_is_clamped_cleared_and_refused_in_the_past(client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    push(client, repo, "keep")
    # as in Quay, a tag lives at most LABELED_EXPIRATION_MAXIMUM (here a day) after it was pushed
    r = api.put(f"/repository/{repo}/tag/keep", json={"expiration": int(time.time()) + 3 * 86400})
    assert r.status_code == 201 and r.json() == "Updated"
    row = tags(api, repo, specificTag="keep")["tags"][0]
    assert row["end_ts"] == row["start_ts"] + 86400 and RFC2822.match(row["expiration"])
    # an expiring tag is still live
    assert [t["name"] for t in tags(api, repo, onlyActiveTags="true")["tags"]] == ["keep"]
    assert v2_status(client, repo, "keep") == 200
    in_a_day = int(time.time()) + 3600
    assert api.put(f"/repository/{repo}/tag/keep", json={"expiration": in_a_day}).status_code == 201
    assert tags(api, repo, specificTag="keep")["tags"][0]["end_ts"] == in_a_day
    assert api.put(f"/repository/{repo}/tag/keep", json={"expiration": None}).status_code == 201
    row = tags(api, repo, specificTag="keep")["tags"][0]
    assert "end_ts" not in row and "expiration" not in row
    assert api.put(f"/repository/{repo}/tag/keep", json={"expiration": int(time.time()) - 10}).status_code == 400
    assert api.put(f"/repository/{repo}/tag/keep", json={"expiration": "soon"}).status_code == 400
    assert api.put(f"/repository/{repo}/tag/nope", json={"expiration": in_a_day}).status_code == 404
    # moving a tag to another manifest clears its expiration
    assert api.put(f"/repository/{repo}/tag/keep", json={"expiration": in_a_day}).status_code == 201
    _, d2 = push(client, repo, "keep")
    row = tags(api, repo, specificTag="keep")["tags"][0]
    assert row["manifest_digest"] == d2 and "end_ts" not in row


# --- manifest view --------------------------------------------------------------------------------


def image_with_history() -> Image:
    layers = [b"layer-one" * 100, b"layer-two" * 50]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05.123456789Z",
        "config": {"Cmd": ["sh"], "Labels": {"maintainer": "ops@example.test"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(x) for x in layers]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
            {"created": "2024-01-01T00:00:01Z", "created_by": "/bin/sh -c #(nop) ENV A=B", "empty_layer": True},
            {"created": "2024-01-02T03:04:05Z", "created_by": "RUN make", "author": "me", "comment": "built"},
        ],
        "nonce": uuid.uuid4().hex,
    }
    return Image(json.dumps(config).encode(), layers)


def test_manifest_view(client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    img, digest = push(client, repo, "latest", image_with_history())
    r = api.get(f"/repository/{repo}/manifest/{digest}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["digest"] == digest and body["is_manifest_list"] is False
    assert body["manifest_data"] == img.manifest().decode()
    assert body["config_media_type"] == "application/vnd.oci.image.config.v1+json"
    layers = body["layers"]
    assert [x["index"] for x in layers] == [0, 1, 2]
    assert layers[0] == {
        "index": 0,
        "compressed_size": len(img.layers[0]),
        "is_remote": False,
        "urls": None,
        "command": ["/bin/sh -c #(nop) ADD file:abc in /"],
        "comment": None,
        "author": None,
        "blob_digest": sha256(img.layers[0]),
        "created_datetime": "Mon, 01 Jan 2024 00:00:00 -0000",
    }
    assert layers[1]["blob_digest"] == EMPTY_LAYER and layers[1]["compressed_size"] == 32
    assert layers[2]["blob_digest"] == sha256(img.layers[1]) and layers[2]["author"] == "me"
    assert layers[2]["comment"] == "built" and layers[2]["created_datetime"] == "Tue, 02 Jan 2024 03:04:05 -0000"

    # a config without history: one entry per layer
    plain, plain_digest = push(client, repo, "plain")
    plain_layers = api.get(f"/repository/{repo}/manifest/{plain_digest}").json()["layers"]
    assert [x["blob_digest"] for x in plain_layers] == [sha256(x) for x in plain.layers]

    index_digest = push_index(client, repo, "multi", [img])
    body = api.get(f"/repository/{repo}/manifest/{index_digest}").json()
    assert body["is_manifest_list"] is True and body["layers"] is None and body["config_media_type"] is None

    assert api.get(f"/repository/{repo}/manifest/sha256:{'1' * 64}").status_code == 404
    assert api.get(f"/repository/{repo}/manifest/latest").status_code == 404


# --- labels ---------------------------------------------------------------------------------------


def test_labels(registry: RegistryServer, client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    img = Image.random()
    config = json.loads(img.config)
    config["config"] = {
        "Labels": {
            "maintainer": "ops@example.test",
            "org.opencontainers.image.title": "demo",
            "settings": '{"a": 1}',
        }
    }
    img.config = json.dumps(config).encode()
    _, digest = push(client, repo, "latest", img)
    base = f"/repository/{repo}/manifest/{digest}/labels"

    labels = api.get(base).json()["labels"]
    assert {(x["key"], x["value"], x["source_type"], x["media_type"]) for x in labels} == {
        ("maintainer", "ops@example.test", "manifest", "text/plain"),
        ("org.opencontainers.image.title", "demo", "manifest", "text/plain"),
        ("settings", '{"a": 1}', "manifest", "application/json"),
    }
    assert api.get(base).json()["labels"] == labels  # stable ids

    r = api.post(base, json={"key": "team", "value": "infra", "media_type": None})
    assert r.status_code == 201, r.text
    label = r.json()["label"]
    assert label["key"] == "team" and label["source_type"] == "api" and label["media_type"] == "text/plain"
    assert r.headers["location"] == f"/api/v1{base}/{label['id']}"
    assert api.get(f"{base}/{label['id']}").json() == label
    assert {x["key"] for x in api.get(base, params={"filter": "org."}).json()["labels"]} == {
        "org.opencontainers.image.title"
    }
    assert len(api.get(base).json()["labels"]) == 4

    for bad in (
        {"key": "quay.expires-after", "value": "2w", "media_type": None},  # reserved prefix
        {"key": "Bad Key", "value": "x", "media_type": None},
        {"key": "ok", "value": "x", "media_type": "image/png"},
        {"key": "ok", "value": "x"},  # media_type is required (may be null)
    ):
        assert api.post(base, json=bad).status_code == 400, bad

    manifest_label = next(x for x in labels if x["key"] == "maintainer")
    assert api.get(f"{base}/{manifest_label['id']}").json() == manifest_label
    assert api.delete(f"{base}/{manifest_label['id']}").status_code == 400  # immutable
    assert api.delete(f"{base}/{label['id']}").status_code == 204
    assert api.get(f"{base}/{label['id']}").status_code == 404
    assert api.delete(f"{base}/{label['id']}").status_code == 404

    entries = audit_kinds(registry, repo, {"manifest_label_add", "manifest_label_delete"})
    added = next(m for k, m in entries if k == "manifest_label_add")
    assert added["key"] == "team" and added["manifest_digest"] == digest and added["id"] == label["id"]


# --- permissions ----------------------------------------------------------------------------------


def test_permissions(registry: RegistryServer, client: Client, api: httpx.Client) -> None:
    repo = repo_name()
    _, digest = push(client, repo, "latest")
    base = f"{registry.url}/api/v1/repository"
    labels = f"/{repo}/manifest/{digest}/labels"
    with httpx.Client(base_url=base) as anon, httpx.Client(base_url=base, auth=OTHER) as other:
        # private: anonymous callers must sign in (401), others are refused (403)
        assert anon.get(f"/{repo}/tag/").status_code == 401
        r = other.get(f"/{repo}/tag/")
        assert r.status_code == 403 and r.json()["error_type"] == "insufficient_scope"
        assert other.get(f"/{repo}/manifest/{digest}").status_code == 403
        assert other.get(labels).status_code == 403
        assert anon.delete(f"/{repo}/tag/latest").status_code == 401
        # an unknown repository is 404 only for who could see it (as in Quay)
        assert api.get("/repository/admin/does-not-exist/tag/").status_code == 404
        assert other.get("/admin/does-not-exist/tag/").status_code == 403

        registry.cli("repo", "visibility", repo, "public")
        assert anon.get(f"/{repo}/tag/").status_code == 200
        assert other.get(f"/{repo}/tag/").status_code == 200
        assert other.get(labels).status_code == 200
        # reading is not writing
        assert other.put(f"/{repo}/tag/x", json={"manifest_digest": digest}).status_code == 403
        assert anon.put(f"/{repo}/tag/x", json={"manifest_digest": digest}).status_code == 401
        assert other.delete(f"/{repo}/tag/latest").status_code == 403
        assert other.post(f"/{repo}/tag/latest/restore", json={"manifest_digest": digest}).status_code == 403
        assert other.post(labels, json={"key": "a", "value": "b", "media_type": None}).status_code == 403
    assert v2_status(client, repo, "latest") == 200 and v2_tags(client, repo) == ["latest"]

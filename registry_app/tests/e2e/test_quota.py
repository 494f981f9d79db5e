"""Namespace quotas (issue 11 item 3), against the real server with real clients.

- The API: Quay's shapes (``quota_view``, ``limit_view``, ``quota_report``) and permissions
  (superusers set quotas, organization members read, others are refused), the user and superuser
  forms, and nothing at all without FEATURE_QUOTA_MANAGEMENT.
- Consumption as Quay counts it (skopeo copies from OCI layouts, so the pushed blobs are the
  layouts' own and the expected sizes are read from them): a blob once per namespace, repository
  sizes on their own, up to date after repository deletes; on SQLite and PostgreSQL.
- A podman push over a Reject limit fails with Quay's message and stores nothing (no tag, consumption
  unchanged), and a ``quota_error`` event is recorded; crossing a Warning limit records one
  ``quota_warning`` event with Quay's payload.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from registry_app.db.engine import make_engine
from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.engines import ClientError, ContainersClients
from tests.support.images import OciImage, build_image
from tests.support.oci import Client, Image, sha256
from tests.support.server import RegistryServer

MEMBER = ("qmember", "member-password-for-tests")
OUTSIDER = ("qoutsider", "outsider-password-for-tests")
QUAY_MESSAGE = "Quota has been exceeded on namespace"


# -- helpers -----------------------------------------------------------------------------------------
def start_server(tmp_path: Path, db_uri: str | None = None, **config: Any) -> RegistryServer:
    overrides: dict[str, Any] = {"FEATURE_QUOTA_MANAGEMENT": True, **config}
    if db_uri is not None:
        overrides["DB_URI"] = db_uri
    server = bundle_server(tmp_path, admin=True, FEATURE_SUPERUSERS_FULL_ACCESS=True, **overrides)
    server.create_user(*MEMBER)
    server.create_user(*OUTSIDER)
    return server


def db_uri_of(tmp_path: Path, db_uri: str | None) -> str:
    return db_uri or f"sqlite:///{tmp_path / 'registry.db'}"


def events(uri: str, kind: str) -> list[dict[str, Any]]:
    """The ``repository_event`` rows of one kind, as the notifications worker will read them."""
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT payload_json FROM repository_event WHERE kind = :k ORDER BY id"), {"k": kind}
            ).all()
    finally:
        engine.dispose()
    return [json.loads(r[0]) for r in rows]


def image_bytes(img: OciImage, manifest_digest: str | None = None) -> dict[str, int]:
    """{digest: size} of an image's config and layers, read from its layout (what Quay counts)."""
    digest = manifest_digest or img.digest
    manifest = json.loads((img.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes())
    return {d["digest"]: d["size"] for d in [manifest["config"], *manifest["layers"]]}


def copy(cc: ContainersClients, server: RegistryServer, img: OciImage, dest: str, check: bool = True) -> Any:
    return cc.skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", ":".join(ADMIN), img.ref, f"docker://{server.host}/{dest}",
        check=check,
    )  # fmt: skip


@pytest.fixture
def api_of() -> Iterator[Callable[..., httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: RegistryServer, auth: tuple[str, str] = ADMIN) -> httpx.Client:
        c = httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=120)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def make_org(api: httpx.Client, name: str, member: str | None = None) -> None:
    r = api.post("/organization/", json={"name": name, "email": f"{name}@example.com"})
    assert r.status_code == 201, r.text
    if member:
        r = api.put(f"/organization/{name}/team/readers", json={"role": "member"})
        assert r.status_code == 200, r.text
        r = api.put(f"/organization/{name}/team/readers/members/{member}")
        assert r.status_code == 200, r.text


def set_quota(api: httpx.Client, org: str, limit_bytes: int, limits: list[tuple[str, int]]) -> int:
    r = api.post(f"/organization/{org}/quota", json={"limit_bytes": limit_bytes})
    assert r.status_code == 201, r.text
    quota_id = api.get(f"/organization/{org}/quota").json()[0]["id"]
    for kind, percent in limits:
        r = api.post(f"/organization/{org}/quota/{quota_id}/limit", json={"type": kind, "threshold_percent": percent})
        assert r.status_code == 201, r.text
    return int(quota_id)


def report(api: httpx.Client, org: str) -> dict[str, Any]:
    r = api.get(f"/organization/{org}")
    assert r.status_code == 200, r.text
    return dict(r.json()["quota_report"])


def repo_bytes(api: httpx.Client, repo: str) -> int:
    r = api.get(f"/repository/{repo}")
    assert r.status_code == 200, r.text
    return int(r.json()["quota_report"]["quota_bytes"])


# -- the API -----------------------------------------------------------------------------------------
def test_quota_api_shapes_and_permissions(tmp_path: Path, api_of: Callable[..., httpx.Client]) -> None:
    server = start_server(tmp_path, DEFAULT_SYSTEM_REJECT_QUOTA_BYTES=5 * 1024**3)
    with server.start():
        admin, member, outsider = api_of(server), api_of(server, MEMBER), api_of(server, OUTSIDER)
        make_org(admin, "qapi", member=MEMBER[0])

        # No quota yet: Quay lists the system default, marked as such.
        listed = member.get("/organization/qapi/quota")
        assert listed.status_code == 200, listed.text
        assert listed.json() == [
            {"id": None, "limit_bytes": 5 * 1024**3, "limit": "5.0 GiB", "default_config": True, "limits": [],
             "default_config_exists": True}
        ]  # fmt: skip

        # Only superusers set quotas; members read; outsiders are refused.
        assert member.post("/organization/qapi/quota", json={"limit_bytes": 10}).status_code == 403
        assert outsider.get("/organization/qapi/quota").status_code == 403
        r = admin.post("/organization/qapi/quota", json={"limit": "10 MiB"})
        assert r.status_code == 201, r.text
        again = admin.post("/organization/qapi/quota", json={"limit_bytes": 1})
        assert again.status_code == 400 and "already exists" in again.json()["error_message"]
        assert admin.post("/organization/qapi/quota", json={"limit": "ten"}).status_code == 400
        assert admin.post("/organization/qapi/quota", json={"limit_bytes": 0}).status_code == 400

        quota = member.get("/organization/qapi/quota").json()
        assert len(quota) == 1
        quota_id = quota[0]["id"]
        assert quota[0] == {
            "id": quota_id, "limit_bytes": 10 * 1024**2, "limit": "10.0 MiB", "default_config": False,
            "limits": [], "default_config_exists": True,
        }  # fmt: skip

        base = f"/organization/qapi/quota/{quota_id}"
        assert admin.post(f"{base}/limit", json={"type": "Warning", "threshold_percent": 80}).status_code == 201
        assert admin.post(f"{base}/limit", json={"type": "Reject", "threshold_percent": 100}).status_code == 201
        dup = admin.post(f"{base}/limit", json={"type": "Warning", "threshold_percent": 80})
        assert dup.status_code == 400 and dup.json()["error_message"] == "Quota limit already exists"
        second_reject = admin.post(f"{base}/limit", json={"type": "Reject", "threshold_percent": 90})
        assert second_reject.status_code == 400
        assert admin.post(f"{base}/limit", json={"type": "Block", "threshold_percent": 50}).status_code == 400
        assert admin.post(f"{base}/limit", json={"type": "Warning", "threshold_percent": 101}).status_code == 400
        assert member.post(f"{base}/limit", json={"type": "Warning", "threshold_percent": 70}).status_code == 403

        limits = member.get(f"{base}/limit").json()
        assert [(lim["type"], lim["limit_percent"]) for lim in limits] == [("Warning", 80), ("Reject", 100)]
        assert set(limits[0]) == {"id", "type", "limit_percent"}
        warning_id = limits[0]["id"]
        assert member.get(f"{base}/limit/{warning_id}").json() == limits[0]
        changed = admin.put(f"{base}/limit/{warning_id}", json={"threshold_percent": 70})
        assert changed.status_code == 200, changed.text
        assert {"id": warning_id, "type": "Warning", "limit_percent": 70} in changed.json()["limits"]
        assert member.put(f"{base}/limit/{warning_id}", json={"threshold_percent": 60}).status_code == 403

        bigger = admin.put(base, json={"limit_bytes": 20 * 1024**2})
        assert bigger.status_code == 200 and bigger.json()["limit_bytes"] == 20 * 1024**2
        assert admin.put(base, json={"limit_bytes": 1, "other": 2}).status_code == 400

        # The organization view carries Quay's quotas and quota_report.
        org = member.get("/organization/qapi").json()
        assert org["quotas"][0]["id"] == quota_id
        assert org["quota_report"] == {
            "quota_bytes": 0, "configured_quota": 20 * 1024**2, "running_backfill": "complete",
            "backfill_status": "complete",
        }  # fmt: skip

        assert admin.delete(f"{base}/limit/{warning_id}").status_code == 204
        assert member.get(f"{base}/limit/{warning_id}").status_code == 404
        assert member.delete(base).status_code == 403
        assert admin.delete(base).status_code == 204
        assert member.get(base).status_code == 404

        # The superuser forms, for users and organizations.
        su = "/superuser/users/qmember/quota"
        assert member.post(su, json={"limit_bytes": 1000}).status_code == 403
        assert admin.post(su, json={"limit_bytes": 1000}).status_code == 201
        mine = member.get("/user/quota").json()
        assert [q["limit_bytes"] for q in mine] == [1000]
        user_quota_id = mine[0]["id"]
        assert member.get(f"/user/quota/{user_quota_id}").json()["limit"] == "1000.0 Byte"
        assert member.get(f"/user/quota/{user_quota_id}/limit").json() == []
        assert member.get("/user/").json()["quota_report"]["configured_quota"] == 1000
        assert admin.put(f"{su}/{user_quota_id}", json={"limit_bytes": 2000}).json()["limit_bytes"] == 2000
        assert admin.get(su).json()[0]["limit_bytes"] == 2000
        assert admin.post("/superuser/organization/qmember/quota", json={"limit_bytes": 1}).status_code == 404
        assert admin.post("/superuser/organization/qapi/quota", json={"limit_bytes": 4096}).status_code == 201
        assert member.get("/organization/qapi/quota").json()[0]["limit"] == "4.0 KiB"
        assert admin.delete(f"{su}/{user_quota_id}").status_code == 204
        assert admin.get(su).json() == []

        # Documented in the OpenAPI document.
        paths = admin.get("/discovery").json()["paths"]
        for path in (
            "/api/v1/organization/{orgname}/quota", "/api/v1/organization/{orgname}/quota/{quota_id}/limit/{limit_id}",
            "/api/v1/user/quota", "/api/v1/superuser/users/{namespace}/quota/{quota_id}",
            "/api/v1/superuser/organization/{namespace}/quota",
        ):  # fmt: skip
            assert path in paths, path
        links = paths["/api/v1/organization/{orgname}/quota"]["get"]["responses"]["200"]["links"]
        assert {link["parameters"]["quota_id"] for link in links.values()} == {"$response.body#/0/id"}


def test_no_quota_api_without_the_feature(tmp_path: Path, api_of: Callable[..., httpx.Client]) -> None:
    server = bundle_server(tmp_path, admin=True)
    with server.start():
        admin = api_of(server)
        make_org(admin, "plain")
        assert admin.get("/organization/plain/quota").status_code == 404
        assert admin.post("/organization/plain/quota", json={"limit_bytes": 10}).status_code == 404
        assert "quota_report" not in admin.get("/organization/plain").json()


# -- consumption ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_consumption_counts_a_blob_once_per_namespace(
    database: str, tmp_path: Path, cc: ContainersClients, api_of: Callable[..., httpx.Client],
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """Two images sharing their base layer (same seed, different payload) in two repositories of
    one organization, and the first one again in the second repository and in another namespace:
    the organization counts each blob once, each repository its own blobs, the other namespace
    nothing of the organization's; deleting repositories brings the counts down."""
    db_uri = request.getfixturevalue("pg_database") if database == "postgresql" else None
    a = build_image(tmp_path / "a", "v1", seed="shared-seed", payload_size=96 * 1024)
    b = build_image(tmp_path / "b", "v1", seed="shared-seed", payload_size=64 * 1024)
    blobs_a, blobs_b = image_bytes(a), image_bytes(b)
    shared = set(blobs_a) & set(blobs_b)
    assert shared and set(blobs_b) - shared, "the images must share some blobs and not others"
    server = start_server(tmp_path, db_uri)
    with server.start():
        api = api_of(server)
        make_org(api, "qsize")
        copy(cc, server, a, "qsize/one:v1")
        copy(cc, server, b, "qsize/two:v1")
        both = {**blobs_a, **blobs_b}
        assert report(api, "qsize")["quota_bytes"] == sum(both.values())
        assert repo_bytes(api, "qsize/one") == sum(blobs_a.values())
        assert repo_bytes(api, "qsize/two") == sum(blobs_b.values())

        copy(cc, server, a, "qsize/two:a")  # same blobs again in another repository: the namespace is unchanged
        copy(cc, server, a, "admin/elsewhere:v1")
        assert report(api, "qsize")["quota_bytes"] == sum(both.values())
        assert repo_bytes(api, "qsize/two") == sum(both.values())
        assert api.get("/user/").json()["quota_report"]["quota_bytes"] == sum(blobs_a.values())
        listed = api.get("/repository", params={"namespace": "qsize"}).json()["repositories"]
        assert {r["name"]: r["quota_report"] for r in listed} == {
            "one": {"quota_bytes": sum(blobs_a.values()), "configured_quota": None},
            "two": {"quota_bytes": sum(both.values()), "configured_quota": None},
        }

        assert api.delete("/repository/qsize/two").status_code == 204
        assert report(api, "qsize")["quota_bytes"] == sum(blobs_a.values())
        assert api.delete("/repository/qsize/one").status_code == 204
        assert report(api, "qsize")["quota_bytes"] == 0
        assert api.get("/user/").json()["quota_report"]["quota_bytes"] == sum(blobs_a.values())


# -- enforcement ---------------------------------------------------------------------------------------
def test_podman_push_over_reject_quota_fails_and_stores_nothing(
    tmp_path: Path, cc: ContainersClients, api_of: Callable[..., httpx.Client]
) -> None:
    small = build_image(tmp_path / "small", "v1", seed="quota-small", payload_size=8 * 1024)
    big = build_image(tmp_path / "big", "v1", seed="quota-big", payload_size=512 * 1024)
    small_bytes = sum(image_bytes(small).values())
    server = start_server(tmp_path)
    with server.start():
        api = api_of(server)
        make_org(api, "qfull")
        quota_id = set_quota(api, "qfull", 256 * 1024, [("Reject", 100)])
        copy(cc, server, small, "qfull/app:small")  # under the limit: accepted
        before = report(api, "qfull")["quota_bytes"]
        assert before == small_bytes

        image_id = cc.podman("pull", "--quiet", big.ref).stdout.strip().splitlines()[-1]
        ref = f"{server.host}/qfull/app:big"
        cc.podman("tag", image_id, ref)
        cc.podman("login", "--tls-verify=false", "--username", ADMIN[0], "--password-stdin", server.host,
                  input=ADMIN[1])  # fmt: skip
        with pytest.raises(ClientError) as refused:
            cc.podman("push", "--tls-verify=false", ref)
        message = str(refused.value)
        assert QUAY_MESSAGE in message, message
        assert "denied" in message.lower(), message

        # Nothing stored: no tag, consumption unchanged (uploaded blobs no manifest names do not
        # count; the garbage collector removes them).
        tags = api.get("/repository/qfull/app/tag/", params={"specificTag": "big"}).json()["tags"]
        assert tags == []
        with httpx.Client(auth=ADMIN) as v2:
            assert v2.get(f"{server.url}/v2/qfull/app/manifests/big").status_code in (401, 404)
        assert report(api, "qfull")["quota_bytes"] == before
        assert repo_bytes(api, "qfull/app") == before

        errors = events(db_uri_of(tmp_path, None), "quota_error")
        assert len(errors) == 1, errors  # one while undelivered, however often the client retried
        payload = errors[0]
        assert payload["namespace"] == "qfull"
        assert payload["homepage"] == f"http://{server.host}/organization/qfull"
        assert payload["limit_bytes"] == 256 * 1024 and payload["threshold_percent"] == 100
        assert payload["usage_bytes"] >= 256 * 1024 and payload["usage_percent"] >= 100
        assert payload["limit_bytes_formatted"] == "256.00 KB"
        assert set(payload) == {
            "namespace", "homepage", "threshold_percent", "usage_bytes", "limit_bytes", "usage_percent",
            "usage_bytes_formatted", "limit_bytes_formatted",
        }  # fmt: skip

        # Raise the quota: the same push now passes.
        assert api.put(f"/organization/qfull/quota/{quota_id}", json={"limit_bytes": 4 * 1024**2}).status_code == 200
        cc.podman("push", "--tls-verify=false", ref)
        assert report(api, "qfull")["quota_bytes"] > before


def test_blob_upload_refused_once_namespace_is_over(tmp_path: Path, cc: ContainersClients,
                                                    api_of: Callable[..., httpx.Client]) -> None:  # fmt: skip
    """With the namespace already at its Reject limit (the quota lowered under its consumption),
    a blob upload is refused with DENIED and its bytes are dropped (Quay's check on PATCH/PUT)."""
    img = build_image(tmp_path / "img", "v1", seed="quota-over", payload_size=16 * 1024)
    server = start_server(tmp_path)
    with server.start():
        api = api_of(server)
        make_org(api, "qover")
        quota_id = set_quota(api, "qover", 1024**2, [("Reject", 100)])
        copy(cc, server, img, "qover/app:v1")
        assert api.put(f"/organization/qover/quota/{quota_id}", json={"limit_bytes": 1024}).status_code == 200
        with httpx.Client(base_url=server.url, auth=ADMIN) as v2:
            started = v2.post("/v2/qover/app/blobs/uploads/")
            assert started.status_code == 202, started.text
            r = v2.patch(started.headers["location"], content=b"x" * 100,
                         headers={"content-type": "application/octet-stream"})  # fmt: skip
            assert r.status_code == 403, r.text
            assert r.json()["errors"][0]["code"] == "DENIED"
            assert r.json()["errors"][0]["message"] == QUAY_MESSAGE
            assert v2.get(started.headers["location"]).status_code == 404  # the upload is gone


def test_manifest_put_over_reject_quota_is_refused_before_anything_is_stored(
    tmp_path: Path, api_of: Callable[..., httpx.Client]
) -> None:
    """Blobs that each pass (an upload counts only itself and the namespace's consumption), then a
    manifest naming all of them: refused with Quay's error; no manifest and no tag are stored and
    consumption is unchanged; the uploaded blobs stay (no manifest names them: for GC to collect)."""
    img = Image.random(n_layers=3, size=40 * 1024)
    server = start_server(tmp_path)
    with server.start():
        api = api_of(server)
        make_org(api, "qman")
        set_quota(api, "qman", 100 * 1024, [("Warning", 10), ("Reject", 100)])
        client = Client(server.url, auth=ADMIN)
        try:
            for blob in [img.config, *img.layers]:
                assert client.push_blob("qman/app", blob).status_code == 201
            body = img.manifest()
            r = client.put_manifest("qman/app", "v1", body)
            assert r.status_code == 403, r.text
            assert r.json()["errors"][0] == {"code": "DENIED", "message": QUAY_MESSAGE, "detail": {}}
            assert client.http.get("/v2/qman/app/manifests/v1").status_code == 404
            assert client.http.get(f"/v2/qman/app/manifests/{sha256(body)}").status_code == 404
            assert client.http.head(f"/v2/qman/app/blobs/{sha256(img.layers[0])}").status_code == 200
        finally:
            client.close()
        assert report(api, "qman")["quota_bytes"] == 0
        assert repo_bytes(api, "qman/app") == 0
        uri = db_uri_of(tmp_path, None)
        [error] = events(uri, "quota_error")
        assert error["usage_bytes"] == len(img.config) + 3 * 40 * 1024
        assert events(uri, "quota_warning") == []  # a refused push raises the error, not a warning


def test_crossing_a_warning_limit_records_a_quota_warning_event(
    tmp_path: Path, cc: ContainersClients, api_of: Callable[..., httpx.Client]
) -> None:
    img = build_image(tmp_path / "img", "v1", seed="quota-warn", payload_size=64 * 1024)
    size = sum(image_bytes(img).values())
    limit = size * 3 // 2  # Warning at 50 % is crossed by the push, Reject at 100 % is not reached
    server = start_server(tmp_path)
    with server.start():
        api = api_of(server)
        make_org(api, "qwarn")
        set_quota(api, "qwarn", limit, [("Warning", 50), ("Reject", 100)])
        uri = db_uri_of(tmp_path, None)
        assert events(uri, "quota_warning") == []
        copy(cc, server, img, "qwarn/app:v1")
        copy(cc, server, img, "qwarn/app:again")  # adds nothing: no second crossing
        warnings = events(uri, "quota_warning")
        assert warnings == [
            {
                "namespace": "qwarn",
                "homepage": f"http://{server.host}/organization/qwarn",
                "threshold_percent": 50,
                "usage_bytes": size,
                "limit_bytes": limit,
                "usage_percent": size * 100 // limit,
                "usage_bytes_formatted": f"{size / 1024:.2f} KB",
                "limit_bytes_formatted": f"{limit / 1024:.2f} KB",
            }
        ]
        assert events(uri, "quota_error") == []


def test_a_warning_is_delivered_to_a_webhook(
    tmp_path: Path, cc: ContainersClients, api_of: Callable[..., httpx.Client]
) -> None:
    """Quotas and notifications together: a ``quota_warning`` notification on the repository, a
    push crossing the Warning limit, and the receiver gets Quay's quota payload from the worker."""
    from tests.support.receivers import HttpReceiver

    img = build_image(tmp_path / "img", "v1", seed="quota-hook", payload_size=64 * 1024)
    size = sum(image_bytes(img).values())
    limit = size * 3 // 2
    server = start_server(tmp_path, REGISTRY_APP_NOTIFICATION_INTERVAL=0.5)
    receiver = HttpReceiver().start()
    try:
        with server.start():
            api = api_of(server)
            make_org(api, "qhook")
            set_quota(api, "qhook", limit, [("Warning", 50), ("Reject", 100)])
            r = api.post("/repository", json={"namespace": "qhook", "repository": "app", "visibility": "private",
                                              "description": ""})  # fmt: skip
            assert r.status_code == 201, r.text
            body = {"event": "quota_warning", "method": "webhook", "config": {"url": receiver.url()},
                    "eventConfig": {}, "title": "quota"}  # fmt: skip
            r = api.post("/repository/qhook/app/notification/", json=body)
            assert r.status_code == 201, r.text
            assert receiver.bodies() == []
            copy(cc, server, img, "qhook/app:v1")
            deadline = time.monotonic() + 90
            while not receiver.bodies() and time.monotonic() < deadline:
                time.sleep(0.5)
            delivered = receiver.bodies()
            assert len(delivered) == 1, (delivered, server.log()[-3000:])
            payload = delivered[0]
            assert payload["namespace"] == "qhook" and payload["threshold_percent"] == 50, payload
            assert (payload["usage_bytes"], payload["limit_bytes"]) == (size, limit), payload
    finally:
        receiver.stop()

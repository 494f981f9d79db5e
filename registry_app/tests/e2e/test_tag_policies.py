"""Auto-prune policies and immutable tags against the real server (Quay 3.13 and 3.17 semantics):
the autoprune worker running inside ``registry-app serve`` (AUTO_PRUNING_POLL_PERIOD 1 s) prunes
what the policies select, each pruned tag in the audit log read through /api/v1; immutable tags
refuse overwrite (through /v2 and skopeo), delete (/v2 and /api/v1), moves, restores and expiry,
and the worker skips them; the policy endpoints check their permissions.

Waiting for the worker polls the registry (bounded), as the audit tests poll the batched log; no
assertion is about how long anything took."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients
from tests.support.images import build_image
from tests.support.oci import OCI_MANIFEST, Client, Image, sha256
from tests.support.server import RegistryServer

OTHER = ("otheruser", "other-user-password")
WAIT_S = 60.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    base = tmp_path_factory.mktemp("tagpolicies")
    server = bundle_server(base, admin=True, AUTO_PRUNING_POLL_PERIOD=1, LABELED_EXPIRATION_MINIMUM="1s")
    server.create_user(*OTHER)
    with server.start():
        yield server


@pytest.fixture
def api(registry: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=ADMIN, timeout=30) as c:
        yield c


@pytest.fixture
def other_api(registry: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{registry.url}/api/v1", auth=OTHER, timeout=30) as c:
        yield c


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[Client]:
    c = Client(registry.url, auth=ADMIN)
    yield c
    c.close()


def new_org(api: httpx.Client) -> str:
    name = f"org{uuid.uuid4().hex[:10]}"
    r = api.post("/organization/", json={"name": name, "email": f"{name}@example.com"})
    assert r.status_code == 201, r.text
    return name


def push(client: Client, repo: str, tag: str, image: Image | None = None) -> str:
    image = image or Image.random()
    r = client.push_image(repo, image, tag)
    assert r.status_code == 201, r.text
    time.sleep(0.01)  # distinct push times: "newest" is well defined
    return sha256(image.manifest())


def live_tags(client: Client, repo: str) -> list[str]:
    r = client.http.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    return sorted(r.json()["tags"] or [])


def wait_for(what: Callable[[], Any], expected: Any) -> Any:
    """Poll ``what()`` until it returns ``expected`` (the worker runs every second), at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    value = what()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        value = what()
    return value


def repo_logs(api: httpx.Client, repo: str, kind: str) -> list[dict[str, Any]]:
    r = api.get(f"/repository/{repo}/logs")
    assert r.status_code == 200, r.text
    return [log for log in r.json()["logs"] if log["kind"] == kind]


def pruned_tags(api: httpx.Client, repo: str) -> list[str]:
    return sorted(log["metadata"]["tag"] for log in repo_logs(api, repo, "autoprune_tag_delete"))


# --- auto-prune -----------------------------------------------------------------------------------


def test_org_policy_keeps_two_newest_and_logs_each_pruned_tag(api: httpx.Client, client: Client) -> None:
    org = new_org(api)
    repo = f"{org}/app"
    for tag in ("t1", "t2", "t3", "t4"):
        push(client, repo, tag)
    r = api.post(f"/organization/{org}/autoprunepolicy/", json={"method": "number_of_tags", "value": 2})
    assert r.status_code == 201, r.text
    policy = r.json()["uuid"]
    listed = api.get(f"/organization/{org}/autoprunepolicy/").json()
    assert listed == {
        "policies": [
            {"uuid": policy, "method": "number_of_tags", "value": 2, "tagPattern": None, "tagPatternMatches": True}
        ]
    }
    assert wait_for(lambda: live_tags(client, repo), ["t3", "t4"]) == ["t3", "t4"]
    assert wait_for(lambda: pruned_tags(api, repo), ["t1", "t2"]) == ["t1", "t2"]
    entry = repo_logs(api, repo, "autoprune_tag_delete")[0]
    assert entry["metadata"]["performer"] == "autoprune worker" and entry["metadata"]["namespace"] == org
    # the pruned tags are in the time machine like deleted ones: ended rows that can be restored
    history = api.get(f"/repository/{repo}/tag/", params={"specificTag": "t1"}).json()["tags"]
    assert history and "end_ts" in history[0]
    restored = api.post(f"/repository/{repo}/tag/t1/restore", json={"manifest_digest": history[0]["manifest_digest"]})
    assert restored.status_code == 200, restored.text
    # the policy change and delete are logged with Quay's kinds
    assert (
        api.put(
            f"/organization/{org}/autoprunepolicy/{policy}", json={"method": "number_of_tags", "value": 5}
        ).status_code
        == 204
    )
    assert api.get(f"/organization/{org}/autoprunepolicy/{policy}").json()["value"] == 5
    r = api.delete(f"/organization/{org}/autoprunepolicy/{policy}")
    assert r.status_code == 200 and r.json() == {"uuid": policy}
    assert api.get(f"/organization/{org}/autoprunepolicy/{policy}").status_code == 404
    logs = api.get(f"/organization/{org}/logs").json()["logs"]
    kinds = {log["kind"] for log in logs}
    assert {
        "create_namespace_autoprune_policy",
        "update_namespace_autoprune_policy",
        "delete_namespace_autoprune_policy",
    } <= kinds


def test_repository_creation_date_policy_with_pattern(api: httpx.Client, client: Client) -> None:
    org = new_org(api)
    repo = f"{org}/web"
    for tag in ("dev-1", "dev-2", "release"):
        push(client, repo, tag)
    time.sleep(1.1)  # older than the policy's 1s
    r = api.post(
        f"/repository/{repo}/autoprunepolicy/",
        json={"method": "creation_date", "value": "1s", "tagPattern": "^dev-", "tagPatternMatches": True},
    )
    assert r.status_code == 201, r.text
    assert wait_for(lambda: live_tags(client, repo), ["release"]) == ["release"]
    assert wait_for(lambda: pruned_tags(api, repo), ["dev-1", "dev-2"]) == ["dev-1", "dev-2"]
    assert [log["kind"] for log in repo_logs(api, repo, "create_repository_autoprune_policy")]


def test_pattern_no_match_prunes_the_others(api: httpx.Client, client: Client) -> None:
    """tagPatternMatches false: the policy covers the tags the pattern does NOT match."""
    org = new_org(api)
    repo = f"{org}/svc"
    for tag in ("keep-a", "keep-b", "x1", "x2", "x3"):
        push(client, repo, tag)
    r = api.post(
        f"/repository/{repo}/autoprunepolicy/",
        json={"method": "number_of_tags", "value": 1, "tagPattern": "^keep", "tagPatternMatches": False},
    )
    assert r.status_code == 201, r.text
    assert wait_for(lambda: live_tags(client, repo), ["keep-a", "keep-b", "x3"]) == ["keep-a", "keep-b", "x3"]


def test_user_namespace_policy(api: httpx.Client, client: Client) -> None:
    r = api.post("/user/autoprunepolicy/", json={"method": "creation_date", "value": "365d", "tagPattern": "zz"})
    assert r.status_code == 201, r.text
    policy = r.json()["uuid"]
    assert api.get(f"/user/autoprunepolicy/{policy}").json()["value"] == "365d"
    # a duplicate is refused, as in Quay
    dup = api.post("/user/autoprunepolicy/", json={"method": "creation_date", "value": "365d", "tagPattern": "zz"})
    assert dup.status_code == 400
    assert api.delete(f"/user/autoprunepolicy/{policy}").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"method": "nope", "value": 1},
        {"method": "number_of_tags", "value": 0},
        {"method": "number_of_tags", "value": "3"},
        {"method": "creation_date", "value": "7x"},
        {"method": "creation_date"},
        {"method": "number_of_tags", "value": 2, "tagPattern": "("},
        {"method": "number_of_tags", "value": 2, "tagPatternMatches": "yes"},
    ],
)
def test_invalid_policies_are_400(api: httpx.Client, body: dict[str, Any]) -> None:
    org = new_org(api)
    r = api.post(f"/organization/{org}/autoprunepolicy/", json=body)
    assert r.status_code == 400, r.text
    assert api.get(f"/organization/{org}/autoprunepolicy/").json() == {"policies": []}


def test_permissions(api: httpx.Client, other_api: httpx.Client, client: Client, registry: RegistryServer) -> None:
    org = new_org(api)
    repo = f"{org}/perm"
    push(client, repo, "v1")
    # a signed-in user who administers neither the organization nor the repository: 403
    for path in (f"/organization/{org}/autoprunepolicy/", f"/organization/{org}/immutabilitypolicy/"):
        assert other_api.get(path).status_code == 403
        assert other_api.post(path, json={"method": "number_of_tags", "value": 1, "tagPattern": "x"}).status_code == 403
    for path in (f"/repository/{repo}/autoprunepolicy/", f"/repository/{repo}/immutabilitypolicy/"):
        assert other_api.get(path).status_code == 403
        assert other_api.post(path, json={"method": "number_of_tags", "value": 1, "tagPattern": "x"}).status_code == 403
    # write permission on the repository is not enough either (Quay: repository admin)
    r = api.put(f"/repository/{repo}/permissions/user/{OTHER[0]}", json={"role": "write"})
    assert r.status_code == 200, r.text
    assert (
        other_api.post(
            f"/repository/{repo}/autoprunepolicy/", json={"method": "number_of_tags", "value": 1}
        ).status_code
        == 403
    )
    # anonymous: 401
    with httpx.Client(base_url=f"{registry.url}/api/v1") as anon:
        assert anon.get(f"/organization/{org}/autoprunepolicy/").status_code == 401
        assert anon.get("/user/autoprunepolicy/").status_code == 401
    assert api.get(f"/organization/{org}/autoprunepolicy/").json() == {"policies": []}


# --- immutable tags -------------------------------------------------------------------------------


def immutable_flag(api: httpx.Client, repo: str, tag: str) -> bool:
    rows = api.get(f"/repository/{repo}/tag/", params={"specificTag": tag, "onlyActiveTags": "true"}).json()["tags"]
    assert len(rows) == 1
    return bool(rows[0]["immutable"])


def test_immutable_tag_refuses_overwrite_delete_move_and_expiry(api: httpx.Client, client: Client) -> None:
    org = new_org(api)
    repo = f"{org}/locked"
    d1 = push(client, repo, "v1")
    d2 = push(client, repo, "other")
    assert immutable_flag(api, repo, "v1") is False
    r = api.put(f"/repository/{repo}/tag/v1", json={"immutable": True})
    assert r.status_code == 201, r.text
    assert immutable_flag(api, repo, "v1") is True

    # overwrite through /v2: Quay's TAG_IMMUTABLE, 409, naming the tag
    image = Image.random()
    for blob in (*image.layers, image.config):
        assert client.push_blob(repo, blob).status_code == 201
    r = client.put_manifest(repo, "v1", image.manifest(), OCI_MANIFEST)
    assert r.status_code == 409, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "TAG_IMMUTABLE" and "'v1'" in error["message"]
    # the same manifest again is no change and is accepted
    assert (
        client.put_manifest(
            repo,
            "v1",
            client.http.get(f"/v2/{repo}/manifests/v1", headers={"accept": OCI_MANIFEST}).content,
            OCI_MANIFEST,
        ).status_code
        == 201
    )

    # delete through /v2 (by tag and by digest) and through the API
    r = client.http.delete(f"/v2/{repo}/manifests/v1")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "TAG_IMMUTABLE"
    assert client.http.delete(f"/v2/{repo}/manifests/{d1}").status_code == 409
    r = api.delete(f"/repository/{repo}/tag/v1")
    assert r.status_code == 409 and r.json()["error_type"] == "tag_immutable"
    assert "Cannot delete immutable tag 'v1'" in r.json()["error_message"]
    # move and restore over it
    assert api.put(f"/repository/{repo}/tag/v1", json={"manifest_digest": d2}).status_code == 409
    assert api.post(f"/repository/{repo}/tag/v1/restore", json={"manifest_digest": d2}).status_code == 409
    # expiry
    r = api.put(f"/repository/{repo}/tag/v1", json={"expiration": int(time.time()) + 3600})
    assert r.status_code == 409 and "set expiration on" in r.json()["error_message"]
    # still there, at its digest
    got = client.http.get(f"/v2/{repo}/manifests/v1", headers={"accept": OCI_MANIFEST})
    assert got.status_code == 200 and got.headers["docker-content-digest"] == d1

    # auto-prune skips it: keep one tag -> "other" is the newest mutable tag and stays; v1 stays
    push(client, repo, "newest")
    assert (
        api.post(f"/repository/{repo}/autoprunepolicy/", json={"method": "number_of_tags", "value": 1}).status_code
        == 201
    )
    assert wait_for(lambda: live_tags(client, repo), ["newest", "v1"]) == ["newest", "v1"]

    # unsetting needs the admin role: a writer may set but not unset
    r = api.put(f"/repository/{repo}/permissions/user/{OTHER[0]}", json={"role": "write"})
    assert r.status_code == 200, r.text
    with httpx.Client(base_url=str(api.base_url), auth=OTHER, timeout=30) as writer:
        assert writer.put(f"/repository/{repo}/tag/v1", json={"immutable": False}).status_code == 403
    assert api.put(f"/repository/{repo}/tag/v1", json={"immutable": False}).status_code == 201
    assert immutable_flag(api, repo, "v1") is False
    assert api.delete(f"/repository/{repo}/tag/v1").status_code == 204
    kinds = [log["kind"] for log in repo_logs(api, repo, "change_tag_immutability")]
    assert len(kinds) == 2


def test_immutability_policy_marks_pushed_and_existing_tags(api: httpx.Client, client: Client) -> None:
    org = new_org(api)
    repo = f"{org}/rel"
    push(client, repo, "v1")
    push(client, repo, "latest")
    r = api.post(f"/organization/{org}/immutabilitypolicy/", json={"tagPattern": "v[0-9]+"})
    assert r.status_code == 201, r.text
    policy = r.json()["uuid"]
    assert api.get(f"/organization/{org}/immutabilitypolicy/").json() == {
        "policies": [{"uuid": policy, "tagPattern": "v[0-9]+", "tagPatternMatches": True}]
    }
    # existing tags that match (the whole name) become immutable at once
    assert immutable_flag(api, repo, "v1") is True and immutable_flag(api, repo, "latest") is False
    # pushed ones when they are pushed; "v2-rc" does not match the whole pattern
    push(client, repo, "v2")
    push(client, repo, "v2-rc")
    assert immutable_flag(api, repo, "v2") is True and immutable_flag(api, repo, "v2-rc") is False
    assert client.http.delete(f"/v2/{repo}/manifests/v2").status_code == 409
    # a repository policy with tagPatternMatches false: everything but "latest" in that repository
    r = api.post(f"/repository/{repo}/immutabilitypolicy/", json={"tagPattern": "latest", "tagPatternMatches": False})
    assert r.status_code == 201, r.text
    assert immutable_flag(api, repo, "v2-rc") is True and immutable_flag(api, repo, "latest") is False
    assert api.post(f"/organization/{org}/immutabilitypolicy/", json={"tagPattern": "("}).status_code == 400
    assert api.post(f"/organization/{org}/immutabilitypolicy/", json={"tagPattern": "v[0-9]+"}).status_code == 400
    assert api.delete(f"/organization/{org}/immutabilitypolicy/{policy}").status_code == 200
    kinds = {log["kind"] for log in api.get(f"/organization/{org}/logs").json()["logs"]}
    assert {"create_immutability_policy", "delete_immutability_policy"} <= kinds


@pytest.mark.clients
def test_skopeo_and_podman_push_over_an_immutable_tag_fail_with_the_message(
    api: httpx.Client, client: Client, registry: RegistryServer, cc: ContainersClients, tmp_path: Path
) -> None:
    org = new_org(api)
    repo = f"{org}/skopeo"
    first = build_image(tmp_path / "a", "one", seed=f"{repo}-one")
    second = build_image(tmp_path / "b", "two", seed=f"{repo}-two")
    dest = f"docker://{registry.host}/{repo}:stable"
    cc.skopeo("login", "--username", ADMIN[0], "--password-stdin", "--tls-verify=false", registry.host, input=ADMIN[1])
    cc.skopeo("copy", "--dest-tls-verify=false", first.ref, dest)
    assert api.put(f"/repository/{repo}/tag/stable", json={"immutable": True}).status_code == 201
    failed = cc.skopeo("copy", "--dest-tls-verify=false", second.ref, dest, check=False)
    assert failed.returncode != 0
    assert "immutable tag 'stable'" in failed.stderr, failed.stderr
    got = client.http.get(f"/v2/{repo}/manifests/stable", headers={"accept": OCI_MANIFEST})
    assert got.headers["docker-content-digest"] == first.digest

    # podman: the same refusal, the same message
    ref = f"{registry.host}/{repo}:stable"
    image_id = cc.podman("pull", "--quiet", second.ref).stdout.strip().splitlines()[-1]
    cc.podman("tag", image_id, ref)
    cc.podman("login", "--username", ADMIN[0], "--password-stdin", "--tls-verify=false", registry.host, input=ADMIN[1])
    failed = cc.podman("push", "--tls-verify=false", ref, check=False)
    assert failed.returncode != 0
    assert "immutable tag 'stable'" in failed.stderr, failed.stderr
    got = client.http.get(f"/v2/{repo}/manifests/stable", headers={"accept": OCI_MANIFEST})
    assert got.headers["docker-content-digest"] == first.digest


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_prune_and_immutability_on_postgresql(tmp_path: Path, pg_database: str) -> None:
    """The same rules on real PostgreSQL: policies stored and listed, the worker prunes around an
    immutable tag, a policy marks pushed tags, refusals are 409."""
    server = bundle_server(tmp_path, prefix="pg-", admin=True, DB_URI=pg_database, AUTO_PRUNING_POLL_PERIOD=1)
    with server.start(), httpx.Client(base_url=f"{server.url}/api/v1", auth=ADMIN, timeout=30) as api:
        client = Client(server.url, auth=ADMIN)
        try:
            org = new_org(api)
            repo = f"{org}/pg"
            for tag in ("old", "mid", "new"):
                push(client, repo, tag)
            assert api.put(f"/repository/{repo}/tag/old", json={"immutable": True}).status_code == 201
            r = api.post(f"/repository/{repo}/immutabilitypolicy/", json={"tagPattern": "rel-.*"})
            assert r.status_code == 201, r.text
            push(client, repo, "rel-1")
            assert immutable_flag(api, repo, "rel-1") is True
            assert client.http.delete(f"/v2/{repo}/manifests/rel-1").status_code == 409
            r = api.post(f"/organization/{org}/autoprunepolicy/", json={"method": "number_of_tags", "value": 1})
            assert r.status_code == 201, r.text
            assert api.get(f"/organization/{org}/autoprunepolicy/").json()["policies"][0]["value"] == 1
            # "old" and "rel-1" are immutable: neither counted nor pruned; "new" is the newest other one
            expected = ["new", "old", "rel-1"]
            assert wait_for(lambda: live_tags(client, repo), expected) == expected
            assert wait_for(lambda: pruned_tags(api, repo), ["mid"]) == ["mid"]
        finally:
            client.close()

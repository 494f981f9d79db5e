"""Usage logs and superuser user management over /api/v1, against the real server.

Registry traffic (push, pull, delete over /v2) must show up as Quay's log kinds in the repository,
organization, user and superuser logs, with performer, namespace, address and an RFC 2822 date;
time windows and paging behave as Quay's; callers without the right get 401/403.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.oci import OCI_MANIFEST, Client, Image, sha256
from tests.support.server import RegistryServer

Auth = tuple[str, str] | None


@pytest.fixture
def registry(shared_registry: RegistryServer) -> RegistryServer:
    return shared_registry


@pytest.fixture
def api(registry: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{registry.url}/api/v1", timeout=60) as client:
        yield client


def new_user(api: httpx.Client, prefix: str = "u") -> tuple[str, str]:
    """A user made through the superuser API; returns (name, the generated password)."""
    name = f"{prefix}{secrets.token_hex(4)}"
    r = api.post("/superuser/users/", json={"username": name, "email": f"{name}@example.test"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["username"] == name and body["encrypted_password"] is None and len(body["password"]) == 32
    return name, body["password"]


def push(registry: RegistryServer, auth: tuple[str, str], repo: str, tag: str = "v1") -> str:
    img = Image.random()
    c = Client(registry.url, auth=auth)
    try:
        assert c.push_image(repo, img, tag).status_code == 201
    finally:
        c.close()
    return sha256(img.manifest())


def pull(registry: RegistryServer, auth: tuple[str, str], repo: str, ref: str) -> None:
    r = httpx.get(f"{registry.url}/v2/{repo}/manifests/{ref}", auth=auth, headers={"accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text


def all_logs(api: httpx.Client, path: str, auth: Auth, **params: str) -> list[dict[str, Any]]:
    """Every entry, following next_page; checks each page's shape on the way."""
    out: list[dict[str, Any]] = []
    page: str | None = None
    for _ in range(100):
        r = api.get(path, params={**params, **({"next_page": page} if page else {})}, auth=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert when(body["start_time"]) < when(body["end_time"])
        assert len(body["logs"]) <= 20
        out += body["logs"]
        page = body.get("next_page")
        if not page:
            return out
    raise AssertionError("next_page never ended")


def of_kind(logs: list[dict[str, Any]], kind: str, **meta: Any) -> list[dict[str, Any]]:
    return [e for e in logs if e["kind"] == kind and all(e["metadata"].get(k) == v for k, v in meta.items())]


def when(rfc2822: str) -> datetime:
    """Quay writes ``-0000`` (UTC, per RFC 2822 'no zone information'), which Python reads as naive."""
    dt = parsedate_to_datetime(rfc2822)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def day(delta: int = 0) -> datetime:
    return datetime.now(UTC) + timedelta(days=delta)


def test_push_pull_delete_in_repository_user_and_superuser_logs(registry: RegistryServer, api: httpx.Client) -> None:
    name, password = new_user(api, "logs")
    repo = f"{name}/app"
    digest = push(registry, (name, password), repo)
    pull(registry, (name, password), repo, "v1")
    pull(registry, (name, password), repo, digest)
    httpx.head(f"{registry.url}/v2/{repo}/manifests/v1", auth=(name, password), headers={"accept": OCI_MANIFEST})
    assert httpx.delete(f"{registry.url}/v2/{repo}/manifests/v1", auth=(name, password)).status_code == 202

    logs = all_logs(api, f"/repository/{repo}/logs", (name, password))
    meta = {"namespace": name, "repo": "app"}
    assert [e["kind"] for e in logs] == ["delete_tag", "pull_repo", "pull_repo", "push_repo"]  # newest first; no HEAD
    assert of_kind(logs, "push_repo", tag="v1", manifest_digest=digest, **meta)
    assert of_kind(logs, "pull_repo", tag="v1", manifest_digest=digest, **meta)
    assert of_kind(logs, "pull_repo", manifest_digest=digest, **meta)
    assert of_kind(logs, "delete_tag", tag="v1", **meta)
    for entry in logs:
        assert entry["ip"] == "127.0.0.1"
        assert entry["performer"] == {
            "kind": "user",
            "name": name,
            "is_robot": False,
            "avatar": entry["performer"]["avatar"],
        }
        assert entry["performer"]["avatar"]["name"] == name
        assert entry["namespace"]["name"] == name and entry["namespace"]["kind"] == "user"
        assert abs((when(entry["datetime"]) - datetime.now(UTC)).total_seconds()) < 300
        assert entry["datetime"].endswith("-0000")  # Quay's formatdate(): RFC 2822, UTC

    # the user's own logs: the same registry events (and the superuser's user_create on the account)
    mine = all_logs(api, "/user/logs", (name, password))
    assert {"push_repo", "pull_repo", "delete_tag", "user_create"} <= {e["kind"] for e in mine}
    assert of_kind(mine, "user_create", username=name)
    # ... which admin's user logs do not show
    assert not of_kind(all_logs(api, "/user/logs", ADMIN), "push_repo", namespace=name)
    # the superuser sees everything, with the namespace
    everything = all_logs(api, "/superuser/logs", ADMIN)
    pushed = of_kind(everything, "push_repo", namespace=name, repo="app")
    assert len(pushed) == 1 and pushed[0]["namespace"]["name"] == name and pushed[0]["performer"]["name"] == name

    agg = api.get(f"/repository/{repo}/aggregatelogs", auth=(name, password))
    assert agg.status_code == 200
    counts = {a["kind"]: a["count"] for a in agg.json()["aggregated"]}
    assert counts == {"push_repo": 1, "pull_repo": 2, "delete_tag": 1}
    for a in agg.json()["aggregated"]:
        assert when(a["datetime"]).hour == 0


def test_anonymous_pull_of_public_repository_has_no_performer(registry: RegistryServer, api: httpx.Client) -> None:
    name, password = new_user(api, "pub")
    repo = f"{name}/open"
    push(registry, (name, password), repo)
    registry.cli("repo", "visibility", repo, "public")
    tok = httpx.get(f"{registry.url}/v2/auth", params={"scope": f"repository:{repo}:pull"}).json()["token"]
    r = httpx.get(f"{registry.url}/v2/{repo}/manifests/v1",
                  headers={"authorization": f"Bearer {tok}", "accept": OCI_MANIFEST})
    assert r.status_code == 200
    pulls = of_kind(all_logs(api, f"/repository/{repo}/logs", (name, password)), "pull_repo")
    assert len(pulls) == 1 and "performer" not in pulls[0] and pulls[0]["ip"] == "127.0.0.1"


def test_organization_logs(registry: RegistryServer, api: httpx.Client) -> None:
    org = f"org{secrets.token_hex(4)}"
    # a superuser pushing into a missing namespace creates an organization it owns
    digest = push(registry, ADMIN, f"{org}/svc", "1.0")
    logs = all_logs(api, f"/organization/{org}/logs", ADMIN)
    pushed = of_kind(logs, "push_repo", namespace=org, repo="svc", tag="1.0", manifest_digest=digest)
    assert len(pushed) == 1
    assert pushed[0]["namespace"]["kind"] == "org" and pushed[0]["performer"]["name"] == ADMIN[0]
    agg = api.get(f"/organization/{org}/aggregatelogs", auth=ADMIN).json()["aggregated"]
    assert [(a["kind"], a["count"]) for a in agg] == [("push_repo", 1)]
    # ?performer= filters: nobody else pushed there
    assert all_logs(api, f"/organization/{org}/logs", ADMIN, performer="nobody-at-all") == []

    outsider, pw = new_user(api, "out")
    assert api.get(f"/organization/{org}/logs", auth=(outsider, pw)).status_code == 403
    assert api.get(f"/organization/{org}/aggregatelogs", auth=(outsider, pw)).status_code == 403
    assert api.get(f"/organization/{org}/logs").status_code == 401
    # a user namespace is not an organization
    assert api.get(f"/organization/{outsider}/logs", auth=(outsider, pw)).status_code == 403
    assert api.get("/organization/no-such-org-here/logs", auth=ADMIN).status_code == 404


def test_log_permissions(registry: RegistryServer, api: httpx.Client) -> None:
    owner, owner_pw = new_user(api, "own")
    other, other_pw = new_user(api, "oth")
    repo = f"{owner}/private"
    push(registry, (owner, owner_pw), repo)
    for path in (f"/repository/{repo}/logs", f"/repository/{repo}/aggregatelogs"):
        assert api.get(path).status_code == 401
        r = api.get(path, auth=(other, other_pw))
        assert r.status_code == 403 and r.json()["error_type"] == "insufficient_scope"
        assert api.get(path, auth=(owner, owner_pw)).status_code == 200
        assert api.get(path, auth=ADMIN).status_code == 200
    # a missing repository: 404 for whoever could administer it, 403 for anyone else
    assert api.get(f"/repository/{owner}/missing/logs", auth=(owner, owner_pw)).status_code == 404
    assert api.get(f"/repository/{owner}/missing/logs", auth=(other, other_pw)).status_code == 403
    assert api.get("/user/logs").status_code == 401
    assert api.get("/user/aggregatelogs").status_code == 401
    for path in ("/superuser/logs", "/superuser/aggregatelogs"):
        assert api.get(path).status_code == 401
        assert api.get(path, auth=(owner, owner_pw)).status_code == 403
    r = api.get("/user/logs", auth=(owner, "wrong-password"))
    assert r.status_code == 401 and r.json()["error_type"] == "invalid_token"
    # a read-only collaborator is not enough: logs need admin (robots/teams come from other modules)
    assert api.get(f"/repository/{repo}/logs", auth=(other, other_pw)).status_code == 403


def test_time_window(registry: RegistryServer, api: httpx.Client) -> None:
    name, password = new_user(api, "win")
    repo = f"{name}/w"
    push(registry, (name, password), repo)
    path = f"/repository/{repo}/logs"
    auth = (name, password)

    def kinds(**params: str) -> list[str]:
        return [e["kind"] for e in all_logs(api, path, auth, **params)]

    assert kinds() == ["push_repo"]  # default: the last day
    us = "%m/%d/%Y"
    assert kinds(starttime=day(-1).strftime(us), endtime=day(0).strftime(us)) == ["push_repo"]
    assert kinds(starttime=day(0).strftime(us)) == ["push_repo"]
    assert kinds(starttime=day(-1).date().isoformat(), endtime=day(1).date().isoformat()) == ["push_repo"]
    assert kinds(starttime=(day(0) - timedelta(minutes=10)).isoformat()) == ["push_repo"]
    assert kinds(starttime=day(2).strftime(us), endtime=day(3).strftime(us)) == []
    assert kinds(starttime=day(-5).strftime(us), endtime=day(-2).strftime(us)) == []
    assert kinds(starttime=day(-5).isoformat(), endtime=(day(0) - timedelta(minutes=10)).isoformat()) == []
    # the answer states the window: start as asked, end one day after the (inclusive) end day
    r = api.get(path, params={"starttime": "01/02/2024", "endtime": "01/05/2024"}, auth=auth).json()
    assert r["start_time"] == "Tue, 02 Jan 2024 00:00:00 -0000"
    assert r["end_time"] == "Sat, 06 Jan 2024 00:00:00 -0000"
    assert r["logs"] == []
    bad = api.get(path, params={"starttime": "01/05/2024", "endtime": "01/02/2024"}, auth=auth)
    assert bad.status_code == 400
    # as in Quay, an unreadable date falls back to the default
    assert kinds(starttime="yesterday-ish") == ["push_repo"]
    window = {"starttime": day(2).strftime(us), "endtime": day(3).strftime(us)}
    agg = api.get(f"/repository/{repo}/aggregatelogs", params=window, auth=auth)
    assert agg.status_code == 200 and agg.json()["aggregated"] == []


def test_paging(registry: RegistryServer, api: httpx.Client) -> None:
    name, password = new_user(api, "page")
    repo = f"{name}/many"
    push(registry, (name, password), repo)
    with httpx.Client(base_url=registry.url, auth=(name, password)) as v2:  # one client: no TLS setup per pull
        for _ in range(45):
            r = v2.get(f"/v2/{repo}/manifests/v1", headers={"accept": OCI_MANIFEST})
            assert r.status_code == 200
    path = f"/repository/{repo}/logs"
    pages = []
    token: str | None = None
    while True:
        r = api.get(path, params={"next_page": token} if token else {}, auth=(name, password))
        assert r.status_code == 200
        pages.append(r.json()["logs"])
        token = r.json().get("next_page")
        if token is None:
            break
        assert isinstance(token, str) and token
    assert [len(p) for p in pages] == [20, 20, 6]
    entries = [e for p in pages for e in p]
    assert [e["kind"] for e in entries] == ["pull_repo"] * 45 + ["push_repo"]
    times = [when(e["datetime"]) for e in entries]
    assert times == sorted(times, reverse=True)
    # a token from another query does not leak: it only bounds this repository's entries
    assert api.get(path, params={"next_page": "not a token"}, auth=(name, password)).json()["logs"] == pages[0]
    agg = api.get(f"/repository/{repo}/aggregatelogs", auth=(name, password)).json()["aggregated"]
    assert {a["kind"]: a["count"] for a in agg} == {"pull_repo": 45, "push_repo": 1}


def test_superuser_user_management(registry: RegistryServer, api: httpx.Client) -> None:
    users = api.get("/superuser/users/", auth=ADMIN)
    assert users.status_code == 200
    admin = next(u for u in users.json()["users"] if u["username"] == ADMIN[0])
    assert admin["super_user"] is True and admin["enabled"] is True and admin["kind"] == "user"
    assert set(admin) == {"kind", "name", "username", "email", "verified", "avatar", "super_user", "enabled"}

    name, password = new_user(api, "mgd")
    auth_url = f"{registry.url}/v2/auth"
    assert httpx.get(auth_url, auth=(name, password)).status_code == 200
    view = api.get(f"/superuser/users/{name}", auth=ADMIN).json()
    assert view["username"] == name and view["email"] == f"{name}@example.test" and view["super_user"] is False
    assert api.post("/superuser/users/", json={"username": name}, auth=ADMIN).status_code == 400  # taken
    assert api.post("/superuser/users/", json={"username": "Bad Name"}, auth=ADMIN).status_code == 400

    new_password = "a-new-password-" + secrets.token_hex(6)
    r = api.put(f"/superuser/users/{name}", json={"password": new_password, "email": f"x-{name}@example.test"},
                auth=ADMIN)
    assert r.status_code == 200 and r.json()["email"] == f"x-{name}@example.test"
    assert httpx.get(auth_url, auth=(name, password)).status_code == 401
    assert httpx.get(auth_url, auth=(name, new_password)).status_code == 200

    r = api.put(f"/superuser/users/{name}", json={"enabled": False}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert httpx.get(auth_url, auth=(name, new_password)).status_code == 401
    listed = api.get("/superuser/users/", params={"disabled": "false"}, auth=ADMIN).json()["users"]
    assert name not in [u["username"] for u in listed]
    assert api.put(f"/superuser/users/{name}", json={"enabled": True}, auth=ADMIN).json()["enabled"] is True
    assert httpx.get(auth_url, auth=(name, new_password)).status_code == 200

    # only superusers; a superuser (such as the caller) cannot be changed or deleted here
    assert api.get("/superuser/users/", auth=(name, new_password)).status_code == 403
    assert api.get("/superuser/users/").status_code == 401
    assert api.post("/superuser/users/", json={"username": "nope1"}, auth=(name, new_password)).status_code == 403
    assert api.delete(f"/superuser/users/{ADMIN[0]}", auth=ADMIN).status_code == 400
    assert api.put(f"/superuser/users/{ADMIN[0]}", json={"enabled": False}, auth=ADMIN).status_code == 400
    assert api.delete(f"/superuser/users/{name}", auth=(name, new_password)).status_code == 403

    assert api.delete(f"/superuser/users/{name}", auth=ADMIN).status_code == 204
    assert api.get(f"/superuser/users/{name}", auth=ADMIN).status_code == 404
    assert api.delete(f"/superuser/users/{name}", auth=ADMIN).status_code == 404
    assert httpx.get(auth_url, auth=(name, new_password)).status_code == 401

    logs = all_logs(api, "/superuser/logs", ADMIN)
    for kind in ("user_create", "user_change_password", "user_change_email", "user_disable", "user_enable",
                 "user_delete"):
        found = of_kind(logs, kind, username=name)
        assert len(found) == 1, kind
        assert found[0]["performer"]["name"] == ADMIN[0]
    changed = of_kind(logs, "user_change_email", username=name)[0]["metadata"]
    assert changed["old_email"] == f"{name}@example.test" and changed["email"] == f"x-{name}@example.test"
    for entry in logs:
        text = str(entry["metadata"])
        assert password not in text and new_password not in text

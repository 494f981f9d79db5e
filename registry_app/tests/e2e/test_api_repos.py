"""/api/v1 repositories and repository permissions against the real server, and their effect on
pulls and pushes over /v2 (token from /v2/auth, then the manifest with the bearer token)."""

from __future__ import annotations

import email.utils
import json
import secrets
import sqlite3
import ssl
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import jwt
import pytest

from registry_app.config import embedded_default
from registry_app.db.engine import make_engine
from registry_app.db.identity import IdentityStore
from registry_app.http.api.repository import REPOS_PER_PAGE
from registry_app.services.auth import PASSWORDS
from registry_app.services.identity import ALL_SCOPES, IdentityService
from registry_app.storage.filesystem import FilesystemStorage
from tests.conftest import ADMIN
from tests.support.oci import Client, Image, sha256
from tests.support.server import RegistryServer

Auth = tuple[str, str]


class User(NamedTuple):
    """A test user. Requests authenticate with Basic ``$oauthtoken:TOKEN`` (an API token with every
    scope) unless ``basic`` (the password) is used: argon2 on every request would make the tests slow."""

    name: str
    password: str
    token: str

    @property
    def basic(self) -> Auth:
        return self.name, self.password

    @property
    def oauth(self) -> Auth:
        return "$oauthtoken", self.token


Who = User | Auth | None

# Loading the CA bundle costs ~0.3 s per httpx client: load it once (the server is plain HTTP anyway).
TLS = ssl.create_default_context()
HTTP = httpx.Client(verify=TLS, timeout=30)


def credentials(who: Who) -> Auth | None:
    return who.oauth if isinstance(who, User) else who


@pytest.fixture(scope="module")
def server(shared_registry: RegistryServer) -> RegistryServer:
    return shared_registry


class Accounts:
    """Accounts made straight in the server's database (organizations, teams and robots have their
    own API modules; these tests are about repositories)."""

    def __init__(self, server: RegistryServer) -> None:
        config = embedded_default(server.data_dir)
        self.engine = make_engine(config.db_uri)
        self.store = IdentityStore(self.engine)
        self.service = IdentityService(self.store, config.settings.secrets, config.settings.tags)
        self.password = secrets.token_urlsafe(12)
        self.password_hash = PASSWORDS.hash(self.password)  # one hash for every user: argon2 is slow

    def user(self, prefix: str) -> User:
        name = f"{prefix}{secrets.token_hex(3)}"
        row = self.service.create_user(name, self.password_hash, f"{name}@example.test")
        return User(name, self.password, self.service.create_api_token(row, ALL_SCOPES, "tests"))

    def api_token(self, username: str, *scopes: str) -> str:
        user = self.store.get(username)
        assert user is not None
        return self.service.create_api_token(user, scopes, "test")

    def organization(self, prefix: str, owner: str) -> str:
        name = f"{prefix}{secrets.token_hex(3)}"
        self.service.create_organization(name, None, self.store.get(owner))
        return name

    def team(self, org: str, name: str, *members: str) -> None:
        org_row = self.store.get(org)
        assert org_row is not None
        team = self.service.set_team(org_row, name, "member", None)
        for member in members:
            user = self.store.get(member)
            assert user is not None
            self.store.add_member(team.id, user.id)

    def robot(self, parent: str, short: str) -> Auth:
        parent_row = self.store.get(parent)
        assert parent_row is not None
        robot, token = self.service.create_robot(parent_row, short)
        return robot.username, token

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="module")
def accounts(server: RegistryServer) -> Iterator[Accounts]:
    acc = Accounts(server)
    yield acc
    acc.close()


def api(server: RegistryServer, who: Who = None, token: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{server.url}/api/v1", auth=credentials(who), headers=headers, timeout=30, verify=TLS)


def create(server: RegistryServer, auth: Who, name: str, visibility: str = "private", **extra: Any) -> httpx.Response:
    body = {"repository": name, "visibility": visibility, "description": "", **extra}
    with api(server, auth) as c:
        return c.post("/repository", json=body)


def registry_token(server: RegistryServer, who: Who, repo: str, actions: str) -> tuple[str, list[str]]:
    """A /v2/auth token for ``repository:REPO:ACTIONS`` and the actions it grants."""
    r = HTTP.get(
        f"{server.url}/v2/auth",
        params={"service": server.host, "scope": f"repository:{repo}:{actions}"},
        auth=credentials(who),
    )
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    access = jwt.decode(token, options={"verify_signature": False})["access"]
    return token, [a for entry in access for a in entry["actions"]]


def pull_status(server: RegistryServer, who: Who, repo: str, tag: str) -> int:
    token, _ = registry_token(server, who, repo, "pull")
    r = HTTP.get(
        f"{server.url}/v2/{repo}/manifests/{tag}",
        headers={"authorization": f"Bearer {token}", "accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    return r.status_code


def push(server: RegistryServer, who: Who, repo: str, tag: str, image: Image | None = None) -> httpx.Response:
    token, _ = registry_token(server, who, repo, "pull,push")
    client = Client(server.url)
    client.http.headers["authorization"] = f"Bearer {token}"
    try:
        r = client.http.post(f"/v2/{repo}/blobs/uploads/")
        if r.status_code != 202:
            return r
        return client.push_image(repo, image or Image.random(), tag)
    finally:
        client.close()


def audit_entries(
    server: RegistryServer, kind: str, repository_id: int | None = None, count: int = 1
) -> list[dict[str, Any]]:
    """Audit-log rows of ``kind``; the log is written in batches, so wait for ``count`` of them."""
    deadline = time.monotonic() + 5
    while True:
        conn = sqlite3.connect(server.data_dir / "registry.db")
        try:
            conn.row_factory = sqlite3.Row
            rows = [dict(r) for r in conn.execute("SELECT * FROM log_entry WHERE kind = ? ORDER BY id", (kind,))]
        finally:
            conn.close()
        if repository_id is not None:
            rows = [r for r in rows if r["repository_id"] == repository_id]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def db_ids(server: RegistryServer, namespace: str, repo: str) -> tuple[int, int]:
    """(namespace id, repository id)."""
    conn = sqlite3.connect(server.data_dir / "registry.db")
    try:
        row = conn.execute(
            'SELECT u.id, r.id FROM repository r JOIN "user" u ON u.id = r.namespace_id '
            "WHERE u.username = ? AND r.name = ?",
            (namespace, repo),
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


def user_id(server: RegistryServer, username: str) -> int:
    conn = sqlite3.connect(server.data_dir / "registry.db")
    try:
        return int(conn.execute('SELECT id FROM "user" WHERE username = ?', (username,)).fetchone()[0])
    finally:
        conn.close()


# -- create ---------------------------------------------------------------------------------------


def test_create_repository(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    r = create(server, alice.basic, "app", description="hello")  # Basic with the password
    assert r.status_code == 201, r.text
    assert r.json() == {"namespace": alice[0], "name": "app", "kind": "image"}
    # the namespace defaults to the caller's; an explicit one is used as given
    with api(server, alice) as c:
        r = c.post("/repository", json={"repository": "other", "visibility": "public", "namespace": alice[0]})
        assert r.status_code == 201 and r.json()["namespace"] == alice[0]
        again = c.post("/repository", json={"repository": "app", "visibility": "private", "description": ""})
        assert again.status_code == 400 and again.json()["error_message"] == "Repository already exists"
        for bad in ("Upper", "with space", "-dash", "a/b", "x" * 256, ""):
            r = c.post("/repository", json={"repository": bad, "visibility": "private", "description": ""})
            assert r.status_code == 400, bad
            assert r.json()["error_message"] == "Invalid repository name", bad
        r = c.post("/repository", json={"repository": "novis", "description": ""})
        assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
        r = c.post("/repository", json={"repository": "badvis", "visibility": "secret", "description": ""})
        assert r.status_code == 400
        r = c.post("/repository", json={"repository": "chart", "visibility": "public", "repo_kind": "application"})
        assert r.status_code == 400
    # someone else's namespace: 403; anonymous: 401
    r = create(server, bob, "intruder", namespace=alice[0])
    assert r.status_code == 403 and r.json()["error_type"] == "insufficient_scope"
    r = HTTP.post(
        f"{server.url}/api/v1/repository", json={"repository": "x", "visibility": "public", "namespace": alice[0]}
    )
    assert r.status_code == 401 and r.json()["error_type"] == "invalid_token"
    # a superuser may create anywhere; an unknown namespace is refused
    assert create(server, ADMIN, "by-admin", namespace=alice[0]).status_code == 201
    assert create(server, ADMIN, "x", namespace=f"nobody{secrets.token_hex(3)}").status_code == 400
    # API tokens need repo:create
    weak = accounts.api_token(alice[0], "repo:read", "repo:write", "repo:admin")
    strong = accounts.api_token(alice[0], "repo:create")
    with api(server, token=weak) as c:
        assert c.post("/repository", json={"repository": "t1", "visibility": "private"}).status_code == 403
    with api(server, token=strong) as c:
        assert c.post("/repository", json={"repository": "t1", "visibility": "private"}).status_code == 201
    # the creator holds an explicit admin role, as in Quay
    with api(server, alice) as c:
        perms = c.get(f"/repository/{alice[0]}/app/permissions/user/").json()["permissions"]
    assert perms[alice[0]]["role"] == "admin"


# -- get ------------------------------------------------------------------------------------------


def test_get_repository_shape_and_tags(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    repo = f"{alice[0]}/web"
    assert create(server, alice, "web", description="the web app").status_code == 201
    image = Image.random(n_layers=2, size=3000)
    assert push(server, alice, repo, "v1", image).status_code == 201
    with api(server, alice) as c:
        r = c.get(f"/repository/{repo}")
    assert r.status_code == 200, r.text
    body = r.json()
    tag = body.pop("tags")
    assert body == {
        "namespace": alice[0],
        "name": "web",
        "kind": "image",
        "description": "the web app",
        "is_public": False,
        "is_organization": False,
        "is_starred": False,
        "status_token": "",
        "trust_enabled": False,
        "tag_expiration_s": 1209600,
        "is_free_account": True,
        "state": "NORMAL",
        "can_write": True,
        "can_admin": True,
    }
    assert set(tag) == {"v1"}
    assert tag["v1"]["name"] == "v1"
    assert tag["v1"]["manifest_digest"] == sha256(image.manifest())
    assert tag["v1"]["size"] == 6000
    modified = email.utils.parsedate_to_datetime(tag["v1"]["last_modified"])
    assert abs(modified.timestamp() - time.time()) < 120


def test_get_repository_permissions(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    assert create(server, alice, "secret").status_code == 201
    assert create(server, alice, "open", visibility="public").status_code == 201
    anon = HTTP.get(f"{server.url}/api/v1/repository/{alice[0]}/secret")
    assert anon.status_code == 401 and anon.json()["error_type"] == "invalid_token"
    with api(server, bob) as c:
        assert c.get(f"/repository/{alice[0]}/secret").status_code == 403
        # without a role, a missing repository looks like a private one
        assert c.get(f"/repository/{alice[0]}/missing").status_code == 403
        public = c.get(f"/repository/{alice[0]}/open").json()
        assert public["is_public"] is True and public["can_write"] is False and public["can_admin"] is False
    with api(server, alice) as c:
        missing = c.get(f"/repository/{alice[0]}/missing")
        assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    assert HTTP.get(f"{server.url}/api/v1/repository/{alice[0]}/open").status_code == 200
    with api(server, ADMIN) as c:
        assert c.get(f"/repository/{alice[0]}/secret").json()["can_admin"] is True
        assert c.get(f"/repository/nobody{secrets.token_hex(3)}/x").status_code == 404
    # API tokens are capped by their scopes
    reader = accounts.api_token(alice[0], "repo:read")
    other = accounts.api_token(alice[0], "user:read")
    with api(server, token=reader) as c:
        body = c.get(f"/repository/{alice[0]}/secret").json()
        assert body["can_write"] is False and body["can_admin"] is False
        assert c.put(f"/repository/{alice[0]}/secret", json={"description": "no"}).status_code == 403
    with api(server, token=other) as c:
        assert c.get(f"/repository/{alice[0]}/open").status_code == 403


# -- update, visibility, delete -------------------------------------------------------------------


def test_update_description(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    assert create(server, alice, "docs").status_code == 201
    path = f"/repository/{alice[0]}/docs"
    with api(server, alice) as c:
        r = c.put(path, json={"description": "# Docs\nmarkdown"})
        assert r.status_code == 200 and r.json() == {"success": True}
        assert c.get(path).json()["description"] == "# Docs\nmarkdown"
        assert c.put(path, json={}).status_code == 400
        assert c.put(f"/repository/{alice[0]}/nope", json={"description": "x"}).status_code == 404
        assert c.put(f"{path}/permissions/user/{bob[0]}", json={"role": "read"}).status_code == 200
    with api(server, bob) as c:
        assert c.put(path, json={"description": "bob"}).status_code == 403
    with api(server, alice) as c:
        assert c.put(f"{path}/permissions/user/{bob[0]}", json={"role": "write"}).status_code == 200
    with api(server, bob) as c:
        assert c.put(path, json={"description": "bob"}).status_code == 200
    assert HTTP.put(f"{server.url}/api/v1{path}", json={"description": "anon"}).status_code == 401
    ns_id, repo_id = db_ids(server, alice[0], "docs")
    entries = audit_entries(server, "set_repo_description", repo_id, count=2)
    assert len(entries) == 2
    assert entries[0]["account_id"] == ns_id and entries[0]["performer_id"] == user_id(server, alice[0])
    assert json.loads(entries[0]["metadata_json"]) == {
        "repo": "docs",
        "namespace": alice[0],
        "description": "# Docs\nmarkdown",
    }
    assert entries[1]["performer_id"] == user_id(server, bob[0]) and entries[1]["ip"] == "127.0.0.1"


def test_change_visibility_takes_effect_on_pulls(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    repo = f"{alice[0]}/vis"
    assert create(server, alice, "vis").status_code == 201
    assert push(server, alice, repo, "latest").status_code == 201
    assert pull_status(server, None, repo, "latest") == 401
    assert registry_token(server, None, repo, "pull")[1] == []
    assert pull_status(server, bob, repo, "latest") == 401  # the token grants bob nothing
    with api(server, alice) as c:
        r = c.post(f"/repository/{repo}/changevisibility", json={"visibility": "public"})
        assert r.status_code == 200 and r.json() == {"success": True}
    # anonymous and other users pull at once (manifest cache keyed on the database's change counter)
    assert pull_status(server, None, repo, "latest") == 200
    assert pull_status(server, bob, repo, "latest") == 200
    assert registry_token(server, bob, repo, "pull,push")[1] == ["pull"]
    with api(server, bob) as c:
        assert c.post(f"/repository/{repo}/changevisibility", json={"visibility": "private"}).status_code == 403
    with api(server, alice) as c:
        assert c.get("/repository", params={"namespace": alice[0]}).json()["repositories"][0]["is_public"] is True
        assert c.post(f"/repository/{repo}/changevisibility", json={"visibility": "hidden"}).status_code == 400
        assert c.post(f"/repository/{repo}/changevisibility", json={"visibility": "private"}).status_code == 200
        assert c.post(f"/repository/{alice[0]}/nope/changevisibility", json={"visibility": "public"}).status_code == 404
    assert pull_status(server, None, repo, "latest") == 401
    assert pull_status(server, bob, repo, "latest") == 401
    ns_id, repo_id = db_ids(server, alice[0], "vis")
    entries = audit_entries(server, "change_repo_visibility", repo_id, count=2)
    assert [json.loads(e["metadata_json"])["visibility"] for e in entries] == ["public", "private"]
    assert {e["account_id"] for e in entries} == {ns_id}


def test_delete_repository(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    repo = f"{alice[0]}/gone"
    assert create(server, alice, "gone").status_code == 201
    image = Image.random()
    assert push(server, alice, repo, "v1", image).status_code == 201
    ns_id, repo_id = db_ids(server, alice[0], "gone")
    with api(server, alice) as c:
        assert c.put(f"/repository/{repo}/permissions/user/{bob[0]}", json={"role": "write"}).status_code == 200
    with api(server, bob) as c:
        assert c.delete(f"/repository/{repo}").status_code == 403
    assert HTTP.delete(f"{server.url}/api/v1/repository/{repo}").status_code == 401
    with api(server, alice) as c:
        r = c.delete(f"/repository/{repo}")
        assert r.status_code == 204 and r.content == b""
        assert c.get(f"/repository/{repo}").status_code == 404
        assert c.delete(f"/repository/{repo}").status_code == 404
    assert pull_status(server, alice, repo, "v1") == 404
    conn = sqlite3.connect(server.data_dir / "registry.db")
    try:
        for table in ("manifest", "tag", "repository_blob", "repository_permission"):
            left = conn.execute(f"SELECT count(*) FROM {table} WHERE repository_id = ?", (repo_id,)).fetchone()[0]
            assert left == 0, table
    finally:
        conn.close()
    # blobs stay in storage for garbage collection
    storage = FilesystemStorage(server.data_dir / "storage")
    assert storage.blob_size(sha256(image.layers[0])) == len(image.layers[0])
    # the permissions went with it: a repository of the same name starts clean
    assert create(server, alice, "gone").status_code == 201
    with api(server, alice) as c:
        assert set(c.get(f"/repository/{repo}/permissions/user/").json()["permissions"]) == {alice[0]}
        assert c.get(f"/repository/{repo}").json()["tags"] == {}
    entries = audit_entries(server, "delete_repo", repo_id)
    assert len(entries) == 1 and entries[0]["account_id"] == ns_id
    assert json.loads(entries[0]["metadata_json"]) == {"repo": "gone", "namespace": alice[0]}
    created = audit_entries(server, "create_repo", repo_id)
    assert json.loads(created[0]["metadata_json"]) == {"repo": "gone", "namespace": alice[0]}


# -- list -----------------------------------------------------------------------------------------


def test_list_repositories(server: RegistryServer, accounts: Accounts) -> None:
    carol = accounts.user("carol")
    dave = accounts.user("dave")
    for name, vis in (("a-private", "private"), ("b-public", "public")):
        assert create(server, carol, name, vis).status_code == 201
    for name, vis in (("d-public", "public"), ("d-private", "private"), ("d-shared", "private")):
        assert create(server, dave, name, vis).status_code == 201
    assert push(server, carol, f"{carol[0]}/a-private", "v1").status_code == 201
    with api(server, dave) as c:
        assert c.put(f"/repository/{dave[0]}/d-shared/permissions/user/{carol[0]}", json={"role": "read"}).is_success

    def names(resp: httpx.Response) -> set[str]:
        assert resp.status_code == 200, resp.text
        return {f"{r['namespace']}/{r['name']}" for r in resp.json()["repositories"]}

    with api(server, carol) as c:
        r = c.get("/repository", params={"namespace": carol[0]})
        assert names(r) == {f"{carol[0]}/a-private", f"{carol[0]}/b-public"}
        assert "next_page" not in r.json()
        item = next(i for i in r.json()["repositories"] if i["name"] == "a-private")
        assert item == {
            "namespace": carol[0],
            "name": "a-private",
            "description": "",
            "is_public": False,
            "kind": "image",
            "state": "NORMAL",
            "is_starred": False,
        }
        assert names(c.get("/repository", params={"namespace": dave[0]})) == {f"{dave[0]}/d-shared"}
        assert names(c.get("/repository", params={"namespace": dave[0], "public": "true"})) == {
            f"{dave[0]}/d-shared",
            f"{dave[0]}/d-public",
        }
        everything = names(c.get("/repository", params={"public": "true"}))
        assert {f"{carol[0]}/a-private", f"{dave[0]}/d-public", f"{dave[0]}/d-shared"} <= everything
        assert f"{dave[0]}/d-private" not in everything
        r = c.get("/repository")
        assert r.status_code == 400
        assert r.json()["error_message"] == "namespace, starred or public are required for this API call"
        assert c.get("/repository", params={"starred": "true"}).json() == {"repositories": []}
        detailed = c.get("/repository", params={"namespace": carol[0], "last_modified": "1", "popularity": "true"})
        by_name = {i["name"]: i for i in detailed.json()["repositories"]}
        assert abs(by_name["a-private"]["last_modified"] - time.time()) < 120
        assert by_name["b-public"]["last_modified"] is None
        assert by_name["b-public"]["popularity"] == 0.0
    # anonymous callers see public repositories only, without star flags
    anon = HTTP.get(f"{server.url}/api/v1/repository", params={"namespace": carol[0]})
    assert names(anon) == set()  # without public=true only repositories with a role are listed
    anon = HTTP.get(f"{server.url}/api/v1/repository", params={"namespace": carol[0], "public": "true"})
    assert names(anon) == {f"{carol[0]}/b-public"}
    assert "is_starred" not in anon.json()["repositories"][0]
    assert HTTP.get(f"{server.url}/api/v1/repository", params={"starred": "true"}).status_code == 400
    # a superuser sees every repository of a namespace
    with api(server, ADMIN) as c:
        assert len(names(c.get("/repository", params={"namespace": dave[0]}))) == 3
    # listing needs a repo scope on API tokens
    with api(server, token=accounts.api_token(carol[0], "user:read")) as c:
        assert c.get("/repository", params={"namespace": carol[0]}).status_code == 403
    with api(server, token=accounts.api_token(carol[0], "repo:read")) as c:
        assert len(names(c.get("/repository", params={"namespace": carol[0]}))) == 2


def test_list_paging(server: RegistryServer, accounts: Accounts) -> None:
    erin = accounts.user("erin")
    token = accounts.api_token(erin[0], "repo:create", "repo:read")
    total = REPOS_PER_PAGE + 5
    with api(server, token=token) as c:
        for i in range(total):
            r = c.post("/repository", json={"repository": f"r{i:03d}", "visibility": "public", "description": ""})
            assert r.status_code == 201, r.text
        first = c.get("/repository", params={"namespace": erin[0]}).json()
        assert len(first["repositories"]) == REPOS_PER_PAGE and first["next_page"]
        second = c.get("/repository", params={"namespace": erin[0], "next_page": first["next_page"]}).json()
        assert len(second["repositories"]) == 5 and "next_page" not in second
        seen = [r["name"] for r in first["repositories"] + second["repositories"]]
        assert seen == [f"r{i:03d}" for i in range(total)]  # creation order, no repeats
        # a token that does not decode starts over, as Quay does
        again = c.get("/repository", params={"namespace": erin[0], "next_page": "garbage!"}).json()
        assert again["repositories"][0]["name"] == "r000"
    # anonymous paging over every public repository reaches all of them
    found: list[str] = []
    params: dict[str, str] = {"public": "true"}
    while True:
        page = HTTP.get(f"{server.url}/api/v1/repository", params=params).json()
        assert len(page["repositories"]) <= REPOS_PER_PAGE
        found += [f"{r['namespace']}/{r['name']}" for r in page["repositories"]]
        if "next_page" not in page:
            break
        params["next_page"] = page["next_page"]
    assert len(found) == len(set(found))
    assert {f"{erin[0]}/r{i:03d}" for i in range(total)} <= set(found)


# -- permissions ----------------------------------------------------------------------------------


def test_user_permissions_grant_pull_and_push(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    repo = f"{alice[0]}/perm"
    base = f"/repository/{repo}/permissions/user"
    assert create(server, alice, "perm").status_code == 201
    assert push(server, alice, repo, "v1").status_code == 201
    assert pull_status(server, bob, repo, "v1") == 401
    with api(server, alice) as c:
        r = c.put(f"{base}/{bob[0]}", json={"role": "read"})
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["role"] == "read" and view["name"] == bob[0] and view["is_robot"] is False
        assert view["avatar"]["name"] == bob[0] and view["avatar"]["kind"] == "user"
        assert "is_org_member" not in view  # a user namespace
    assert pull_status(server, bob, repo, "v1") == 200
    assert registry_token(server, bob, repo, "pull,push")[1] == ["pull"]
    assert push(server, bob, repo, "bob").status_code == 401
    with api(server, alice) as c:
        assert c.put(f"{base}/{bob[0]}", json={"role": "write"}).json()["role"] == "write"
    assert push(server, bob, repo, "bob").status_code == 201
    with api(server, alice) as c:
        listing = c.get(f"{base}/").json()["permissions"]
        assert {k: v["role"] for k, v in listing.items()} == {alice[0]: "admin", bob[0]: "write"}
        assert c.get(f"{base}/{bob[0]}").json()["role"] == "write"
        assert c.get(f"{base}/{bob[0]}/transitive").json() == {"permissions": [{"role": "write"}]}
        assert c.delete(f"{base}/{bob[0]}").status_code == 204
        gone = c.get(f"{base}/{bob[0]}")
        assert gone.status_code == 400 and gone.json()["error_message"] == "User does not have permission for repo."
        assert c.get(f"{base}/{bob[0]}/transitive").status_code == 404
        assert c.delete(f"{base}/{bob[0]}").status_code == 400
        # errors of the data model are 400s
        assert c.put(f"{base}/nobody{secrets.token_hex(3)}", json={"role": "read"}).status_code == 400
        owner = c.put(f"{base}/{alice[0]}", json={"role": "read"})
        assert owner.status_code == 400 and owner.json()["error_message"] == "Namespace owner must always be admin."
        assert c.put(f"{base}/{bob[0]}", json={"role": "owner"}).status_code == 400
        assert c.put(f"{base}/{bob[0]}", json={}).status_code == 400
        assert c.get(f"/repository/{alice[0]}/nope/permissions/user/").status_code == 404
    assert pull_status(server, bob, repo, "v1") == 401
    # only admins of the repository manage its permissions
    with api(server, bob) as c:
        assert c.get(f"{base}/").status_code == 403
        assert c.put(f"{base}/{bob[0]}", json={"role": "admin"}).status_code == 403
    assert HTTP.get(f"{server.url}/api/v1{base}/").status_code == 401
    ns_id, repo_id = db_ids(server, alice[0], "perm")
    changes = audit_entries(server, "change_repo_permission", repo_id, count=2)
    assert [json.loads(e["metadata_json"])["role"] for e in changes] == ["read", "write"]
    assert json.loads(changes[0]["metadata_json"]) == {
        "username": bob[0],
        "repo": "perm",
        "namespace": alice[0],
        "role": "read",
    }
    deletes = audit_entries(server, "delete_repo_permission", repo_id)
    assert len(deletes) == 1 and deletes[0]["account_id"] == ns_id
    assert deletes[0]["performer_id"] == user_id(server, alice[0])


def test_team_permissions(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    frank = accounts.user("frank")
    outsider = accounts.user("out")
    org = accounts.organization("org", alice[0])
    accounts.team(org, "readers", frank[0])
    robot = accounts.robot(org, "deployer")
    repo = f"{org}/app"
    base = f"/repository/{repo}/permissions/team"
    assert create(server, alice, "app", namespace=org).status_code == 201
    assert push(server, alice, repo, "v1").status_code == 201
    assert pull_status(server, frank, repo, "v1") == 401
    with api(server, alice) as c:
        r = c.put(f"{base}/readers", json={"role": "read"})
        assert r.status_code == 200, r.text
        assert r.json()["role"] == "read" and r.json()["name"] == "readers"
        assert r.json()["avatar"]["kind"] == "team"
        assert set(c.get(f"{base}/").json()["permissions"]) == {"readers"}
        assert c.get(f"{base}/readers").json() == {"role": "read"}
        missing = c.put(f"{base}/ghosts", json={"role": "read"})
        assert missing.status_code == 400 and missing.json()["error_message"] == f"No team ghosts in organization {org}"
        assert c.get(f"{base}/owners").status_code == 400
    assert pull_status(server, frank, repo, "v1") == 200
    with api(server, alice) as c:
        assert c.get(f"/repository/{repo}/permissions/user/{frank[0]}/transitive").json() == {
            "permissions": [{"role": "read"}]
        }
        # user views in an organization say whether the account belongs to it
        for name in (frank[0], outsider[0], robot[0]):
            assert c.put(f"/repository/{repo}/permissions/user/{name}", json={"role": "read"}).status_code == 200
        users = c.get(f"/repository/{repo}/permissions/user/").json()["permissions"]
        assert users[frank[0]]["is_org_member"] is True
        assert users[outsider[0]]["is_org_member"] is False
        assert users[robot[0]]["is_org_member"] is True and users[robot[0]]["is_robot"] is True
        assert users[robot[0]]["avatar"]["kind"] == "robot"
        assert c.delete(f"/repository/{repo}/permissions/user/{frank[0]}").status_code == 204
        assert c.delete(f"{base}/readers").status_code == 204
        assert c.delete(f"{base}/readers").status_code == 400
        assert c.get(f"{base}/").json() == {"permissions": {}}
    assert pull_status(server, frank, repo, "v1") == 401
    # a user namespace has no teams
    assert create(server, alice, "mine").status_code == 201
    with api(server, alice) as c:
        r = c.put(f"/repository/{alice[0]}/mine/permissions/team/readers", json={"role": "read"})
        assert r.status_code == 400
    _, repo_id = db_ids(server, org, "app")
    changes = [json.loads(e["metadata_json"]) for e in audit_entries(server, "change_repo_permission", repo_id)]
    assert {"team": "readers", "repo": "app", "role": "read"} in changes


def test_robot_permissions(server: RegistryServer, accounts: Accounts) -> None:
    alice = accounts.user("alice")
    bob = accounts.user("bob")
    robot = accounts.robot(alice[0], "ci")
    foreign = accounts.robot(bob[0], "ci")
    repo = f"{alice[0]}/built"
    assert create(server, alice, "built").status_code == 201
    assert push(server, robot, repo, "v1").status_code == 401
    with api(server, alice) as c:
        r = c.put(f"/repository/{repo}/permissions/user/{robot[0]}", json={"role": "write"})
        assert r.status_code == 200 and r.json()["is_robot"] is True
        r = c.put(f"/repository/{repo}/permissions/user/{foreign[0]}", json={"role": "read"})
        assert r.status_code == 400
        assert r.json()["error_message"] == f"Cannot add robot {foreign[0]} under namespace {alice[0]}"
    assert push(server, robot, repo, "v1").status_code == 201
    assert pull_status(server, robot, repo, "v1") == 200
    with api(server, alice) as c:
        tags = c.get(f"/repository/{repo}").json()["tags"]
    assert set(tags) == {"v1"}

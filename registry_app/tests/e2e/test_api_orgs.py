"""/api/v1 organizations, teams and robots against the real server, answered as Quay answers them.

Every test makes its own organization (unique name) on the module's shared server. Audit entries are
read from the server's SQLite database (the logs API is tested elsewhere); the test users and API
tokens with chosen scopes are written there (Quay mints API tokens through OAuth applications,
which this server does not have).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from registry_app.db.engine import make_engine
from registry_app.db.identity import IdentityStore
from registry_app.services.auth import PASSWORDS
from registry_app.services.identity import ALL_SCOPES, IdentityService
from registry_app.settings import Secrets
from tests.conftest import ADMIN
from tests.support.oci import Client, Image
from tests.support.server import RegistryServer

PASSWORD = secrets.token_urlsafe(16)


class Account(httpx.Auth):
    """A test user. API calls carry an API token with every scope: checking the password (argon2)
    on each Basic request costs 0.1-0.3 s on a busy host. ``basic`` is for the calls that show
    Basic credentials work the same."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.basic = (name, PASSWORD)
        self.token = ""

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["authorization"] = f"Bearer {self.token}"
        yield request


ALICE = Account("oalice")  # creates the organizations
BOB = Account("obob")  # an outsider
CAROL = Account("ocarol")  # joins teams


@contextmanager
def identity_service(server: RegistryServer) -> Iterator[IdentityService]:
    """The server's accounts, straight from its database."""
    engine = make_engine(f"sqlite:///{server.data_dir / 'registry.db'}")
    try:
        yield IdentityService(IdentityStore(engine), Secrets("unused: API tokens are hashed"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def server(shared_registry: RegistryServer) -> RegistryServer:
    # Written to the database directly: ``registry-app user create`` costs seconds per user.
    with identity_service(shared_registry) as accounts:
        for account in (ALICE, BOB, CAROL):
            user = accounts.create_user(account.name, PASSWORDS.hash(PASSWORD), f"{account.name}@example.test")
            account.token = accounts.create_api_token(user, ALL_SCOPES, "tests")
    return shared_registry


@pytest.fixture
def http(server: RegistryServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30.0) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def new_org(http: httpx.Client, owner: Account = ALICE) -> str:
    name = unique("org")
    r = http.post("/organization/", json={"name": name, "email": f"{name}@example.test"}, auth=owner)
    assert r.status_code == 201, r.text
    return name


def quay_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["error_message"] and body["error_type"], body
    return body


def db(server: RegistryServer) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "registry.db", timeout=30)


def account_id(server: RegistryServer, name: str) -> int:
    with db(server) as conn:
        return int(conn.execute("SELECT id FROM user WHERE username = ?", (name,)).fetchone()[0])


def audit(server: RegistryServer, account: int, *expected: str) -> list[tuple[str, dict[str, Any]]]:
    """The account's audit entries, oldest first, once every ``expected`` kind is there (batched writes)."""
    deadline = time.monotonic() + 10
    while True:
        with db(server) as conn:
            rows = conn.execute(
                "SELECT kind, metadata_json FROM log_entry WHERE account_id = ? ORDER BY id", (account,)
            ).fetchall()
        entries = [(kind, json.loads(meta or "{}")) for kind, meta in rows]
        kinds = [k for k, _ in entries]
        if all(k in kinds for k in expected) or time.monotonic() > deadline:
            assert all(k in kinds for k in expected), (expected, kinds)
            return entries
        time.sleep(0.2)


def api_token(server: RegistryServer, username: str, *scopes: str) -> str:
    with identity_service(server) as accounts:
        user = accounts.store.get(username)
        assert user is not None
        return accounts.create_api_token(user, scopes, "test")


# -- organizations ----------------------------------------------------------------------------------
def test_create_organization_and_its_views(server: RegistryServer, http: httpx.Client) -> None:
    name = unique("org")
    quay_error(http.post("/organization/", json={"name": name}), 401)
    # Basic credentials (the rest of the module uses API tokens)
    quay_error(http.post("/organization/", json={"name": name}, auth=(ALICE.name, "wrong-password")), 401)
    r = http.post("/organization/", json={"name": name, "email": f"{name}@example.test"}, auth=ALICE.basic)
    assert r.status_code == 201 and r.json() == "Created"
    assert http.get(f"/organization/{name}", auth=ALICE.basic).json()["is_admin"] is True
    assert http.get(f"/organization/{name}", auth=BOB.basic).json()["is_admin"] is False
    quay_error(http.put(f"/organization/{name}", json={}, auth=BOB.basic), 403)
    assert "already exists" in quay_error(http.post("/organization/", json={"name": name}, auth=BOB), 400)["detail"]
    quay_error(http.post("/organization/", json={"name": BOB.name}, auth=ALICE), 400)  # a user's name
    quay_error(http.post("/organization/", json={"name": "Not Valid"}, auth=ALICE), 400)
    quay_error(http.post("/organization/", json={"email": "x@example.test"}, auth=ALICE), 400)

    admin_view = http.get(f"/organization/{name}", auth=ALICE).json()
    assert admin_view["name"] == name and admin_view["email"] == f"{name}@example.test"
    assert admin_view["is_admin"] is True and admin_view["is_member"] is True and admin_view["is_org_admin"] is True
    assert admin_view["avatar"]["name"] == name and admin_view["avatar"]["hash"]
    assert admin_view["ordered_teams"] == ["owners"]
    assert admin_view["teams"]["owners"] == {
        "name": "owners",
        "description": "Owners of the organization",
        "role": "admin",
        "avatar": admin_view["teams"]["owners"]["avatar"],
        "can_view": True,
        "repo_count": 0,
        "member_count": 1,
        "is_synced": False,
    }
    assert admin_view["teams"]["owners"]["avatar"]["kind"] == "team"
    assert admin_view["invoice_email"] is False and admin_view["tag_expiration_s"] == 14 * 86400

    for who in (BOB, None):  # outsiders and anonymous callers see name and avatar only
        view = http.get(f"/organization/{name}", auth=who).json()
        assert view == {
            "name": name,
            "email": "",
            "avatar": admin_view["avatar"],
            "is_admin": False,
            "is_member": False,
            "is_org_admin": False,
        }
    assert http.get(f"/organization/{name}", auth=ADMIN).json()["is_admin"] is True  # superuser

    quay_error(http.get(f"/organization/{unique('nosuch')}", auth=ALICE), 404)
    quay_error(http.get(f"/organization/{ALICE.name}", auth=ALICE), 404)  # a user, not an organization
    orgs = {o["name"]: o for o in http.get("/user/", auth=ALICE).json()["organizations"]}
    assert orgs[name]["is_org_admin"] is True
    assert name not in {o["name"] for o in http.get("/user/", auth=BOB).json()["organizations"]}

    (kind, meta) = audit(server, account_id(server, name), "org_create")[0]
    assert kind == "org_create" and meta == {"email": f"{name}@example.test", "namespace": name}


def test_change_and_delete_organization(server: RegistryServer, http: httpx.Client) -> None:
    name = new_org(http)
    org_id = account_id(server, name)
    quay_error(http.put(f"/organization/{name}", json={"email": "x@example.test"}), 401)
    quay_error(http.put(f"/organization/{name}", json={"email": "x@example.test"}, auth=BOB), 403)

    r = http.put(
        f"/organization/{name}", json={"email": f"new-{name}@example.test", "tag_expiration_s": 86400}, auth=ALICE
    )
    assert r.status_code == 200, r.text
    assert r.json()["email"] == f"new-{name}@example.test" and r.json()["tag_expiration_s"] == 86400
    assert http.get(f"/organization/{name}", auth=ALICE).json()["tag_expiration_s"] == 86400
    assert r.json()["teams"]["owners"]["member_count"] == 1
    assert (
        "tag expiration"
        in quay_error(http.put(f"/organization/{name}", json={"tag_expiration_s": 12345}, auth=ALICE), 400)["detail"]
    )
    quay_error(http.put(f"/organization/{name}", json={"tag_expiration_s": -1}, auth=ALICE), 400)
    quay_error(http.put(f"/organization/{name}", json={"email": "obob@example.test"}, auth=ALICE), 400)  # bob's
    assert http.put(f"/organization/{name}", json={"invoice_email": True}, auth=ALICE).status_code == 200

    # Unknown organizations: 403 for whoever does not administer them, 404 for superusers (as Quay).
    quay_error(http.put(f"/organization/{unique('nosuch')}", json={}, auth=BOB), 403)
    quay_error(http.put(f"/organization/{unique('nosuch')}", json={}, auth=ADMIN), 404)
    quay_error(http.delete(f"/organization/{unique('nosuch')}", auth=ADMIN), 404)

    robot = http.put(f"/organization/{name}/robots/deployer", auth=ALICE).json()
    assert server.v2_token((robot["name"], robot["token"])).status_code == 200

    quay_error(http.delete(f"/organization/{name}", auth=BOB), 403)
    quay_error(http.delete(f"/organization/{name}"), 401)
    r = http.delete(f"/organization/{name}", auth=ALICE)
    assert r.status_code == 204 and r.content == b""
    quay_error(http.get(f"/organization/{name}", auth=ALICE), 404)
    assert server.v2_token((robot["name"], robot["token"])).status_code == 401  # its robots went with it
    with db(server) as conn:
        assert conn.execute("SELECT count(*) FROM user WHERE username LIKE ?", (f"{name}%",)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM team WHERE organization_id = ?", (org_id,)).fetchone()[0] == 0
    assert http.post("/organization/", json={"name": name}, auth=BOB).status_code == 201  # the name is free again

    entries = audit(server, org_id, "org_change_email", "org_change_tag_expiration", "org_delete")
    by_kind = {k: m for k, m in entries}
    assert by_kind["org_change_email"] == {
        "email": f"new-{name}@example.test",
        "namespace": name,
        "old_email": f"{name}@example.test",
    }
    assert by_kind["org_change_tag_expiration"] == {"tag_expiration": 86400, "namespace": name}
    assert by_kind["org_delete"] == {"namespace": name}


def test_organization_members(server: RegistryServer, http: httpx.Client) -> None:
    name = new_org(http)
    assert http.put(f"/organization/{name}/team/devs", json={"role": "member"}, auth=ALICE).status_code == 200
    assert http.put(f"/organization/{name}/team/devs/members/{CAROL.name}", auth=ALICE).status_code == 200
    assert http.put(f"/organization/{name}/robots/ci", auth=ALICE).status_code == 201
    assert http.put(f"/organization/{name}/team/devs/members/{name}+ci", auth=ALICE).status_code == 200

    r = http.get(f"/organization/{name}/members", auth=ALICE)
    assert r.status_code == 200, r.text
    members = {m["name"]: m for m in r.json()["members"]}
    assert set(members) == {ALICE.name, CAROL.name}  # people only, not robots
    assert members[CAROL.name] == {
        "name": CAROL.name,
        "kind": "user",
        "avatar": members[CAROL.name]["avatar"],
        "teams": [{"name": "devs", "avatar": members[CAROL.name]["teams"][0]["avatar"]}],
        "repositories": [],
    }
    assert [t["name"] for t in members[ALICE.name]["teams"]] == ["owners"]
    quay_error(http.get(f"/organization/{name}/members", auth=CAROL), 403)  # a member, not an admin
    quay_error(http.get(f"/organization/{name}/members", auth=BOB), 403)
    quay_error(http.get(f"/organization/{name}/members"), 401)
    assert http.get(f"/organization/{name}/members", auth=ADMIN).status_code == 200


# -- teams ------------------------------------------------------------------------------------------
def test_teams_and_team_members(server: RegistryServer, http: httpx.Client) -> None:
    name = new_org(http)
    other = new_org(http)
    team = f"/organization/{name}/team/devs"

    quay_error(http.put(team, json={"role": "member"}), 401)
    quay_error(http.put(team, json={"role": "member"}, auth=BOB), 403)
    quay_error(http.put(team, json={"role": "boss"}, auth=ALICE), 400)
    quay_error(http.put(team, json={"description": "no role"}, auth=ALICE), 400)
    quay_error(http.put(f"/organization/{name}/team/Dev Team", json={"role": "member"}, auth=ALICE), 400)
    quay_error(http.put(f"/organization/{unique('nosuch')}/team/devs", json={"role": "member"}, auth=ADMIN), 404)

    r = http.put(team, json={"role": "member", "description": "Developers"}, auth=ALICE)
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["name"] == "devs" and created["role"] == "member" and created["description"] == "Developers"
    assert created["new_team"] is True and created["can_view"] is True and created["member_count"] == 0
    assert created["avatar"]["kind"] == "team" and created["is_synced"] is False and created["repo_count"] == 0

    # members: users, and robots of this organization only
    quay_error(http.put(f"{team}/members/{CAROL.name}", auth=BOB), 403)
    r = http.put(f"{team}/members/{CAROL.name}", auth=ALICE)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": CAROL.name,
        "kind": "user",
        "is_robot": False,
        "avatar": r.json()["avatar"],
        "invited": False,
    }
    assert "already a member" in quay_error(http.put(f"{team}/members/{CAROL.name}", auth=ALICE), 400)["detail"]
    assert quay_error(http.put(f"{team}/members/{unique('nobody')}", auth=ALICE), 400)["detail"] == "Unknown user"
    quay_error(http.put(f"{team}/members/{other}", auth=ALICE), 400)  # an organization
    quay_error(http.put(f"/organization/{name}/team/nosuch/members/{CAROL.name}", auth=ALICE), 404)
    assert http.put(f"/organization/{name}/robots/ci", auth=ALICE).status_code == 201
    assert http.put(f"/organization/{other}/robots/ci", auth=ALICE).status_code == 201
    assert http.put("/user/robots/mine", auth=ALICE).status_code == 201
    r = http.put(f"{team}/members/{name}+ci", auth=ALICE)
    assert r.status_code == 200 and r.json()["is_robot"] is True and r.json()["kind"] == "user"
    assert "not a member" in quay_error(http.put(f"{team}/members/{other}+ci", auth=ALICE), 400)["detail"]
    quay_error(http.put(f"{team}/members/{ALICE.name}+mine", auth=ALICE), 400)

    # who sees the members
    listing = http.get(f"{team}/members", auth=ALICE)
    assert listing.status_code == 200, listing.text
    assert listing.json()["name"] == "devs" and listing.json()["can_edit"] is True
    assert {m["name"]: m["is_robot"] for m in listing.json()["members"]} == {CAROL.name: False, f"{name}+ci": True}
    as_member = http.get(f"{team}/members", auth=CAROL)
    assert as_member.status_code == 200 and as_member.json()["can_edit"] is False
    quay_error(http.get(f"/organization/{name}/team/owners/members", auth=CAROL), 403)  # not in that team
    quay_error(http.get(f"{team}/members", auth=BOB), 403)
    quay_error(http.get(f"{team}/members"), 401)
    quay_error(http.get(f"/organization/{name}/team/nosuch/members", auth=ALICE), 404)
    quay_error(http.get(f"/organization/{unique('nosuch')}/team/devs/members", auth=BOB), 403)

    # a member sees the teams; only their own as viewable; no admin settings
    member_view = http.get(f"/organization/{name}", auth=CAROL).json()
    assert member_view["is_member"] is True and member_view["is_admin"] is False and member_view["email"] == ""
    assert member_view["ordered_teams"] == ["owners", "devs"]
    assert member_view["teams"]["devs"]["can_view"] is True and member_view["teams"]["owners"]["can_view"] is False
    assert member_view["teams"]["devs"]["member_count"] == 2 and "tag_expiration_s" not in member_view

    # changing a team
    r = http.put(team, json={"role": "creator"}, auth=ALICE)
    assert r.json()["role"] == "creator" and r.json()["new_team"] is False
    assert r.json()["description"] == "Developers" and r.json()["member_count"] == 2
    r = http.put(team, json={"role": "creator", "description": "Builders"}, auth=ALICE)
    assert r.json()["description"] == "Builders"

    # removing members
    quay_error(http.delete(f"{team}/members/{CAROL.name}", auth=BOB), 403)
    assert http.delete(f"{team}/members/{CAROL.name}", auth=ALICE).status_code == 204
    assert "does not belong" in quay_error(http.delete(f"{team}/members/{CAROL.name}", auth=ALICE), 400)["detail"]
    quay_error(http.delete(f"{team}/members/{unique('nobody')}", auth=ALICE), 404)
    quay_error(http.delete(f"/organization/{name}/team/nosuch/members/{CAROL.name}", auth=ALICE), 404)
    assert http.get(f"/organization/{name}", auth=CAROL).json()["is_member"] is False

    # the owners team keeps its admin role and at least one person
    quay_error(http.delete(f"/organization/{name}/team/owners/members/{ALICE.name}", auth=ALICE), 400)
    quay_error(http.delete(f"/organization/{name}/team/owners/members/{ALICE.name}", auth=ADMIN), 400)
    quay_error(http.delete(f"/organization/{name}/team/owners", auth=ALICE), 400)
    quay_error(http.delete(f"/organization/{name}/team/owners", auth=ADMIN), 400)
    quay_error(http.put(f"/organization/{name}/team/owners", json={"role": "member"}, auth=ALICE), 400)

    # deleting a team
    quay_error(http.delete(team, auth=BOB), 403)
    assert http.delete(team, auth=ALICE).status_code == 204
    assert "is not a team" in quay_error(http.delete(team, auth=ALICE), 400)["detail"]  # Quay: 400
    assert http.get(f"/organization/{name}", auth=ALICE).json()["ordered_teams"] == ["owners"]

    entries = audit(
        server,
        account_id(server, name),
        "org_create_team",
        "org_add_team_member",
        "org_set_team_role",
        "org_set_team_description",
        "org_remove_team_member",
        "org_delete_team",
    )
    logged = [(k, m) for k, m in entries if k.startswith("org_") and k != "org_create"]
    assert logged == [
        ("org_create_team", {"team": "devs"}),
        ("org_add_team_member", {"member": CAROL.name, "team": "devs"}),
        ("org_add_team_member", {"member": f"{name}+ci", "team": "devs"}),
        ("org_set_team_role", {"team": "devs", "role": "creator"}),
        ("org_set_team_description", {"team": "devs", "description": "Builders"}),
        ("org_remove_team_member", {"member": CAROL.name, "team": "devs"}),
        ("org_delete_team", {"team": "devs"}),
    ]


def test_admin_team_makes_org_admins_who_cannot_lock_themselves_out(http: httpx.Client) -> None:
    name = new_org(http)
    admins = f"/organization/{name}/team/admins"
    assert http.put(admins, json={"role": "admin"}, auth=ALICE).status_code == 200
    quay_error(http.put(f"/organization/{name}/team/helpers", json={"role": "member"}, auth=CAROL), 403)
    assert http.put(f"{admins}/members/{CAROL.name}", auth=ALICE).status_code == 200

    # carol now administers the organization
    assert http.get(f"/organization/{name}", auth=CAROL).json()["is_admin"] is True
    assert http.put(f"/organization/{name}/team/helpers", json={"role": "member"}, auth=CAROL).status_code == 200
    assert http.get(f"/organization/{name}/members", auth=CAROL).status_code == 200
    # ... but may not take her own (only) admin team away
    assert "only admin team" in quay_error(http.delete(f"{admins}/members/{CAROL.name}", auth=CAROL), 400)["detail"]
    quay_error(http.put(admins, json={"role": "member"}, auth=CAROL), 400)
    quay_error(http.delete(admins, auth=CAROL), 400)
    # another admin may
    assert http.put(admins, json={"role": "member"}, auth=ALICE).json()["role"] == "member"
    quay_error(http.put(f"/organization/{name}/team/helpers", json={"role": "member"}, auth=CAROL), 403)


def test_creator_team_robot_pushes_to_the_organization(server: RegistryServer, http: httpx.Client) -> None:
    name = new_org(http)
    builder = http.put(f"/organization/{name}/robots/builder", auth=ALICE).json()
    idle = http.put(f"/organization/{name}/robots/idle", auth=ALICE).json()
    assert http.put(f"/organization/{name}/team/builders", json={"role": "creator"}, auth=ALICE).status_code == 200
    assert http.put(f"/organization/{name}/team/builders/members/{builder['name']}", auth=ALICE).status_code == 200

    client = Client(server.url, auth=(builder["name"], builder["token"]))
    try:
        assert client.push_image(f"{name}/app", Image.random(), "v1").status_code == 201
    finally:
        client.close()
    denied = httpx.post(f"{server.url}/v2/{name}/other/blobs/uploads/", auth=(idle["name"], idle["token"]))
    assert denied.status_code in (401, 403)


# -- robots -----------------------------------------------------------------------------------------
def test_organization_robots(server: RegistryServer, http: httpx.Client) -> None:
    name = new_org(http)
    base = f"/organization/{name}/robots"
    quay_error(http.put(f"{base}/ci"), 401)
    quay_error(http.put(f"{base}/ci", auth=BOB), 403)

    r = http.put(f"{base}/ci", auth=ALICE)  # no body at all
    assert r.status_code == 201, r.text
    ci = r.json()
    assert set(ci) == {"name", "created", "last_accessed", "description", "token", "unstructured_metadata"}
    assert ci["name"] == f"{name}+ci" and len(ci["token"]) == 64 and ci["last_accessed"] is None
    assert ci["description"] == "" and ci["unstructured_metadata"] == {} and ci["created"].endswith("-0000")
    r = http.put(
        f"{base}/deployer", json={"description": "deploys", "unstructured_metadata": {"team": "ops"}}, auth=ALICE
    )
    assert r.status_code == 201
    assert r.json()["description"] == "deploys" and r.json()["unstructured_metadata"] == {"team": "ops"}
    assert quay_error(http.put(f"{base}/ci", auth=ALICE), 400)["detail"] == f"Existing robot with name: {name}+ci"
    quay_error(http.put(f"{base}/Bad-Name", auth=ALICE), 400)
    quay_error(http.put(f"{base}/x1", json={"description": "d" * 256}, auth=ALICE), 400)

    got = http.get(f"{base}/deployer", auth=ALICE).json()
    assert got["token"] == r.json()["token"] and got["unstructured_metadata"] == {"team": "ops"}
    quay_error(http.get(f"{base}/nosuch", auth=ALICE), 400)  # Quay: InvalidRobotException is a 400
    quay_error(http.get(f"{base}/ci", auth=BOB), 403)

    listing = http.get(base, auth=ALICE).json()["robots"]
    assert [b["name"] for b in listing] == [f"{name}+ci", f"{name}+deployer"]
    assert listing[0]["token"] == ci["token"] and "unstructured_metadata" not in listing[0]
    assert all("token" not in b for b in http.get(base, params={"token": "false"}, auth=ALICE).json()["robots"])
    assert len(http.get(base, params={"limit": 1}, auth=ALICE).json()["robots"]) == 1
    with_perms = http.get(base, params={"permissions": "true"}, auth=ALICE).json()["robots"]
    assert with_perms[0]["teams"] == [] and with_perms[0]["repositories"] == []
    assert http.get(f"{base}/ci/permissions", auth=ALICE).json() == {"permissions": []}
    # members list robots without tokens; outsiders not at all
    assert http.put(f"/organization/{name}/team/devs", json={"role": "member"}, auth=ALICE).status_code == 200
    assert http.put(f"/organization/{name}/team/devs/members/{CAROL.name}", auth=ALICE).status_code == 200
    as_member = http.get(base, params={"permissions": "true"}, auth=CAROL).json()["robots"]
    assert len(as_member) == 2 and all("token" not in b and "teams" not in b for b in as_member)
    quay_error(http.get(base, auth=BOB), 403)
    quay_error(http.get(base), 401)
    quay_error(http.get(f"/organization/{unique('nosuch')}/robots", auth=ADMIN), 404)

    # the robot logs in to the registry with its token, and with nothing else
    login = server.v2_token((ci["name"], ci["token"]))
    assert login.status_code == 200 and login.json()["token"]
    old_jwt = login.json()["token"]
    assert httpx.get(f"{server.url}/v2/", headers={"authorization": f"Bearer {old_jwt}"}).status_code == 200
    assert server.v2_token((ci["name"], "X" * 64)).status_code == 401

    # a new token: the old one and the registry tokens issued for it stop working at once
    quay_error(http.post(f"{base}/ci/regenerate", auth=BOB), 403)
    r = http.post(f"{base}/ci/regenerate", auth=ALICE)
    assert r.status_code == 200, r.text
    new_token = r.json()["token"]
    assert r.json()["name"] == ci["name"] and len(new_token) == 64 and new_token != ci["token"]
    assert http.get(f"{base}/ci", auth=ALICE).json()["token"] == new_token
    assert httpx.get(f"{server.url}/v2/", headers={"authorization": f"Bearer {old_jwt}"}).status_code == 401
    assert server.v2_token((ci["name"], ci["token"])).status_code == 401
    login = server.v2_token((ci["name"], new_token))
    assert login.status_code == 200
    new_jwt = login.json()["token"]
    quay_error(http.post(f"{base}/nosuch/regenerate", auth=ALICE), 400)

    # deleting: the robot's credentials fail at once
    quay_error(http.delete(f"{base}/ci", auth=BOB), 403)
    assert http.delete(f"{base}/ci", auth=ALICE).status_code == 204
    quay_error(http.get(f"{base}/ci", auth=ALICE), 400)
    quay_error(http.delete(f"{base}/ci", auth=ALICE), 400)
    assert httpx.get(f"{server.url}/v2/", headers={"authorization": f"Bearer {new_jwt}"}).status_code == 401
    assert server.v2_token((ci["name"], new_token)).status_code == 401

    entries = audit(server, account_id(server, name), "create_robot", "regenerate_robot_token", "delete_robot")
    robot_entries = [(k, m) for k, m in entries if "robot" in k]
    assert robot_entries == [
        ("create_robot", {"robot": "ci", "description": None, "unstructured_metadata": None}),
        ("create_robot", {"robot": "deployer", "description": "deploys", "unstructured_metadata": {"team": "ops"}}),
        ("regenerate_robot_token", {"robot": "ci"}),
        ("delete_robot", {"robot": "ci"}),
    ]
    with db(server) as conn:
        every_entry = " ".join(m for (m,) in conn.execute("SELECT metadata_json FROM log_entry"))
    assert ci["token"] not in every_entry and new_token not in every_entry and got["token"] not in every_entry


def test_user_robots(server: RegistryServer, http: httpx.Client) -> None:
    short = unique("bot")
    quay_error(http.get("/user/robots"), 401)
    quay_error(http.put(f"/user/robots/{short}"), 401)

    r = http.put(f"/user/robots/{short}", json={"description": "mine"}, auth=BOB)
    assert r.status_code == 201, r.text
    bot = r.json()
    assert bot["name"] == f"{BOB.name}+{short}" and bot["description"] == "mine" and len(bot["token"]) == 64
    quay_error(http.put(f"/user/robots/{short}", auth=BOB), 400)
    assert http.get(f"/user/robots/{short}", auth=BOB).json()["token"] == bot["token"]
    quay_error(http.get(f"/user/robots/{short}", auth=CAROL), 400)  # carol has no such robot
    assert bot["name"] in {b["name"] for b in http.get("/user/robots", auth=BOB).json()["robots"]}
    assert bot["name"] not in {b["name"] for b in http.get("/user/robots", auth=CAROL).json()["robots"]}
    assert http.get(f"/user/robots/{short}/permissions", auth=BOB).json() == {"permissions": []}
    assert server.v2_token((bot["name"], bot["token"])).status_code == 200
    quay_error(http.get("/user/robots", auth=(bot["name"], bot["token"])), 401)  # robots cannot use the API

    r = http.post(f"/user/robots/{short}/regenerate", auth=BOB)
    assert r.status_code == 200 and r.json()["token"] != bot["token"]
    assert server.v2_token((bot["name"], bot["token"])).status_code == 401
    assert server.v2_token((bot["name"], r.json()["token"])).status_code == 200

    assert http.delete(f"/user/robots/{short}", auth=BOB).status_code == 204
    quay_error(http.get(f"/user/robots/{short}", auth=BOB), 400)
    assert server.v2_token((bot["name"], r.json()["token"])).status_code == 401
    kinds = [k for k, m in audit(server, account_id(server, BOB.name), "delete_robot") if m.get("robot") == short]
    assert kinds == ["create_robot", "regenerate_robot_token", "delete_robot"]


def test_api_token_scopes(server: RegistryServer, http: httpx.Client) -> None:
    name = new_org(http)
    read_only = {"authorization": f"Bearer {api_token(server, ALICE.name, 'user:read')}"}
    quay_error(http.post("/organization/", json={"name": unique("org")}, headers=read_only), 403)
    quay_error(http.put(f"/organization/{name}", json={"tag_expiration_s": 0}, headers=read_only), 403)
    quay_error(http.put(f"/organization/{name}/robots/ci", headers=read_only), 403)
    quay_error(http.get("/user/robots", headers=read_only), 403)
    assert http.get(f"/organization/{name}", headers=read_only).json()["is_admin"] is True  # no scope needed

    org_admin = {"authorization": f"Bearer {api_token(server, ALICE.name, 'org:admin')}"}
    assert http.put(f"/organization/{name}", json={"tag_expiration_s": 0}, headers=org_admin).status_code == 200
    assert http.put(f"/organization/{name}/robots/ci", headers=org_admin).status_code == 201
    quay_error(http.get("/user/robots", headers=org_admin), 403)  # needs user:admin
    quay_error(http.get(f"/organization/{name}", headers={"authorization": "Bearer " + "A" * 40}), 401)

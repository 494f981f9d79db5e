"""Who may do what: every principal against every action on a private and a public repository.

One server for the module, set up the way a Quay administrator would, through /api/v1:

* the superuser ``admin`` (tests/conftest.py ADMIN) creates the people (POST /superuser/users/);
* ``owner1`` creates the organization ``acme`` (so it is in acme's ``owners`` team, role admin),
  the teams ``lurkers`` (member role, no repository permission), ``readers`` (member role, the
  team has ``read`` on both repositories) and ``builders`` (creator role, no repository
  permission), the robots ``acme+ro`` and ``acme+rw``, the repositories ``acme/private1``
  (private) and ``acme/public1`` (public), explicit user permissions, and pushes one image to each;
* ``outsider1`` creates the organization ``globex`` and has nothing to do with acme.

The expected outcomes are Quay's (endpoints/v2/v2auth.py, endpoints/v2/manifest.py,
endpoints/api/{permission,repository,logs}.py, auth/permissions.py):

* pull needs the read role or a public repository (anonymous too: FEATURE_ANONYMOUS_ACCESS is on);
* push and tag deletion over /v2 need the write role (Quay's ``require_repo_write`` on
  DELETE /v2/.../manifests/<tag>; the token is asked for ``pull,push``, the only actions besides
  ``*`` that Quay's token endpoint accepts);
* a team's role gives no repository access by itself except ``admin`` (``TEAM_ORGWIDE_REPO_ROLES``):
  member and creator teams see only what the team was granted; creator teams may create
  repositories (push to a new name in the organization);
* changing permissions, changing visibility and reading a repository's logs need the admin role;
* superusers get no role on other namespaces' repositories: FEATURE_SUPERUSERS_FULL_ACCESS is off
  (Quay's default, and set explicitly in this server's config bundle), and /v2/auth never grants
  superusers anything beyond ``ReadRepositoryPermission``/``ModifyRepositoryPermission``;
* over /v2 a refusal is 401 or 403; over /api/v1 it is 401 for anonymous callers and robots (a
  robot cannot sign in to the API) and 403 for signed-in users without the role.

Pull and push are then repeated with real clients (podman, skopeo) for a representative subset.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients
from tests.support.images import OCI_MANIFEST, OciImage, build_image
from tests.support.server import RegistryServer

ORG = "acme"
PRIVATE, PUBLIC, NEW = "private1", "public1", "new"
ACCEPT = OCI_MANIFEST
Creds = tuple[str, str] | None

# --------------------------------------------------------------------------------------------
# The matrix. A = allowed, . = denied.
#   pull/push/delete go over /v2 (token from GET /v2/auth, then the request with the Bearer token);
#   perms (PUT .../permissions/user/bystander1), visib (POST .../changevisibility with the
#   repository's current visibility) and logs (GET .../logs) go over /api/v1 with Basic credentials;
#   create is a push to a repository that does not exist yet (acme/new-<principal>).
# --------------------------------------------------------------------------------------------
MATRIX = """
                    pull     push     delete   perms    visib    logs     create
                    prv pub  prv pub  prv pub  prv pub  prv pub  prv pub  new
anonymous           .   A    .   .    .   .    .   .    .   .    .   .    .
org_member          .   A    .   .    .   .    .   .    .   .    .   .    .
team_member         A   A    .   .    .   .    .   .    .   .    .   .    .
team_creator        .   A    .   .    .   .    .   .    .   .    .   .    A
team_admin          A   A    A   A    A   A    A   A    A   A    A   A    A
repo_reader         A   A    .   .    .   .    .   .    .   .    .   .    .
repo_writer         A   A    A   A    A   A    .   .    .   .    .   .    .
repo_admin          A   A    A   A    A   A    A   A    A   A    A   A    .
robot_ro            A   A    .   .    .   .    .   .    .   .    .   .    .
robot_rw            A   A    A   A    A   A    .   .    .   .    .   .    .
superuser           .   A    .   .    .   .    .   .    .   .    .   .    .
other_org_user      .   A    .   .    .   .    .   .    .   .    .   .    .
"""

COLUMNS = [
    ("pull", PRIVATE),
    ("pull", PUBLIC),
    ("push", PRIVATE),
    ("push", PUBLIC),
    ("delete", PRIVATE),
    ("delete", PUBLIC),
    ("perms", PRIVATE),
    ("perms", PUBLIC),
    ("visib", PRIVATE),
    ("visib", PUBLIC),
    ("logs", PRIVATE),
    ("logs", PUBLIC),
    ("create", NEW),
]

# Who each principal is (the account behind it; None: no credentials at all).
PRINCIPALS = {
    "anonymous": None,
    "org_member": "lurker1",  # acme team "lurkers" (member role), no repository permission
    "team_member": "teamreader1",  # acme team "readers" (member role), team has read on both repos
    "team_creator": "builder1",  # acme team "builders" (creator role), no repository permission
    "team_admin": "owner1",  # created acme: acme team "owners" (admin role)
    "repo_reader": "reader1",  # explicit read on both repos
    "repo_writer": "writer1",  # explicit write on both repos
    "repo_admin": "repoadmin1",  # explicit admin on both repos
    "robot_ro": f"{ORG}+ro",  # explicit read on both repos
    "robot_rw": f"{ORG}+rw",  # explicit write on both repos
    "superuser": ADMIN[0],  # SUPER_USERS, not in acme
    "other_org_user": "outsider1",  # owns organization globex, nothing in acme
}
PEOPLE = ["owner1", "lurker1", "teamreader1", "builder1", "reader1", "writer1", "repoadmin1", "outsider1", "bystander1"]


def _parse_matrix() -> dict[tuple[str, str, str], bool]:
    lines = [line for line in MATRIX.strip("\n").splitlines()[2:] if line.strip()]
    table: dict[tuple[str, str, str], bool] = {}
    for line in lines:
        name, *cells = line.split()
        assert name in PRINCIPALS, f"unknown principal {name!r} in MATRIX"
        assert len(cells) == len(COLUMNS), f"{name}: {len(cells)} cells for {len(COLUMNS)} columns"
        for (action, repo), cell in zip(COLUMNS, cells, strict=True):
            assert cell in ("A", "."), f"{name}: cell {cell!r}"
            table[(name, action, repo)] = cell == "A"
    assert {p for p, _, _ in table} == set(PRINCIPALS), "every principal needs a row"
    return table


EXPECTED = _parse_matrix()


def cases(*actions: str) -> list[object]:
    return [
        pytest.param(
            principal, action, repo, allowed, id=f"{action}-{repo}-{principal}-{'allowed' if allowed else 'denied'}"
        )
        for (principal, action, repo), allowed in EXPECTED.items()
        if action in actions
    ]


# --------------------------------------------------------------------------------------------
# The world: one server, set up through the API
# --------------------------------------------------------------------------------------------


@dataclass
class World:
    server: RegistryServer
    image: OciImage  # a real image (podman/skopeo can pull it), pushed to both repositories as v1
    creds: dict[str, Creds] = field(default_factory=dict)  # principal -> Basic credentials
    tokens: dict[object, str] = field(default_factory=dict)  # registry tokens, reused (they last 1 h)
    clients: dict[object, httpx.Client] = field(default_factory=dict)  # one connection pool per caller

    def _client(self, key: object, **kwargs: Any) -> httpx.Client:
        if key not in self.clients:
            self.clients[key] = httpx.Client(timeout=60, **kwargs)
        return self.clients[key]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, principal: str, repo: str, actions: str) -> str:
        """GET /v2/auth with the principal's Basic credentials (none for anonymous) and one scope.

        Tokens are kept for the module: nobody's permissions change after the setup, and every
        password check costs a deliberate ~0.1 s (argon2)."""
        if (principal, repo, actions) in self.tokens:
            return self.tokens[(principal, repo, actions)]
        creds = self.creds[principal]
        resp = self._client("auth").get(
            f"{self.url}/v2/auth",
            params={"service": self.server.host, "scope": f"repository:{repo}:{actions}"},
            auth=creds,
            timeout=30,
        )
        assert resp.status_code == 200, f"/v2/auth as {principal} for {repo}:{actions}: {resp.status_code} {resp.text}"
        token = self.tokens[(principal, repo, actions)] = str(resp.json()["token"])
        return token

    def owner(self) -> httpx.Client:
        """owner1 (acme's owners team) over /v2 with one token for every repository the tests look
        into: both repositories (pull, push) and each ``new-*`` name (pull), to check results."""
        if "owner" not in self.tokens:
            scopes = [f"repository:{ORG}/{r}:pull,push" for r in (PRIVATE, PUBLIC)]
            scopes += [f"repository:{new_repo(p)}:pull" for p in PRINCIPALS]
            resp = self._client("auth").get(
                f"{self.url}/v2/auth",
                params={"service": self.server.host, "scope": scopes},
                auth=self.creds["team_admin"],
                timeout=30,
            )
            assert resp.status_code == 200, f"/v2/auth as owner1: {resp.status_code} {resp.text}"
            self.tokens["owner"] = str(resp.json()["token"])
        return self._client("owner", base_url=self.url, headers={"authorization": f"Bearer {self.tokens['owner']}"})

    def v2(self, principal: str, repo: str, actions: str) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.token(principal, repo, actions)}"}
        return self._client(("v2", principal, repo, actions), base_url=self.url, headers=headers)

    def api(self, principal: str) -> httpx.Client:
        return self._client(("api", principal), base_url=f"{self.url}/api/v1", auth=self.creds[principal])


def new_repo(principal: str) -> str:
    """The repository a principal tries to create by pushing to it."""
    return f"{ORG}/new-{principal.replace('_', '-')}"


def _ok(resp: httpx.Response, what: str) -> httpx.Response:
    assert resp.is_success, f"{what}: {resp.status_code} {resp.text[:1000]}"
    return resp


def blob_bytes(image: OciImage, digest: str) -> bytes:
    return (image.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def push_image(client: httpx.Client, repo: str, image: OciImage, tag: str) -> httpx.Response:
    """Upload the image's blobs and PUT its manifest; the first refused request is returned."""
    doc = json.loads(image.manifest)
    for desc in [doc["config"], *doc["layers"]]:
        start = client.post(f"/v2/{repo}/blobs/uploads/")
        if start.status_code != 202:
            return start
        done = client.put(
            start.headers["location"],
            params={"digest": desc["digest"]},
            content=blob_bytes(image, desc["digest"]),
            headers={"content-type": "application/octet-stream"},
        )
        if done.status_code != 201:
            return done
    return client.put(f"/v2/{repo}/manifests/{tag}", content=image.manifest, headers={"content-type": OCI_MANIFEST})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("matrix")
    server = bundle_server(
        base,
        admin=True,  # migrated first; a failed migrate raises with its output
        FEATURE_ANONYMOUS_ACCESS=True,
        FEATURE_SUPERUSERS_FULL_ACCESS=False,  # Quay's default, spelled out: superusers get no repo roles
    )
    with server.start():
        image = build_image(base / "layout", "v1", seed="permission-matrix", payload_size=16 * 1024)
        w = World(server=server, image=image)
        _populate(w)
        try:
            yield w
        finally:
            w.close()


def _populate(w: World) -> None:
    passwords: dict[str, str] = {}
    with httpx.Client(base_url=f"{w.url}/api/v1", auth=ADMIN, timeout=60) as su:
        for name in PEOPLE:
            resp = _ok(su.post("/superuser/users/", json={"username": name, "email": f"{name}@example.test"}), name)
            passwords[name] = resp.json()["password"]
    owner = ("owner1", passwords["owner1"])
    with httpx.Client(base_url=f"{w.url}/api/v1", auth=owner, timeout=60) as api:
        _ok(api.post("/organization/", json={"name": ORG, "email": "acme@example.test"}), "create org acme")
        teams = {
            "lurkers": ("member", "lurker1"),
            "readers": ("member", "teamreader1"),
            "builders": ("creator", "builder1"),
        }
        for team, (role, member) in teams.items():
            _ok(api.put(f"/organization/{ORG}/team/{team}", json={"role": role, "description": ""}), f"team {team}")
            _ok(api.put(f"/organization/{ORG}/team/{team}/members/{member}"), f"{member} joins {team}")
        robot_tokens = {}
        for short in ("ro", "rw"):
            resp = _ok(api.put(f"/organization/{ORG}/robots/{short}", json={"description": short}), f"robot {short}")
            robot_tokens[f"{ORG}+{short}"] = resp.json()["token"]
        for repo, visibility in ((PRIVATE, "private"), (PUBLIC, "public")):
            body = {"namespace": ORG, "repository": repo, "visibility": visibility, "description": "matrix"}
            _ok(api.post("/repository", json=body), f"create {ORG}/{repo}")
            base = f"/repository/{ORG}/{repo}/permissions"
            grants = {
                "reader1": "read",
                "writer1": "write",
                "repoadmin1": "admin",
                f"{ORG}+ro": "read",
                f"{ORG}+rw": "write",
            }
            for who, role in grants.items():
                _ok(api.put(f"{base}/user/{who}", json={"role": role}), f"{who} {role} on {repo}")
            _ok(api.put(f"{base}/team/readers", json={"role": "read"}), f"readers read on {repo}")
    outsider = ("outsider1", passwords["outsider1"])
    with httpx.Client(base_url=f"{w.url}/api/v1", auth=outsider, timeout=60) as api:
        _ok(api.post("/organization/", json={"name": "globex", "email": "globex@example.test"}), "create org globex")
    for principal, account in PRINCIPALS.items():
        if account is None:
            w.creds[principal] = None
        elif account == ADMIN[0]:
            w.creds[principal] = ADMIN
        elif account in robot_tokens:
            w.creds[principal] = (account, robot_tokens[account])
        else:
            w.creds[principal] = (account, passwords[account])
    for repo in (PRIVATE, PUBLIC):
        v2 = w.owner()
        pushed = push_image(v2, f"{ORG}/{repo}", w.image, "v1")
        assert pushed.status_code == 201, f"owner1 pushes {ORG}/{repo}:v1: {pushed.status_code} {pushed.text}"


def assert_outcome(resp: httpx.Response, allowed: bool, what: str, denied_codes: tuple[int, ...] = (401, 403)) -> None:
    if allowed:
        assert resp.is_success, f"{what}: expected 2xx, got {resp.status_code} {resp.text[:200]}"
    else:
        assert resp.status_code in denied_codes, (
            f"{what}: expected {denied_codes}, got {resp.status_code} {resp.text[:200]}"
        )


# --------------------------------------------------------------------------------------------
# /v2: pull, push, delete, create
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("pull"))
def test_pull(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    name = f"{ORG}/{repo}"
    config_digest = json.loads(world.image.manifest)["config"]["digest"]
    v2 = world.v2(principal, name, "pull")
    manifest = v2.get(f"/v2/{name}/manifests/v1", headers={"accept": ACCEPT})
    assert_outcome(manifest, allowed, f"{principal}: GET /v2/{name}/manifests/v1")
    blob = v2.get(f"/v2/{name}/blobs/{config_digest}")
    assert_outcome(blob, allowed, f"{principal}: GET /v2/{name}/blobs/<config>")
    if allowed:
        assert manifest.headers["docker-content-digest"] == world.image.digest
        assert hashlib.sha256(blob.content).hexdigest() == config_digest.split(":", 1)[1]


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("push"))
def test_push(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    name, tag = f"{ORG}/{repo}", f"push-{principal}"
    v2 = world.v2(principal, name, "pull,push")
    resp = push_image(v2, name, world.image, tag)
    assert_outcome(resp, allowed, f"{principal}: push {name}:{tag}")
    owner = world.owner()
    stored = owner.get(f"/v2/{name}/manifests/{tag}", headers={"accept": ACCEPT})
    assert stored.status_code == (200 if allowed else 404), f"{name}:{tag} after the push: {stored.status_code}"


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("delete"))
def test_delete_tag(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    name, tag = f"{ORG}/{repo}", f"del-{principal}"
    owner = world.owner()
    put = owner.put(f"/v2/{name}/manifests/{tag}", content=world.image.manifest, headers={"content-type": OCI_MANIFEST})
    assert put.status_code == 201, f"owner1 tags {name}:{tag}: {put.status_code} {put.text}"
    v2 = world.v2(principal, name, "pull,push")
    resp = v2.delete(f"/v2/{name}/manifests/{tag}")
    assert_outcome(resp, allowed, f"{principal}: DELETE /v2/{name}/manifests/{tag}")
    owner = world.owner()
    after = owner.get(f"/v2/{name}/manifests/{tag}", headers={"accept": ACCEPT})
    kept = owner.get(f"/v2/{name}/manifests/v1", headers={"accept": ACCEPT})
    assert after.status_code == (404 if allowed else 200), f"{name}:{tag} after the DELETE: {after.status_code}"
    assert kept.status_code == 200, "deleting one tag must leave the other tags of the manifest alone"


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("create"))
def test_push_creates_repository(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    name = new_repo(principal)
    v2 = world.v2(principal, name, "pull,push")
    resp = push_image(v2, name, world.image, "v1")
    assert_outcome(resp, allowed, f"{principal}: push to create {name}")
    owner = world.owner()
    shown = owner.get(f"/v2/{name}/manifests/v1", headers={"accept": ACCEPT})
    assert shown.status_code == (200 if allowed else 404), f"{name}:v1 after the push: {shown.status_code} {shown.text}"
    if allowed:  # CREATE_PRIVATE_REPO_ON_PUSH (default true): a repository made by a push is private
        anonymous = world.v2("anonymous", name, "pull")
        assert anonymous.get(f"/v2/{name}/manifests/v1", headers={"accept": ACCEPT}).status_code == 401


# --------------------------------------------------------------------------------------------
# /api/v1: change permissions, change visibility, read logs
# --------------------------------------------------------------------------------------------


def api_denied_codes(principal: str) -> tuple[int, ...]:
    """401 for callers the API does not take as a signed-in user, 403 for users without the role.

    Robots are never signed in to Quay's API (it takes OAuth tokens and browser sessions, neither of
    which a robot has), so a robot's credentials leave the caller anonymous there: 401."""
    return (401,) if principal == "anonymous" or principal.startswith("robot_") else (403,)


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("perms"))
def test_change_permissions(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    path = f"/repository/{ORG}/{repo}/permissions/user/bystander1"
    api = world.api(principal)
    resp = api.put(path, json={"role": "read"})
    assert_outcome(resp, allowed, f"{principal}: PUT {path}", api_denied_codes(principal))
    if allowed:
        assert resp.json()["role"] == "read" and resp.json()["name"] == "bystander1"


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("visib"))
def test_change_visibility(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    # The repository keeps its visibility (the same value is sent back), so no other cell is disturbed.
    visibility = "private" if repo == PRIVATE else "public"
    path = f"/repository/{ORG}/{repo}/changevisibility"
    api = world.api(principal)
    resp = api.post(path, json={"visibility": visibility})
    assert_outcome(resp, allowed, f"{principal}: POST {path}", api_denied_codes(principal))
    anonymous = world.v2("anonymous", f"{ORG}/{repo}", "pull")  # still as it was
    still = anonymous.get(f"/v2/{ORG}/{repo}/manifests/v1", headers={"accept": ACCEPT})
    assert still.status_code == (200 if repo == PUBLIC else 401), f"anonymous pull of {ORG}/{repo}: {still.status_code}"


@pytest.mark.parametrize(("principal", "action", "repo", "allowed"), cases("logs"))
def test_read_logs(world: World, principal: str, action: str, repo: str, allowed: bool) -> None:
    path = f"/repository/{ORG}/{repo}/logs"
    api = world.api(principal)
    resp = api.get(path)
    assert_outcome(resp, allowed, f"{principal}: GET {path}", api_denied_codes(principal))
    if allowed:
        assert isinstance(resp.json()["logs"], list)


# --------------------------------------------------------------------------------------------
# Real clients: podman and skopeo, over plain HTTP (--tls-verify=false)
# --------------------------------------------------------------------------------------------

CLIENT_CASES = [
    # (principal, tool, repo)
    pytest.param("robot_rw", "podman", PRIVATE, id="podman-robot_rw-private1"),
    pytest.param("robot_ro", "podman", PRIVATE, id="podman-robot_ro-private1"),
    pytest.param("repo_reader", "skopeo", PRIVATE, id="skopeo-repo_reader-private1"),
    pytest.param("repo_writer", "skopeo", PUBLIC, id="skopeo-repo_writer-public1"),
    pytest.param("org_member", "podman", PRIVATE, id="podman-org_member-private1"),
    pytest.param("org_member", "skopeo", PUBLIC, id="skopeo-org_member-public1"),
]
DENIED_TEXT = re.compile(r"unauthori[sz]ed|authentication required|denied|insufficient_scope|403|401", re.I)


def podman_digest(cc: ContainersClients, ref: str) -> str:
    return str(json.loads(cc.podman("image", "inspect", "--format", "{{json .Digest}}", ref).stdout))


@pytest.mark.clients
@pytest.mark.parametrize(("principal", "tool", "repo"), CLIENT_CASES)
def test_real_client_pull_push(
    world: World, cc: ContainersClients, tmp_path: Path, principal: str, tool: str, repo: str
) -> None:
    """``TOOL login`` as the principal, then pull v1 and push a new tag; the matrix says which may work."""
    may_pull, may_push = EXPECTED[(principal, "pull", repo)], EXPECTED[(principal, "push", repo)]
    host, name = world.server.host, f"{ORG}/{repo}"
    creds = world.creds[principal]
    assert creds is not None
    run = cc.podman if tool == "podman" else cc.skopeo
    run("login", "--username", creds[0], "--password-stdin", "--tls-verify=false", host, input=creds[1])
    auths = json.loads(cc.authfile.read_text()).get("auths", {})
    assert host in auths, f"{tool} login stored no credentials for {host}"

    src = f"{host}/{name}:v1"
    dest_tag = f"{tool}-{principal}"
    dest = f"{host}/{name}:{dest_tag}"
    if tool == "podman":
        pulled = cc.podman("pull", "--tls-verify=false", src, check=False)
        assert (pulled.returncode == 0) is may_pull, f"podman pull {src} as {principal}:\n{pulled.stderr}"
        if may_pull:
            assert podman_digest(cc, src) == world.image.digest
        else:
            assert DENIED_TEXT.search(pulled.stderr), pulled.stderr
        # Push the image from the local layout (tagged for the destination), as a user would.
        image_id = cc.podman("pull", "--quiet", world.image.ref).stdout.strip().splitlines()[-1]
        cc.podman("tag", image_id, dest)
        digestfile = tmp_path / "pushed.digest"
        pushed = cc.podman("push", "--tls-verify=false", "--digestfile", str(digestfile), dest, check=False)
    else:
        out = tmp_path / "pulled"
        pulled = cc.skopeo("copy", "--src-tls-verify=false", f"docker://{src}", f"oci:{out}:v1", check=False)
        assert (pulled.returncode == 0) is may_pull, f"skopeo copy from {src} as {principal}:\n{pulled.stderr}"
        if not may_pull:
            assert DENIED_TEXT.search(pulled.stderr), pulled.stderr
        digestfile = tmp_path / "pushed.digest"
        pushed = cc.skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--digestfile",
            str(digestfile),
            world.image.ref,
            f"docker://{dest}",
            check=False,
        )
    assert (pushed.returncode == 0) is may_push, f"{tool} push to {dest} as {principal}:\n{pushed.stderr}"
    owner = world.owner()
    stored = owner.get(f"/v2/{name}/manifests/{dest_tag}", headers={"accept": ACCEPT})
    if may_push:
        assert stored.status_code == 200, f"{dest} after a successful push: {stored.status_code}"
        assert stored.headers["docker-content-digest"] == digestfile.read_text().strip()
    else:
        assert DENIED_TEXT.search(pushed.stderr), pushed.stderr
        assert stored.status_code == 404, f"a refused push left {dest} behind: {stored.status_code}"

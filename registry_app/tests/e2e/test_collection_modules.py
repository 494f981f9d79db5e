"""The quay.registry collection's API modules (quay_organization, quay_team, quay_robot,
quay_repository) run by the real ``ansible-playbook`` against a real registry_app over HTTPS.

The playbooks connect with ``module_defaults`` for the action group ``group/quay.registry.quay``,
an API token (``quay_token``) and ``ca_path`` (the test CA); every check is made through the API
(httpx as the superuser), not by trusting what the modules report. The robot's token, returned by
``quay_robot``, is written by the playbook to a 0600 file (the task is ``no_log``) and then proves
itself: ``skopeo copy`` pushes an image to the repository with it (auth file, never argv), and
``/v2/auth`` grants it exactly the role the playbook gave it.

ansible-playbook comes from the collection's tool venv, the one scripts/ansible-venv names
($QUAY_ANSIBLE_VENV, the CI cache's or ./.venv-ansible; scripts/test-collection creates it);
without it the tests skip (fail in CI). The superuser's API token is written straight into the server's database, as in
test_api_orgs.py (Quay mints API tokens through OAuth applications, which this server lacks).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml

from registry_app.db.engine import make_engine
from registry_app.db.identity import IdentityStore
from registry_app.services.identity import ALL_SCOPES, IdentityService
from registry_app.settings import Secrets
from tests.conftest import ADMIN, missing_dependency
from tests.support.bundle import start_https_registry
from tests.support.images import build_image
from tests.support.server import RegistryServer
from tests.support.tls import CertificateAuthority

REPO_ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO_ROOT / "collections"
ORG, TEAM, ROBOT, REPO = "acme", "builders", "acme+deployer", "acme/web"


def trust(server: RegistryServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def ansible_venv() -> Path:
    named = subprocess.run(
        [str(REPO_ROOT / "scripts" / "ansible-venv")], capture_output=True, text=True, check=True
    ).stdout.strip()
    if (Path(named) / "bin" / "ansible-playbook").exists():
        return Path(named)
    missing_dependency(f"no ansible-playbook in {named} (scripts/test-collection creates that venv)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority) -> Iterator[RegistryServer]:
    base = tmp_path_factory.mktemp("collection-modules")
    with start_https_registry(base, test_ca) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin_token(server: RegistryServer) -> str:
    assert server.config_dir is not None
    engine = make_engine(f"sqlite:///{server.config_dir.parent / 'registry.db'}")
    try:
        accounts = IdentityService(IdentityStore(engine), Secrets("unused: API tokens are hashed"))
        user = accounts.store.get(ADMIN[0])
        assert user is not None
        return accounts.create_api_token(user, ALL_SCOPES, "collection-tests")
    finally:
        engine.dispose()


@pytest.fixture
def api(server: RegistryServer, admin_token: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, verify=trust(server), timeout=60) as c:
        yield c


class Playbook:
    """Writes a playbook and runs ansible-playbook on localhost with the JSON callback."""

    def __init__(self, tmp_path: Path, server: RegistryServer, token: str) -> None:
        self.venv = ansible_venv()
        self.dir = tmp_path
        self.vars_file = tmp_path / "connection.json"
        self.vars_file.write_text(json.dumps({"quay_url": server.url, "quay_api_token": token,
                                              "quay_ca": str(server.ca_file)}))
        self.vars_file.chmod(0o600)
        self.runs = 0

    def run(self, tasks: list[dict[str, Any]], *, check: bool = False, extra: dict[str, Any] | None = None,
            defaults: dict[str, Any] | None = None) -> dict[str, Any]:
        self.runs += 1
        play = {
            "name": "quay.registry API modules",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/quay.registry.quay": defaults if defaults is not None else {
                "quay_host": "{{ quay_url }}", "quay_token": "{{ quay_api_token }}", "ca_path": "{{ quay_ca }}"}},
            "tasks": tasks,
        }
        playbook = self.dir / f"play-{self.runs}.yml"
        playbook.write_text(yaml.safe_dump([play], sort_keys=False))
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(self.dir / "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(self.dir / "ansible-tmp"),
            "ANSIBLE_PYTHON_INTERPRETER": str(self.venv / "bin" / "python"),
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_LOCALHOST_WARNING": "False",
        }
        cmd = [str(self.venv / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local", "--diff",
               "-e", f"@{self.vars_file}", str(playbook)]
        if extra:
            extra_file = self.dir / f"extra-{self.runs}.json"
            extra_file.write_text(json.dumps(extra))
            cmd += ["-e", f"@{extra_file}"]
        if check:
            cmd.append("--check")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
        start = proc.stdout.find("{")
        assert start >= 0, f"ansible-playbook printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        out = json.loads(proc.stdout[start:])
        results = {t["task"]["name"]: t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]}
        return {"rc": proc.returncode, "results": results, "stats": out["stats"]["localhost"], "stderr": proc.stderr}


@pytest.fixture
def playbook(tmp_path: Path, server: RegistryServer, admin_token: str) -> Playbook:
    return Playbook(tmp_path, server, admin_token)


def converge_tasks(token_file: Path, *, visibility: str = "private") -> list[dict[str, Any]]:
    return [
        {"name": "organization", "quay.registry.quay_organization": {"name": ORG, "email": "ops@acme.test"}},
        {"name": "robot", "quay.registry.quay_robot": {"name": ROBOT, "description": "deploys web"},
         "register": "robot", "no_log": True},
        {"name": "robot token to a file", "ansible.builtin.copy": {
            "content": "{{ robot.token | default('') }}", "dest": str(token_file), "mode": "0600"},
         "no_log": True, "when": "not ansible_check_mode"},
        {"name": "team", "quay.registry.quay_team": {
            "name": TEAM, "organization": ORG, "role": "creator", "description": "Builds the images",
            "members": [ADMIN[0], ROBOT], "append": False}},
        {"name": "repository", "quay.registry.quay_repository": {
            "name": REPO, "visibility": visibility, "description": "The web frontend", "append": False,
            "permissions": [{"name": ROBOT, "type": "robot", "role": "write"},
                            {"name": TEAM, "type": "team", "role": "read"}]}},
    ]


def absent_tasks() -> list[dict[str, Any]]:
    return [
        {"name": "repository", "quay.registry.quay_repository": {"name": REPO, "state": "absent"}},
        {"name": "team", "quay.registry.quay_team": {"name": TEAM, "organization": ORG, "state": "absent"}},
        {"name": "robot", "quay.registry.quay_robot": {"name": ROBOT, "state": "absent"}},
        {"name": "organization", "quay.registry.quay_organization": {"name": ORG, "state": "absent"}},
    ]


NAMES = ("organization", "robot", "team", "repository")


def changed(run: dict[str, Any]) -> dict[str, bool]:
    assert run["rc"] == 0, json.dumps(run["results"], indent=1)[:6000] + run["stderr"][-3000:]
    return {name: bool(run["results"][name].get("changed")) for name in NAMES}


def snapshot(api: httpx.Client) -> dict[str, Any]:
    """What exists, read through the API."""
    org = api.get(f"/organization/{ORG}")
    if org.status_code == 404:
        return {"organization": None}
    assert org.status_code == 200, org.text
    view: dict[str, Any] = {"organization": {"email": org.json()["email"]}}
    robots = api.get(f"/organization/{ORG}/robots", params={"token": "false"}).json()["robots"]
    view["robots"] = {r["name"]: r["description"] for r in robots}
    team = org.json()["teams"].get(TEAM)
    if team is not None:
        members = api.get(f"/organization/{ORG}/team/{TEAM}/members").json()["members"]
        view["team"] = {"role": team["role"], "description": team["description"],
                        "members": sorted(m["name"] for m in members)}
    repo = api.get(f"/repository/{REPO}")
    if repo.status_code == 200:
        users = api.get(f"/repository/{REPO}/permissions/user/").json()["permissions"]
        teams = api.get(f"/repository/{REPO}/permissions/team/").json()["permissions"]
        view["repository"] = {
            "public": repo.json()["is_public"],
            "description": repo.json()["description"],
            "users": {n: p["role"] for n, p in users.items()},
            "teams": {n: p["role"] for n, p in teams.items()},
        }
    else:
        assert repo.status_code == 404, repo.text
    return view


CONVERGED = {
    "organization": {"email": "ops@acme.test"},
    "robots": {ROBOT: "deploys web"},
    "team": {"role": "creator", "description": "Builds the images", "members": sorted([ADMIN[0], ROBOT])},
    "repository": {"public": False, "description": "The web frontend", "users": {ROBOT: "write"},
                   "teams": {TEAM: "read"}},
}


def robot_grant(server: RegistryServer, robot_token: str, scope: str) -> list[str]:
    r = server.v2_token((ROBOT, robot_token), scope)
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
    return sorted(claims["access"][0]["actions"]) if claims["access"] else []


def skopeo_push(server: RegistryServer, tmp_path: Path, robot_token: str) -> subprocess.CompletedProcess[str]:
    """``skopeo copy`` of a small OCI image into acme/web:1.0, as the robot (auth file, CA dir)."""
    from tests.support.engines import require

    skopeo = require("skopeo")
    image = build_image(tmp_path / "layout", "1.0")
    authfile = tmp_path / "auth.json"
    pair = base64.b64encode(f"{ROBOT}:{robot_token}".encode()).decode()
    authfile.write_text(json.dumps({"auths": {server.host: {"auth": pair}}}))
    authfile.chmod(0o600)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(Path(str(server.ca_file)).read_bytes())
    return subprocess.run(
        [skopeo, "copy", "--dest-authfile", str(authfile), "--dest-cert-dir", str(certs),
         image.ref, f"docker://{server.host}/{REPO}:1.0"],
        capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.clients  # skopeo
def test_check_converge_idempotence_robot_push_absent(
    playbook: Playbook, api: httpx.Client, server: RegistryServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "robot.token"
    assert snapshot(api) == {"organization": None}

    # Check mode on an empty registry: every module reports a change, nothing is made.
    run = playbook.run(converge_tasks(token_file), check=True)
    assert changed(run) == dict.fromkeys(NAMES, True)
    diff = run["results"]["repository"]["diff"]
    assert diff["before"] == {} and diff["after"]["visibility"] == "private", diff
    assert {"name": ROBOT, "type": "robot", "role": "write"} in diff["after"]["permissions"], diff
    assert snapshot(api) == {"organization": None}, "check mode changed the registry"
    assert not token_file.exists()

    # Converge, verified through the API.
    run = playbook.run(converge_tasks(token_file))
    assert changed(run) == dict.fromkeys(NAMES, True)
    assert snapshot(api) == CONVERGED
    robot_token = token_file.read_text()
    assert len(robot_token) >= 32
    assert robot_token not in json.dumps(run["results"]), "the robot task is no_log: its token must not be shown"

    # Second run: nothing changes, and the robot's token is the same one.
    run = playbook.run(converge_tasks(token_file))
    assert changed(run) == dict.fromkeys(NAMES, False)
    assert token_file.read_text() == robot_token
    assert snapshot(api) == CONVERGED

    # Check mode with a change (visibility): reported with its diff, not made.
    run = playbook.run(converge_tasks(token_file, visibility="public"), check=True)
    assert changed(run) == {"organization": False, "robot": False, "team": False, "repository": True}
    diff = run["results"]["repository"]["diff"]
    assert (diff["before"]["visibility"], diff["after"]["visibility"]) == ("private", "public")
    assert snapshot(api) == CONVERGED

    # The robot's token works on the repository, with the role the playbook gave it.
    assert robot_grant(server, robot_token, f"repository:{REPO}:pull,push") == ["pull", "push"]
    # (not acme/other: the robot is in a creator team, so it may create repositories in acme)
    assert robot_grant(server, robot_token, f"repository:{ADMIN[0]}/private:pull,push") == []
    pushed = skopeo_push(server, tmp_path, robot_token)
    assert pushed.returncode == 0, pushed.stderr
    assert robot_token not in pushed.stdout + pushed.stderr
    assert "1.0" in api.get(f"/repository/{REPO}").json()["tags"]

    # state=absent removes everything; the robot's token stops working; a second run changes nothing.
    run = playbook.run(absent_tasks())
    assert changed(run) == dict.fromkeys(NAMES, True)
    assert snapshot(api) == {"organization": None}
    r = server.v2_token((ROBOT, robot_token), f"repository:{REPO}:pull")
    assert r.status_code == 401, r.text
    run = playbook.run(absent_tasks())
    assert changed(run) == {"organization": False, "robot": False, "team": False, "repository": False}


def test_basic_auth_and_error_messages(playbook: Playbook, api: httpx.Client) -> None:
    basic = {"quay_host": "{{ quay_url }}", "quay_username": ADMIN[0], "quay_password": "{{ admin_password }}",
             "ca_path": "{{ quay_ca }}"}
    tasks = [
        {"name": "organization", "quay.registry.quay_organization": {"name": "basicorg"}},
        {"name": "user robot", "quay.registry.quay_robot": {"name": f"{ADMIN[0]}+personal"}, "no_log": True},
        {"name": "unverified TLS", "quay.registry.quay_organization": {
            "name": "basicorg", "ca_path": None, "validate_certs": False}},
    ]
    run = playbook.run(tasks, defaults=basic, extra={"admin_password": ADMIN[1]})
    assert run["rc"] == 0, run
    assert run["results"]["organization"]["changed"] is True
    assert run["results"]["unverified TLS"]["changed"] is False
    assert api.get("/organization/basicorg").status_code == 200
    robots = api.get("/user/robots", params={"token": "false"}).json()["robots"]
    assert f"{ADMIN[0]}+personal" in [r["name"] for r in robots]

    failing = [
        ("wrong token", {"quay.registry.quay_organization": {"name": "x1", "quay_token": "not-a-token"}},
         ["HTTP 401", "check quay_token"]),
        ("no ca_path", {"quay.registry.quay_organization": {"name": "x2", "ca_path": None}},
         ["cannot reach the registry", "ca_path"]),
        ("team of a missing organization", {"quay.registry.quay_team": {"name": "t", "organization": "nosuchorg"}},
         ["organization nosuchorg does not exist"]),
        ("bad robot name", {"quay.registry.quay_robot": {"name": "deployer"}}, ["namespace+shortname"]),
        ("invalid team name", {"quay.registry.quay_team": {"name": "t", "organization": "basicorg"}},
         ["PUT ", "/organization/basicorg/team/t failed: HTTP 400", "Invalid team name t"]),
        ("unknown team member", {"quay.registry.quay_team": {
            "name": "tm", "organization": "basicorg", "members": ["nosuchuser"]}},
         ["cannot add nosuchuser to team tm of basicorg", "Unknown user"]),
        ("permission for an unknown team", {"quay.registry.quay_repository": {
            "name": "basicorg/r", "permissions": [{"name": "ghosts", "type": "team", "role": "read"}]}},
         ["cannot give team ghosts the read role on basicorg/r", "No team ghosts"]),
    ]
    # One playbook, each task allowed to fail (ansible-playbook costs seconds per run here).
    run = playbook.run([{"name": name, "ignore_errors": True, **task} for name, task, _ in failing])
    for name, _, expected in failing:
        result = run["results"][name]
        assert result.get("failed"), f"{name}: {result}"
        for text in expected:
            assert text in result["msg"], f"{name}: {text!r} not in {result['msg']!r}"

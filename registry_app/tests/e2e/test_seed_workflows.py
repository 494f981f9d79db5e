"""The seed posts' flow, end to end with the real tools (shared/seeds/: Quay set up by hand).

A Quay config bundle with ``FEATURE_USER_INITIALIZE: true`` and ``SUPER_USERS: [quayadmin]`` on an
empty database, then, as the posts do it:

1. ``curl -X POST .../api/v1/user/initialize`` creates ``quayadmin`` and returns an access token;
2. with ``Authorization: Bearer <token>`` (curl): organization ``myorg``, private repository
   ``myorg/app``, robot ``myorg+jenkins``, write permission for the robot on the repository;
3. ``podman login -u 'myorg+jenkins' --password-stdin`` with the robot token;
4. ``skopeo copy`` an image into ``myorg/app:1.0`` (skopeo uses podman's auth file);
5. anonymous ``podman pull`` fails while the repository is private; ``POST .../changevisibility``
   ``{"visibility": "public"}`` (curl); after ``podman logout`` the anonymous pull succeeds and
   yields the digest that was pushed.

Plain HTTP, so the clients get ``--tls-verify=false`` (the posts use ``-k``/``--tls-verify=false``).
No HTTPS variant yet (``start_https_registry`` always creates the superuser ``admin``, so
``user/initialize`` would meet a non-empty database; ``bundle_server(..., tls=test_ca)`` in
tests/support/bundle.py, without ``admin``, could serve one).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients, require, run
from tests.support.images import build_image
from tests.support.server import RegistryServer

pytestmark = pytest.mark.clients

SUPERUSER = "quayadmin"
DENIED = re.compile(r"unauthori[sz]ed|authentication required|denied|401|403", re.I)


@pytest.fixture
def initializable_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A server on a config bundle (SQLite, local storage) whose database has no user at all."""
    server = bundle_server(
        tmp_path, FEATURE_USER_INITIALIZE=True, SUPER_USERS=[SUPERUSER], BROWSER_API_CALLS_XHR_ONLY=False
    )  # migrated; a failed migrate raises with its output
    with server.start():
        yield server


def curl(method: str, url: str, *, token: str | None = None, data: Any = None) -> tuple[int, Any]:
    """The real curl: ``curl -sS -X METHOD URL [-H 'Authorization: Bearer ...'] [--data JSON]``.

    Returns the status and the body (parsed when it is JSON)."""
    cmd = [require("curl"), "-sS", "-X", method, url, "--write-out", "\n%{http_code}"]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if data is not None:
        cmd += ["-H", "Content-Type: application/json", "--data", json.dumps(data)]
    out = run(cmd, timeout=60).stdout
    body, _, status = out.rpartition("\n")
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body
    return int(status), parsed


def test_initialize_org_robot_skopeo_public_pull(
    initializable_registry: RegistryServer, cc: ContainersClients, tmp_path: Path
) -> None:
    server = initializable_registry
    api, host = f"{server.url}/api/v1", server.host
    password = secrets.token_urlsafe(16)

    # 1. The first user, with an access token (the posts' curl command, verbatim but for the host).
    status, body = curl(
        "POST",
        f"{api}/user/initialize",
        data={"username": SUPERUSER, "password": password, "email": "quayadmin@example.com", "access_token": True},
    )
    assert status == 200, f"user/initialize: {status} {body}"
    assert body["username"] == SUPERUSER and body.get("access_token"), body
    token = body["access_token"]
    status, again = curl(
        "POST", f"{api}/user/initialize", data={"username": "other", "password": password, "email": "other@example.com"}
    )
    assert status == 400, f"a second user/initialize must be refused (the database is not empty): {status} {again}"
    status, me = curl("GET", f"{api}/user/", token=token)
    assert status == 200 and me["username"] == SUPERUSER, me
    assert me["super_user"] is True, f"{SUPERUSER} is in SUPER_USERS: {me}"

    # 2. Organization, private repository, robot with write permission, all with the Bearer token.
    status, body = curl(
        "POST", f"{api}/organization/", token=token, data={"name": "myorg", "email": "myorg@example.com"}
    )
    assert status == 201, f"create organization: {status} {body}"
    repo = {"namespace": "myorg", "repository": "app", "visibility": "private", "description": "built by jenkins"}
    status, body = curl("POST", f"{api}/repository", token=token, data=repo)
    assert status == 201, f"create repository: {status} {body}"
    assert (body["namespace"], body["name"]) == ("myorg", "app"), body
    status, robot = curl("PUT", f"{api}/organization/myorg/robots/jenkins", token=token, data={"description": "CI"})
    assert status == 201, f"create robot: {status} {robot}"
    assert robot["name"] == "myorg+jenkins" and robot["token"], robot
    status, body = curl(
        "PUT", f"{api}/repository/myorg/app/permissions/user/myorg+jenkins", token=token, data={"role": "write"}
    )
    assert status == 200, f"grant write to the robot: {status} {body}"
    assert (body["name"], body["role"], body["is_robot"]) == ("myorg+jenkins", "write", True), body

    # 3. podman login as the robot, token on stdin.
    cc.podman("login", "-u", "myorg+jenkins", "--password-stdin", "--tls-verify=false", host, input=robot["token"])

    # 4. skopeo copy into myorg/app:1.0 with podman's credentials.
    image = build_image(tmp_path / "layout", "1.0", seed="seed-workflow")
    digestfile = tmp_path / "pushed.digest"
    ref = f"{host}/myorg/app:1.0"
    cc.skopeo("copy", "--dest-tls-verify=false", "--digestfile", str(digestfile), image.ref, f"docker://{ref}")
    pushed = digestfile.read_text().strip()
    assert pushed == image.digest, "skopeo rewrote an OCI manifest it had no reason to"
    status, shown = curl("GET", f"{api}/repository/myorg/app", token=token)
    assert status == 200 and shown["is_public"] is False, shown
    assert shown["tags"]["1.0"]["manifest_digest"] == pushed, shown["tags"]

    # 5. Private: an anonymous pull fails. Public: it works and brings the pushed digest.
    cc.podman("logout", host)
    refused = cc.podman("pull", "--tls-verify=false", ref, check=False)
    assert refused.returncode != 0, f"anonymous pull of a private repository succeeded:\n{refused.stdout}"
    assert DENIED.search(refused.stderr), refused.stderr
    status, body = curl(
        "POST", f"{api}/repository/myorg/app/changevisibility", token=token, data={"visibility": "public"}
    )
    assert status == 200, f"changevisibility: {status} {body}"
    cc.podman("pull", "--tls-verify=false", ref)
    out = cc.podman("image", "inspect", "--format", "{{json .Digest}} {{json .RepoDigests}}", ref).stdout
    digest, repo_digests = (json.loads(part) for part in out.strip().split(" ", 1))
    assert digest == pushed, f"podman pulled {digest}, skopeo pushed {pushed}"
    assert f"{host}/myorg/app@{pushed}" in repo_digests, repo_digests

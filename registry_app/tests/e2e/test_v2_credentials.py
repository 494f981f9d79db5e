"""Credentials that are not a password, on the Docker token endpoint, against the real server.

``$app`` + an app-specific token (made with POST /api/v1/user/apptoken), ``$oauthtoken`` + an API
token (from POST /api/v1/user/initialize on a fresh server) and robot tokens, as docker and skopeo
send them to ``GET /v2/auth``; wrong or revoked ones get 401 at once. Logins are audited
(login_success / login_failure), and no secret ever reaches the server's log output or an audit
entry.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients, require
from tests.support.images import build_image
from tests.support.oci import OCI_MANIFEST, Client, Image, sha256
from tests.support.server import RegistryServer

OWNER = "owner"
OWNER_PASSWORD = "owner-password-" + secrets.token_hex(8)


@pytest.fixture
def registry(shared_registry: RegistryServer) -> RegistryServer:
    return shared_registry


def altered(secret: str) -> str:
    """``secret`` with its last character replaced by a different one (a near miss, never equal)."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def initialize(server: RegistryServer) -> str:
    """POST /api/v1/user/initialize for superuser ``owner``; returns its API token (every scope)."""
    body = {"username": OWNER, "password": OWNER_PASSWORD, "email": "owner@example.test", "access_token": True}
    r = httpx.post(f"{server.url}/api/v1/user/initialize", json=body)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert isinstance(token, str) and len(token) == 40
    return token


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, str]]:
    """A server whose first user came from FEATURE_USER_INITIALIZE, and that user's API token."""
    base = tmp_path_factory.mktemp("initialized")
    with bundle_server(base, FEATURE_USER_INITIALIZE=True, SUPER_USERS=[OWNER]).start() as server:
        yield server, initialize(server)


def granted(response: httpx.Response) -> tuple[str, list[str]]:
    """(subject, actions of the first access entry) of a token answer."""
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return claims["sub"], claims["access"][0]["actions"]


def new_user(server: RegistryServer, admin: tuple[str, str], prefix: str) -> tuple[str, str]:
    name = f"{prefix}{secrets.token_hex(4)}"
    r = httpx.post(f"{server.url}/api/v1/superuser/users/", json={"username": name}, auth=admin)
    assert r.status_code == 200, r.text
    return name, r.json()["password"]


def new_app_token(server: RegistryServer, auth: Any, title: str = "ci") -> dict[str, Any]:
    kwargs = {"headers": {"authorization": f"Bearer {auth}"}} if isinstance(auth, str) else {"auth": auth}
    r = httpx.post(f"{server.url}/api/v1/user/apptoken", json={"title": title}, **kwargs)
    assert r.status_code == 200, r.text
    return dict(r.json()["token"])


def logs(server: RegistryServer, path: str, auth: Any) -> list[dict[str, Any]]:
    kwargs = {"headers": {"authorization": f"Bearer {auth}"}} if isinstance(auth, str) else {"auth": auth}
    out: list[dict[str, Any]] = []
    page: str | None = None
    with httpx.Client(base_url=f"{server.url}/api/v1", **kwargs) as api:
        while True:
            r = api.get(path, params={"next_page": page} if page else {})
            assert r.status_code == 200, r.text
            out += r.json()["logs"]
            page = r.json().get("next_page")
            if not page:
                return out


def push_with_bearer(server: RegistryServer, token: str, repo: str, tag: str = "v1") -> str:
    img = Image.random()
    c = Client(server.url)
    c.http.headers["authorization"] = f"Bearer {token}"
    try:
        assert c.push_image(repo, img, tag).status_code == 201
    finally:
        c.close()
    return sha256(img.manifest())


# -- app-specific tokens ----------------------------------------------------------------------------


def test_app_token_on_the_token_endpoint(registry: RegistryServer) -> None:
    user, password = new_user(registry, ADMIN, "app")
    api = f"{registry.url}/api/v1/user/apptoken"
    made = new_app_token(registry, (user, password), "laptop")
    code = made["token_code"]
    assert len(code) == 60 and made["title"] == "laptop" and made["expiration"] is None
    assert made["last_accessed"] is None and made["created"].endswith("-0000")
    listed = httpx.get(api, auth=(user, password)).json()
    assert [t["uuid"] for t in listed["tokens"]] == [made["uuid"]]
    assert "token_code" not in listed["tokens"][0] and code not in json.dumps(listed)
    assert httpx.get(f"{api}/{made['uuid']}", auth=(user, password)).json()["token"]["token_code"] == code

    scope = f"repository:{user}/app:pull,push"
    sub, actions = granted(registry.v2_token(("$app", code), scope))
    assert sub == user and actions == ["pull", "push"]
    digest = push_with_bearer(registry, registry.v2_token(("$app", code), scope).json()["token"], f"{user}/app")
    # Basic $app straight on /v2 works too
    r = httpx.get(f"{registry.url}/v2/{user}/app/manifests/v1", auth=("$app", code), headers={"accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["docker-content-digest"] == digest

    for wrong in (altered(code), code[:20], "x" * 60, ""):
        assert registry.v2_token(("$app", wrong), scope).status_code == 401
    assert registry.v2_token(("$oauthtoken", code), scope).status_code == 401

    # an app token is for registry clients: it cannot mint or reveal app tokens
    assert httpx.post(api, json={"title": "more"}, auth=("$app", code)).status_code == 401
    assert httpx.get(f"{api}/{made['uuid']}", auth=("$app", code)).status_code == 401
    assert httpx.get(api).status_code == 401
    # nobody else's
    other, other_pw = new_user(registry, ADMIN, "oth")
    assert httpx.get(f"{api}/{made['uuid']}", auth=(other, other_pw)).status_code == 404
    assert httpx.delete(f"{api}/{made['uuid']}", auth=(other, other_pw)).status_code == 404
    assert httpx.get(api, auth=(other, other_pw)).json()["tokens"] == []

    # revoked: refused at once, on the token endpoint and on /v2 directly
    assert httpx.delete(f"{api}/{made['uuid']}", auth=(user, password)).status_code == 204
    assert registry.v2_token(("$app", code), scope).status_code == 401
    r = httpx.get(f"{registry.url}/v2/{user}/app/manifests/v1", auth=("$app", code), headers={"accept": OCI_MANIFEST})
    assert r.status_code == 401
    assert httpx.get(f"{api}/{made['uuid']}", auth=(user, password)).status_code == 404
    assert httpx.delete(f"{api}/{made['uuid']}", auth=(user, password)).status_code == 404

    mine = logs(registry, "/user/logs", (user, password))
    for kind in ("create_app_specific_token", "revoke_app_specific_token"):
        [entry] = [e for e in mine if e["kind"] == kind]
        assert entry["metadata"] == {"app_specific_token_title": "laptop", "app_specific_token": made["uuid"]}
        assert entry["performer"]["name"] == user
    app_logins = [e for e in mine if e["kind"] == "login_success" and e["metadata"].get("kind") == "app"]
    assert len(app_logins) == 2 and app_logins[0]["metadata"] == {"type": "v2auth", "kind": "app", "username": user}
    assert app_logins[0]["ip"] == "127.0.0.1" and app_logins[0]["performer"]["name"] == user
    failures = [e for e in logs(registry, "/superuser/logs", ADMIN)
                if e["kind"] == "login_failure" and e["metadata"].get("username") == "$app"]
    assert len(failures) >= 5 and all(e["metadata"]["type"] == "v2auth" for e in failures)


def test_password_login_is_audited(registry: RegistryServer) -> None:
    user, password = new_user(registry, ADMIN, "pw")
    scope = f"repository:{user}/x:pull"
    assert granted(registry.v2_token((user, password), scope)) == (user, ["pull"])
    assert registry.v2_token((user, password + "x"), scope).status_code == 401
    assert registry.v2_token(None, scope).status_code == 200  # anonymous: no login event
    mine = logs(registry, "/user/logs", (user, password))
    [ok] = [e for e in mine if e["kind"] == "login_success"]
    assert ok["metadata"] == {"type": "v2auth", "kind": "user", "username": user}
    failed = [e for e in logs(registry, "/superuser/logs", ADMIN)
              if e["kind"] == "login_failure" and e["metadata"].get("username") == user]
    assert len(failed) == 1 and failed[0]["metadata"] == {"type": "v2auth", "username": user}


# -- API (OAuth) tokens ----------------------------------------------------------------------------


def test_oauth_token_on_the_token_endpoint(initialized: tuple[RegistryServer, str]) -> None:
    server, api_token = initialized
    scope = f"repository:{OWNER}/viaoauth:pull,push"
    sub, actions = granted(server.v2_token(("$oauthtoken", api_token), scope))
    assert sub == OWNER and actions == ["pull", "push"]
    push_with_bearer(server, server.v2_token(("$oauthtoken", api_token), scope).json()["token"],
                     f"{OWNER}/viaoauth")
    wrong = altered(api_token)
    for bad in (wrong, api_token[:20], "", "not-a-token"):
        assert server.v2_token(("$oauthtoken", bad), scope).status_code == 401
    assert server.v2_token(("$app", api_token), scope).status_code == 401
    # the same token on the API (Bearer) with user:admin manages app tokens
    made = new_app_token(server, api_token, "from-oauth")
    assert granted(server.v2_token(("$app", made["token_code"]), scope)) == (OWNER, ["pull", "push"])
    oauth_logins = [e for e in logs(server, "/user/logs", api_token)
                    if e["kind"] == "login_success" and e["metadata"]["kind"] == "oauth"]
    assert oauth_logins and oauth_logins[0]["metadata"]["username"] == OWNER


def test_robot_token_on_the_token_endpoint(initialized: tuple[RegistryServer, str]) -> None:
    server, api_token = initialized
    robot = create_robot(server, api_token, "builder")
    name, token = robot
    scope = f"repository:{OWNER}/robotrepo:pull"
    assert server.v2_token((name, token), scope).status_code == 200
    assert server.v2_token((name, altered(token)), scope).status_code == 401
    logins = [e for e in logs(server, "/user/logs", api_token)
              if e["kind"] == "login_success" and e["metadata"]["kind"] == "robot"]
    assert logins and logins[0]["performer"]["is_robot"] is True and logins[0]["performer"]["name"] == name


def create_robot(server: RegistryServer, api_token: str, short: str) -> tuple[str, str]:
    """PUT /api/v1/user/robots/SHORT (another module); skips while that API does not exist."""
    r = httpx.put(f"{server.url}/api/v1/user/robots/{short}", json={"description": "test"},
                  headers={"authorization": f"Bearer {api_token}"})
    if r.status_code in (404, 405):
        pytest.skip("the robots API (PUT /api/v1/user/robots/{short}) is not there yet")
    assert r.status_code in (200, 201), r.text
    body = r.json()
    return body["name"], body["token"]


# -- what real clients send -------------------------------------------------------------------------



def test_account_parameter_as_docker_sends_it(initialized: tuple[RegistryServer, str]) -> None:
    server, api_token = initialized
    scope = f"repository:{OWNER}/acct:pull,push"
    assert granted(server.v2_token((OWNER, OWNER_PASSWORD), scope, account=OWNER))[0] == OWNER
    code = new_app_token(server, api_token, "acct")["token_code"]
    assert granted(server.v2_token(("$app", code), scope, account="$app")) == (OWNER, ["pull", "push"])
    assert granted(server.v2_token(("$oauthtoken", api_token), scope, account="$oauthtoken"))[0] == OWNER
    # an account that is neither the username sent nor its owner is still refused
    assert server.v2_token((OWNER, OWNER_PASSWORD), scope, account="someone-else").status_code == 401


def test_skopeo_login_and_copy_with_app_token(registry: RegistryServer, tmp_path: Path) -> None:
    require("skopeo")
    user, password = new_user(registry, ADMIN, "sko")
    code = new_app_token(registry, (user, password), "skopeo")["token_code"]
    with ContainersClients(tmp_path / "containers") as cc:
        img = build_image(tmp_path / "layout", "v1", seed=f"app-token-{user}")
        cc.skopeo("login", "--username", "$app", "--password-stdin", "--tls-verify=false", registry.host, input=code)
        dest = f"docker://{registry.host}/{user}/skopeo:v1"
        cc.skopeo("copy", "--dest-tls-verify=false", img.ref, dest)
        raw = cc.skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout.encode()
        assert sha256(raw) == img.digest
        pushed = [e for e in logs(registry, f"/repository/{user}/skopeo/logs", (user, password))
                  if e["kind"] == "push_repo"]
        assert len(pushed) == 1 and pushed[0]["performer"]["name"] == user
        assert pushed[0]["metadata"]["manifest_digest"] == img.digest
        # once revoked, the stored login no longer works
        uuid = httpx.get(f"{registry.url}/api/v1/user/apptoken", auth=(user, password)).json()["tokens"][0]["uuid"]
        assert httpx.delete(f"{registry.url}/api/v1/user/apptoken/{uuid}", auth=(user, password)).status_code == 204
        res = cc.skopeo("inspect", "--raw", "--tls-verify=false", dest, check=False)
        assert res.returncode != 0 and ("unauthorized" in res.stderr.lower() or "401" in res.stderr)


# -- no secret in logs ----------------------------------------------------------------------------


def test_no_secret_in_server_output_or_audit_log(tmp_path: Path) -> None:
    """Every kind of credential is used (right and wrong); none appears in the server's output or
    in any audit entry."""
    server = bundle_server(tmp_path, FEATURE_USER_INITIALIZE=True, SUPER_USERS=[OWNER]).start()
    secrets_used: dict[str, str] = {"owner password": OWNER_PASSWORD}
    try:
        api_token = initialize(server)
        secrets_used["API token"] = api_token
        admin = (OWNER, OWNER_PASSWORD)
        wrong_password = "wrong-password-" + secrets.token_hex(8)
        secrets_used["wrong password"] = wrong_password
        scope = f"repository:{OWNER}/s:pull,push"

        # passwords: right and wrong, on /v2/auth, /v2 and the API
        registry_jwt = server.v2_token(admin, scope).json()["token"]
        secrets_used["registry JWT"] = registry_jwt
        push_with_bearer(server, registry_jwt, f"{OWNER}/s")
        assert server.v2_token((OWNER, wrong_password), scope).status_code == 401
        assert httpx.get(f"{server.url}/api/v1/user/", auth=(OWNER, wrong_password)).status_code == 401
        assert httpx.get(f"{server.url}/v2/", auth=(OWNER, wrong_password)).status_code == 401

        # API token: Bearer on the API, $oauthtoken on /v2/auth, and a wrong one
        assert httpx.get(f"{server.url}/api/v1/user/", headers={"authorization": f"Bearer {api_token}"}).is_success
        assert server.v2_token(("$oauthtoken", api_token), scope).status_code == 200
        bad_api_token = altered(api_token)
        secrets_used["wrong API token"] = bad_api_token
        assert httpx.get(f"{server.url}/api/v1/user/",
                         headers={"authorization": f"Bearer {bad_api_token}"}).status_code == 401
        assert server.v2_token(("$oauthtoken", bad_api_token), scope).status_code == 401

        # a user made by the superuser, its generated password, a changed password
        user, generated = new_user(server, admin, "sec")
        secrets_used["generated password"] = generated
        changed = "changed-password-" + secrets.token_hex(8)
        secrets_used["changed password"] = changed
        r = httpx.put(f"{server.url}/api/v1/superuser/users/{user}", json={"password": changed}, auth=admin)
        assert r.status_code == 200
        c = Client(server.url, auth=(user, changed))
        assert c.push_image(f"{user}/p", Image.random(), "v1").status_code == 201
        c.close()

        # app token: made, shown, used, revoked, used again
        made = new_app_token(server, (user, changed), "sec")
        app_code = made["token_code"]
        secrets_used["app token"] = app_code
        assert httpx.get(f"{server.url}/api/v1/user/apptoken/{made['uuid']}", auth=(user, changed)).is_success
        assert server.v2_token(("$app", app_code), f"repository:{user}/p:pull").status_code == 200
        c = Client(server.url, auth=("$app", app_code))
        assert c.push_image(f"{user}/p", Image.random(), "v2").status_code == 201
        c.close()
        assert httpx.delete(f"{server.url}/api/v1/user/apptoken/{made['uuid']}", auth=(user, changed)).is_success
        assert server.v2_token(("$app", app_code), f"repository:{user}/p:pull").status_code == 401

        # robot token, when the robots API exists
        r = httpx.put(f"{server.url}/api/v1/user/robots/sec", json={}, headers={"authorization": f"Bearer {api_token}"})
        if r.status_code in (200, 201):
            robot_name, robot_token = r.json()["name"], r.json()["token"]
            secrets_used["robot token"] = robot_token
            assert server.v2_token((robot_name, robot_token), scope).status_code == 200
            assert server.v2_token((robot_name, altered(robot_token)), scope).status_code == 401
        else:
            assert r.status_code in (404, 405), r.text  # only a missing robots API excuses this part

        entries = logs(server, "/superuser/logs", api_token)
        kinds = {e["kind"] for e in entries}
        assert {"login_success", "login_failure", "push_repo", "user_create", "user_change_password",
                "create_app_specific_token", "revoke_app_specific_token"} <= kinds
    finally:
        server.stop()
    output = server.log()
    assert '"GET /v2/auth"' in output or "/v2/auth" in output, "the server log has no access lines to check"
    for what, secret in secrets_used.items():
        assert secret not in output, f"the {what} appears in the server's output"
        for entry in entries:
            assert secret not in json.dumps(entry), f"the {what} appears in an audit entry: {entry}"

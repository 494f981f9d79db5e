"""Registry tokens follow the account, against the real server (issue 9, item 2).

A token from ``GET /v2/auth`` is good for an hour, but it stops working the moment what it was
issued for changes: its user is deleted or disabled or changes their password, its app-specific
token is revoked, its robot's token is regenerated. A deleted user's token never re-creates their
namespace. Superusers see and delete organizations that have no owner left
(``/api/v1/superuser/organizations/``, Quay's shapes). Tokens are checked for this registry's
audience (SERVER_HOSTNAME; the Host the client used on the embedded default) and issuer, and a
token without ``exp`` is refused with 401, not 500.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.oci import OCI_MANIFEST, Client, Image, error_code
from tests.support.server import RegistryServer

SECRET_KEY = "account-tokens-" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A config bundle (SQLite) with a known SECRET_KEY, so that tests can sign tokens as it does."""
    base = tmp_path_factory.mktemp("account-tokens")
    with bundle_server(base, admin=True, SECRET_KEY=SECRET_KEY).start() as srv:
        yield srv


def new_user(server: RegistryServer, prefix: str) -> tuple[str, str]:
    name = f"{prefix}{secrets.token_hex(4)}"
    r = httpx.post(f"{server.url}/api/v1/superuser/users/", json={"username": name}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return name, r.json()["password"]


def token(server: RegistryServer, auth: tuple[str, str] | None, repo: str, service: str | None = None) -> str:
    r = httpx.get(
        f"{server.url}/v2/auth",
        params={"service": service or server.host, "scope": f"repository:{repo}:pull,push"},
        auth=auth,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@contextmanager
def bearer(server: RegistryServer, tok: str) -> Iterator[Client]:
    c = Client(server.url)
    c.http.headers["authorization"] = f"Bearer {tok}"
    try:
        yield c
    finally:
        c.close()


def pull(server: RegistryServer, tok: str, repo: str, ref: str = "v1") -> httpx.Response:
    return httpx.get(
        f"{server.url}/v2/{repo}/manifests/{ref}",
        headers={"authorization": f"Bearer {tok}", "accept": OCI_MANIFEST},
    )


def start_push(server: RegistryServer, tok: str, repo: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/{repo}/blobs/uploads/", headers={"authorization": f"Bearer {tok}"})


def superuser(server: RegistryServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/v1/superuser/{path}", auth=ADMIN, **kwargs)


def org_names(server: RegistryServer) -> list[str]:
    r = superuser(server, "GET", "organizations/")
    assert r.status_code == 200, r.text
    return [o["name"] for o in r.json()["organizations"]]


def test_deleted_users_token_stops_and_never_recreates_the_namespace(server: RegistryServer) -> None:
    user, password = new_user(server, "gone")
    tok = token(server, (user, password), f"{user}/app")
    with bearer(server, tok) as c:
        assert c.push_image(f"{user}/app", Image.random(), "v1").status_code == 201
    assert pull(server, tok, f"{user}/app").status_code == 200

    assert superuser(server, "DELETE", f"users/{user}").status_code == 204
    for r in (pull(server, tok, f"{user}/app"), start_push(server, tok, f"{user}/app")):
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED", r.text
        assert r.headers["www-authenticate"].startswith("Bearer realm=")
    with bearer(server, tok) as c:
        r = c.put_manifest(f"{user}/other", "v1", Image.random().manifest())
        assert r.status_code == 401, r.text
    # nothing was created in the deleted user's name: no organization, and the name is free again
    assert user not in org_names(server)
    r = superuser(server, "GET", f"users/{user}")
    assert r.status_code == 404, r.text
    r = superuser(server, "POST", "users/", json={"username": user})
    assert r.status_code == 200, r.text
    # the new account of that name is not the old one: the old token does not work for it either
    assert pull(server, tok, f"{user}/app").status_code == 401


def test_disabled_users_token_stops_until_enabled(server: RegistryServer) -> None:
    user, password = new_user(server, "off")
    tok = token(server, (user, password), f"{user}/app")
    with bearer(server, tok) as c:
        assert c.push_image(f"{user}/app", Image.random(), "v1").status_code == 201
    assert superuser(server, "PUT", f"users/{user}", json={"enabled": False}).status_code == 200
    assert pull(server, tok, f"{user}/app").status_code == 401
    assert start_push(server, tok, f"{user}/app").status_code == 401
    # Basic credentials of a disabled user fail at once as well, on /v2/auth and on /v2
    assert httpx.get(f"{server.url}/v2/auth", auth=(user, password)).status_code == 401
    assert httpx.get(f"{server.url}/v2/{user}/app/tags/list", auth=(user, password)).status_code == 401
    assert superuser(server, "PUT", f"users/{user}", json={"enabled": True}).status_code == 200
    assert pull(server, tok, f"{user}/app").status_code == 200


def test_password_change_ends_the_tokens_issued_before(server: RegistryServer) -> None:
    user, password = new_user(server, "pw")
    tok = token(server, (user, password), f"{user}/app")
    with bearer(server, tok) as c:
        assert c.push_image(f"{user}/app", Image.random(), "v1").status_code == 201
    new_password = "changed-" + secrets.token_hex(8)
    r = superuser(server, "PUT", f"users/{user}", json={"password": new_password})
    assert r.status_code == 200, r.text
    assert pull(server, tok, f"{user}/app").status_code == 401
    assert httpx.get(f"{server.url}/v2/auth", auth=(user, password)).status_code == 401
    assert pull(server, token(server, (user, new_password), f"{user}/app"), f"{user}/app").status_code == 200


def test_revoked_app_tokens_registry_token_stops(server: RegistryServer) -> None:
    user, password = new_user(server, "app")
    made = [
        httpx.post(f"{server.url}/api/v1/user/apptoken", json={"title": t}, auth=(user, password)).json()["token"]
        for t in ("laptop", "ci")
    ]
    laptop, ci = (token(server, ("$app", m["token_code"]), f"{user}/app") for m in made)
    with bearer(server, laptop) as c:
        assert c.push_image(f"{user}/app", Image.random(), "v1").status_code == 201
    r = httpx.delete(f"{server.url}/api/v1/user/apptoken/{made[0]['uuid']}", auth=(user, password))
    assert r.status_code == 204
    assert pull(server, laptop, f"{user}/app").status_code == 401
    assert start_push(server, laptop, f"{user}/app").status_code == 401
    # the user's other app token, and the user's own password, are not affected
    assert pull(server, ci, f"{user}/app").status_code == 200
    assert pull(server, token(server, (user, password), f"{user}/app"), f"{user}/app").status_code == 200


def test_superuser_sees_and_deletes_ownerless_organizations(server: RegistryServer) -> None:
    owner, password = new_user(server, "founder")
    org = f"orphan{secrets.token_hex(3)}"
    r = httpx.post(f"{server.url}/api/v1/organization/", json={"name": org}, auth=(owner, password))
    assert r.status_code == 201, r.text
    tok = token(server, (owner, password), f"{org}/app")
    with bearer(server, tok) as c:
        assert c.push_image(f"{org}/app", Image.random(), "v1").status_code == 201
    # its only owner is deleted: the organization stays, with nobody to administer it
    assert superuser(server, "DELETE", f"users/{owner}").status_code == 204
    r = superuser(server, "GET", "organizations/")
    assert r.status_code == 200, r.text
    [entry] = [o for o in r.json()["organizations"] if o["name"] == org]
    assert set(entry) == {"name", "email", "avatar"} and entry["avatar"]["name"] == org
    # paginated as Quay does with ?limit= (next_page while there is more)
    seen: list[str] = []
    page: str | None = None
    while True:
        r = superuser(server, "GET", "organizations/", params={"limit": 1, **({"next_page": page} if page else {})})
        assert r.status_code == 200, r.text
        assert len(r.json()["organizations"]) <= 1
        seen += [o["name"] for o in r.json()["organizations"]]
        page = r.json().get("next_page")
        if not page:
            break
    assert seen == org_names(server)
    assert superuser(server, "GET", "organizations/", params={"limit": 101}).status_code == 400

    assert superuser(server, "DELETE", f"organizations/{org}").status_code == 204
    assert org not in org_names(server)
    assert superuser(server, "DELETE", f"organizations/{org}").status_code == 404
    assert superuser(server, "DELETE", "organizations/admin").status_code == 404  # a user, not an organization
    # the name is free for a new user, who finds nothing of the organization's in it
    r = superuser(server, "POST", "users/", json={"username": org})
    assert r.status_code == 200, r.text
    r = httpx.get(f"{server.url}/v2/{org}/app/tags/list", auth=(org, r.json()["password"]))
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN", r.text
    # not for anyone else
    someone, pw = new_user(server, "nosy")
    assert httpx.get(f"{server.url}/api/v1/superuser/organizations/", auth=(someone, pw)).status_code == 403
    assert httpx.delete(f"{server.url}/api/v1/superuser/organizations/{org}", auth=(someone, pw)).status_code == 403
    assert httpx.get(f"{server.url}/api/v1/superuser/organizations/").status_code == 401


def _key() -> bytes:
    return hashlib.sha256(b"registry-app docker token v1\0" + SECRET_KEY.encode()).digest()


def forged(server: RegistryServer, **changes: Any) -> str:
    """A token signed with this deployment's key, as /v2/auth issues it for admin, with ``changes``
    (None removes a claim): what someone who has the key, or a bug, could produce; none may get a 500."""
    issued = jwt.decode(token(server, ADMIN, "admin/forged"), options={"verify_signature": False})
    issued.update(changes)
    return jwt.encode({k: v for k, v in issued.items() if v is not None}, _key(), algorithm="HS256")


def robot_context(server: RegistryServer) -> dict[str, Any]:
    issued = jwt.decode(token(server, ADMIN, "admin/forged"), options={"verify_signature": False})
    return {**issued["context"], "kind": "robot"}


def test_audience_issuer_and_expiry_are_checked(server: RegistryServer) -> None:
    with closing(Client(server.url, auth=ADMIN)) as c:
        assert c.push_image("admin/forged", Image.random(), "v1").status_code == 201
    assert pull(server, forged(server), "admin/forged").status_code == 200  # the signing is right
    refused = {
        "another audience": forged(server, aud="other-registry.example"),
        "no audience": forged(server, aud=None),
        "another issuer": forged(server, iss="someone-else"),
        "no issuer": forged(server, iss=None),
        "no expiry": forged(server, exp=None),
        "expired": forged(server, exp=int(time.time()) - 3600),
        "audience not a string": forged(server, aud=5),
        "context not an object": forged(server, context="admin"),
        "access not a list": forged(server, access="everything"),
        "unknown kind of account": forged(server, context={"kind": "martian", "user": "admin"}),
        "a user's credential named as a robot's": forged(server, context=robot_context(server)),
        "no credential named": forged(server, context={"kind": "user", "user": "admin", "user_id": 1}),
    }
    for why, tok in refused.items():
        r = pull(server, tok, "admin/forged")
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED", (why, r.status_code, r.text)
    # a token the token endpoint issued for another service is not good here
    elsewhere = token(server, ADMIN, "admin/forged", service="other-registry.example")
    assert pull(server, elsewhere, "admin/forged").status_code == 401
    assert "ERROR" not in server.log()


def test_embedded_default_takes_the_host_the_client_used(tmp_path: Path) -> None:
    """On the embedded default the challenge names the Host as the service; a token for it (and for
    SERVER_HOSTNAME) works, one for any other service does not."""
    srv = RegistryServer(data_dir=tmp_path / "data")
    srv.create_user(*ADMIN, superuser=True)
    with srv.start():
        with closing(Client(srv.url, auth=ADMIN)) as c:
            assert c.push_image("admin/e", Image.random(), "v1").status_code == 201
        challenge = httpx.get(f"{srv.url}/v2/").headers["www-authenticate"]
        assert f'service="{srv.host}"' in challenge
        for service in (srv.host, f"localhost:{srv.port}"):
            assert pull(srv, token(srv, ADMIN, "admin/e", service=service), "admin/e").status_code == 200
        assert pull(srv, token(srv, ADMIN, "admin/e", service="elsewhere:5000"), "admin/e").status_code == 401


@pytest.mark.postgres
def test_on_postgresql_tokens_follow_the_account(tmp_path: Path, pg_database: str) -> None:
    """PostgreSQL has no change counter: with REGISTRY_APP_ACCOUNT_CACHE_SECONDS 0 a change is seen
    at once; with the default (5 s) a worker trusts what it read that long, so the token stops
    soon after (waited for here, not timed)."""
    for cache_seconds in (0, None):
        srv = bundle_server(
            tmp_path / f"pg-{cache_seconds}",
            admin=True,
            DB_URI=pg_database,
            REGISTRY_APP_ACCOUNT_CACHE_SECONDS=cache_seconds,
        )
        with srv.start():
            user, password = new_user(srv, f"pg{cache_seconds or 'd'}")
            tok = token(srv, (user, password), f"{user}/app")
            with bearer(srv, tok) as c:
                assert c.push_image(f"{user}/app", Image.random(), "v1").status_code == 201
            assert superuser(srv, "PUT", f"users/{user}", json={"enabled": False}).status_code == 200
            # Basic credentials are re-read on every request on PostgreSQL
            assert httpx.get(f"{srv.url}/v2/auth", auth=(user, password)).status_code == 401
            if cache_seconds == 0:
                assert pull(srv, tok, f"{user}/app").status_code == 401
                assert superuser(srv, "DELETE", f"users/{user}").status_code == 204
                assert start_push(srv, tok, f"{user}/other").status_code == 401
                assert user not in org_names(srv)
            else:
                deadline = time.monotonic() + 60
                while pull(srv, tok, f"{user}/app").status_code == 200 and time.monotonic() < deadline:
                    time.sleep(0.5)
                assert pull(srv, tok, f"{user}/app").status_code == 401

"""``GET /v2/_catalog`` with the clients that list repositories: oras and regctl (issue 9, item 9).

These clients send credentials only after a 401, so an anonymous catalog request is challenged as
distribution does with token auth (``WWW-Authenticate: Bearer realm=...,service=...,
scope="registry:catalog:*"``), and a bearer token must grant ``registry:catalog:*``. With
``FEATURE_PUBLIC_CATALOG`` (Quay's key) the catalog also lists public repositories, to anonymous
callers (when FEATURE_ANONYMOUS_ACCESS is on) as to signed-in ones; without it a signed-in caller
sees the repositories they hold a role on, as in Quay.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server
from tests.support.goclients import GoClient, go_tool
from tests.support.oci import Client, Image, error_code
from tests.support.server import RegistryServer

VIEWER = ("viewer", "viewer-password-" + secrets.token_hex(6))
ADMIN_REPOS = ["admin/alpha", "admin/beta", "admin/pub"]


def populate(srv: RegistryServer) -> RegistryServer:
    """admin/alpha and admin/beta (private), admin/pub (public), viewer/own (private)."""
    srv.create_user(*VIEWER)
    for auth, repo in ((ADMIN, "admin/alpha"), (ADMIN, "admin/beta"), (ADMIN, "admin/pub"), (VIEWER, "viewer/own")):
        c = Client(srv.url, auth=auth)
        try:
            assert c.push_image(repo, Image.random(), "v1").status_code == 201
        finally:
            c.close()
    srv.cli("repo", "visibility", "admin/pub", "public")
    return srv


def started(base: Path, **config: Any) -> Iterator[RegistryServer]:
    with bundle_server(base, admin=True, **config).start() as srv:
        yield populate(srv)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """The default: FEATURE_PUBLIC_CATALOG off (anonymous access to public repositories on)."""
    yield from started(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from started(tmp_path_factory.mktemp("catalog-public"), FEATURE_PUBLIC_CATALOG=True)


def oras(tmp_path: Path) -> GoClient:
    return GoClient(go_tool("oras"), tmp_path / "oras-home")


def regctl(tmp_path: Path, srv: RegistryServer, auth: tuple[str, str] | None) -> GoClient:
    """regctl configured for plain HTTP to ``srv`` and, with ``auth``, logged in (password on stdin)."""
    client = GoClient(go_tool("regctl"), tmp_path / f"regctl-home-{auth[0] if auth else 'anonymous'}")
    client.run("registry", "set", srv.host, "--tls", "disabled", "--skip-check")
    if auth:
        client.run("registry", "login", srv.host, "-u", auth[0], "--pass-stdin", stdin=auth[1])
    return client


def oras_ls(tmp_path: Path, srv: RegistryServer, auth: tuple[str, str] | None) -> list[str]:
    creds = ["-u", auth[0], "--password-stdin"] if auth else []
    out = oras(tmp_path).run("repo", "ls", srv.host, "--plain-http", *creds, stdin=auth[1] if auth else None)
    return out.split()


def regctl_ls(tmp_path: Path, srv: RegistryServer, auth: tuple[str, str] | None) -> list[str]:
    return regctl(tmp_path, srv, auth).run("repo", "ls", srv.host).split()


def catalog_token(srv: RegistryServer, auth: tuple[str, str] | None, scope: str = "registry:catalog:*") -> str:
    r = httpx.get(f"{srv.url}/v2/auth", params={"service": srv.host, "scope": scope}, auth=auth)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def test_anonymous_catalog_is_challenged_with_the_catalog_scope(server: RegistryServer) -> None:
    r = httpx.get(f"{server.url}/v2/_catalog")
    assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED", r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="http://{server.host}/v2/auth"'), challenge
    assert f'service="{server.host}"' in challenge and 'scope="registry:catalog:*"' in challenge
    # the token flow the clients follow: a token for the catalog scope, then the request with it
    tok = catalog_token(server, ADMIN)
    r = httpx.get(f"{server.url}/v2/_catalog", headers={"authorization": f"Bearer {tok}"})
    assert r.status_code == 200 and r.json()["repositories"] == ADMIN_REPOS, r.text
    # an anonymous token grants no catalog; a token for a repository is not one for the catalog
    for tok in (catalog_token(server, None), catalog_token(server, ADMIN, "repository:admin/alpha:pull")):
        r = httpx.get(f"{server.url}/v2/_catalog", headers={"authorization": f"Bearer {tok}"})
        assert r.status_code == 401, r.text
        assert 'scope="registry:catalog:*"' in r.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    # Basic credentials list what the account holds a role on; others' public repositories only
    # with FEATURE_PUBLIC_CATALOG
    assert httpx.get(f"{server.url}/v2/_catalog", auth=VIEWER).json()["repositories"] == ["viewer/own"]


def test_oras_repo_ls(server: RegistryServer, tmp_path: Path) -> None:
    assert oras_ls(tmp_path, server, ADMIN) == ADMIN_REPOS
    assert oras_ls(tmp_path, server, VIEWER) == ["viewer/own"]


def test_regctl_repo_ls(server: RegistryServer, tmp_path: Path) -> None:
    assert regctl_ls(tmp_path, server, ADMIN) == ADMIN_REPOS
    assert regctl_ls(tmp_path, server, VIEWER) == ["viewer/own"]


def test_public_catalog_lists_public_repositories_to_anyone(public_server: RegistryServer, tmp_path: Path) -> None:
    r = httpx.get(f"{public_server.url}/v2/_catalog")
    assert r.status_code == 200 and r.json()["repositories"] == ["admin/pub"], r.text
    assert oras_ls(tmp_path, public_server, None) == ["admin/pub"]
    assert regctl_ls(tmp_path, public_server, None) == ["admin/pub"]
    # A client that sends credentials up front sees its own repositories besides the public ones.
    # (oras and regctl send them only after a 401, which this catalog does not answer anonymous
    # requests with: logged in, they still list what anyone sees. docs/security.md says so.)
    r = httpx.get(f"{public_server.url}/v2/_catalog", auth=VIEWER)
    assert r.json()["repositories"] == ["admin/pub", "viewer/own"], r.text
    tok = catalog_token(public_server, VIEWER)
    r = httpx.get(f"{public_server.url}/v2/_catalog", headers={"authorization": f"Bearer {tok}"})
    assert r.json()["repositories"] == ["admin/pub", "viewer/own"], r.text


def test_public_catalog_without_anonymous_access_still_challenges(tmp_path: Path) -> None:
    srv = bundle_server(tmp_path, admin=True, FEATURE_PUBLIC_CATALOG=True, FEATURE_ANONYMOUS_ACCESS=False)
    with srv.start():
        r = httpx.get(f"{srv.url}/v2/_catalog")
        assert r.status_code == 401 and 'scope="registry:catalog:*"' in r.headers["www-authenticate"]
        assert httpx.get(f"{srv.url}/v2/_catalog", auth=ADMIN).json()["repositories"] == []

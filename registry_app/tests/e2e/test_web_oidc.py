"""OpenID Connect sign-in in a real browser against a real provider: ory/hydra v2 over HTTPS (test
CA, trusted by the registry through the bundle's ``extra_ca_certs/``), configured the Quay way
(``HYDRA_LOGIN_CONFIG`` with OIDC_SERVER, CLIENT_ID, CLIENT_SECRET, SERVICE_NAME, USE_PKCE).

1. "Sign in with Test SSO" on the sign-in page goes to hydra, whose login application (the
   test's, tests/support/hydra.py) takes a username and password; the browser comes back signed in
   and the account exists, named from ``preferred_username``, linked to the provider's ``sub``;
2. signing in again finds the same account; another person whose ``preferred_username`` is taken
   gets a free name;
3. an API token made in the UI logs podman in as ``$oauthtoken`` and podman pushes with it;
4. a refused sign-in, and a callback whose state was not issued here, come back to the sign-in
   page with a readable message and no session.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import ADMIN, missing_dependency
from tests.e2e.test_web_ui import expect, expect_no_violations, run_shown_line
from tests.support.browser import AXE, chromium, new_page
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients
from tests.support.hydra import Hydra, LoginApp, Person, hydra_binary
from tests.support.images import build_image
from tests.support.server import RegistryServer
from tests.support.tls import CertificateAuthority

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.clients

PEOPLE = {
    "alice": Person(
        secrets.token_urlsafe(12),
        "f3c9a2e0-alice",
        {"preferred_username": "alice", "email": "alice@example.com", "email_verified": True},
    ),
    "carol": Person(
        secrets.token_urlsafe(12),
        "77b1d0c4-carol",
        {"preferred_username": "Alice", "email": "carol@example.com", "email_verified": True},
    ),
}


class Idp:
    def __init__(self, registry: RegistryServer, hydra: Hydra) -> None:
        self.registry = registry
        self.hydra = hydra


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority) -> Iterator[Idp]:
    if not AXE.is_file():  # the tests build on test_1, which checks accessibility
        missing_dependency(f"axe-core is not installed ({AXE}): run scripts/build-ui")
    binary = hydra_binary()
    if binary is None:
        missing_dependency("no hydra binary (scripts/build-go-tools builds it; or set HYDRA_BIN)")
    base = tmp_path_factory.mktemp("oidc")
    login = LoginApp(admin_url="", context=None)  # type: ignore[arg-type]
    hydra = Hydra(binary, base / "hydra", test_ca, login.url)
    login.admin_url, login.context, login.people = hydra.admin_url, hydra.context, PEOPLE
    login.start()
    try:
        hydra.start()
        client_id, client_secret = f"registry-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        registry = bundle_server(
            base,
            admin=True,
            HYDRA_LOGIN_CONFIG={
                "OIDC_SERVER": hydra.issuer,
                "CLIENT_ID": client_id,
                "CLIENT_SECRET": client_secret,
                "SERVICE_NAME": "Test SSO",
                "USE_PKCE": True,
                "LOGIN_SCOPES": ["openid", "profile", "email"],
            },
        )
        hydra.create_client(client_id, client_secret, f"{registry.url}/oauth2/hydra/callback")
        assert registry.config_dir is not None
        (registry.config_dir / "extra_ca_certs").mkdir()
        shutil.copy(test_ca.cert_path, registry.config_dir / "extra_ca_certs" / "test-ca.crt")
        with registry.start():
            yield Idp(registry, hydra)
    finally:
        hydra.stop()
        login.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def idp_page(browser: Browser) -> Page:
    # The provider's pages are HTTPS with the test CA, which this browser does not know; the
    # registry itself checks the provider's certificate against extra_ca_certs/.
    return new_page(browser, ignore_https_errors=True)


def sso_sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/signin")
    page.get_by_role("button", name="Sign in with Test SSO").click()
    page.wait_for_url(re.compile(r".*/login\?login_challenge="))  # the provider's login page
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PEOPLE[username].password)
    page.get_by_role("button", name="Log in").click()
    try:
        page.wait_for_url(re.compile(rf"^{re.escape(url)}/repository$"))
    except Exception as exc:
        raise AssertionError(f"the sign-in ended at {page.url}:\n{page.content()[:2000]}") from exc


def users(idp: Idp) -> dict[str, dict[str, object]]:
    resp = httpx.get(f"{idp.registry.url}/api/v1/superuser/users/", auth=ADMIN, timeout=60)
    assert resp.status_code == 200, resp.text
    return {u["username"]: u for u in resp.json()["users"]}


def test_1_first_sign_in_creates_the_account(idp: Idp, browser: Browser) -> None:
    url = idp.registry.url
    config = httpx.get(f"{url}/config", timeout=60).json()
    assert [e["id"] for e in config["external_login"]] == ["hydra"], config["external_login"]
    page = idp_page(browser)
    try:
        page.goto(f"{url}/signin")
        expect(page.get_by_role("button", name="Sign in with Test SSO")).to_be_visible()
        expect_no_violations(page, "the sign-in page with an SSO button")
        sso_sign_in(page, url, "alice")
        expect(page.get_by_role("button", name="User menu: alice")).to_be_visible()
        assert users(idp)["alice"]["email"] == "alice@example.com"
        cookies = {c["name"]: c for c in page.context.cookies(url)}
        assert cookies["registry_session"]["httpOnly"] and "registry_oauth" not in cookies
    finally:
        page.context.close()
    # Again, in a fresh browser: the same account, not a second one.
    page = idp_page(browser)
    try:
        sso_sign_in(page, url, "alice")
        expect(page.get_by_role("button", name="User menu: alice")).to_be_visible()
    finally:
        page.context.close()
    names = set(users(idp))
    assert "alice1" not in names, names


def test_2_a_taken_name_gets_a_free_one(idp: Idp, browser: Browser) -> None:
    page = idp_page(browser)
    try:
        sso_sign_in(page, idp.registry.url, "carol")  # preferred_username "Alice", already taken
        expect(page.get_by_role("button", name="User menu: alice1")).to_be_visible()
    finally:
        page.context.close()
    assert users(idp)["alice1"]["email"] == "carol@example.com"


def test_3_api_token_from_the_ui_logs_podman_in(
    idp: Idp, browser: Browser, cc: ContainersClients, tmp_path: Path
) -> None:
    url, host = idp.registry.url, idp.registry.host
    page = idp_page(browser)
    try:
        sso_sign_in(page, url, "alice")
        page.goto(f"{url}/user/alice?tab=settings")
        page.get_by_label("API token title").fill("laptop")
        page.get_by_role("button", name="Create API token").click()
        line = page.get_by_label("podman login with the API token", exact=True).input_value()
        assert line.startswith(f"podman login --tls-verify=false -u='$oauthtoken' --password-stdin {host} <<< '")
        expect(
            page.get_by_role("grid", name="API tokens").or_(page.get_by_role("table", name="API tokens"))
        ).to_contain_text("laptop")
        expect_no_violations(page, "the account settings with API tokens")
    finally:
        page.context.close()
    run_shown_line(cc, line)
    image = build_image(tmp_path / "layout", "1.0", seed="oidc-push")
    ref = f"{host}/alice/app:1.0"
    image_id = cc.podman("pull", "--quiet", image.ref).stdout.strip().splitlines()[-1]
    cc.podman("tag", image_id, ref)
    cc.podman("push", "--tls-verify=false", ref)
    # The same token on the API, as a Bearer token: the pushed tag is there.
    token = line.rsplit("'", 2)[1]
    resp = httpx.get(
        f"{url}/api/v1/repository/alice/app/tag/", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert [t["name"] for t in resp.json()["tags"]] == ["1.0"], resp.text


def test_4_refused_and_forged_sign_ins_end_on_the_sign_in_page(idp: Idp, browser: Browser) -> None:
    url = idp.registry.url
    page = idp_page(browser)
    try:
        page.goto(f"{url}/signin")
        page.get_by_role("button", name="Sign in with Test SSO").click()
        page.wait_for_url(re.compile(r".*/login\?login_challenge="))
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(re.compile(rf"^{re.escape(url)}/signin\?error="))
        expect(page.get_by_role("alert").or_(page.locator(".pf-m-danger"))).to_contain_text("refused the sign-in")
        assert "registry_session" not in {c["name"] for c in page.context.cookies(url)}
        # A callback with a state this browser was never given.
        page.goto(f"{url}/oauth2/hydra/callback?code=stolen&state=guessed")
        page.wait_for_url(re.compile(rf"^{re.escape(url)}/signin\?error="))
        expect(page.locator(".pf-m-danger").first).to_contain_text("not started here")
        assert "registry_session" not in {c["name"] for c in page.context.cookies(url)}
    finally:
        page.context.close()

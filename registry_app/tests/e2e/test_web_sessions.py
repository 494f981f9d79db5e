"""Browser sign-in over HTTP against the real server: the session cookie (attributes, revocation),
CSRF, BROWSER_API_CALLS_XHR_ONLY, sign-up, account changes with a fresh login, and how the web UI's
files are served (/, bookmarked paths, assets, /config).

httpx plays the browser here (it keeps cookies like one); tests/e2e/test_web_ui.py drives a real
one through the screens.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.bundle import bundle_server, start_https_registry
from tests.support.server import RegistryServer
from tests.support.tls import CertificateAuthority

XHR = {"X-Requested-With": "XMLHttpRequest"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36"}
PASSWORD = secrets.token_urlsafe(12)


def browser(server: RegistryServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={**BROWSER, **XHR}, timeout=60)


def sign_in(client: httpx.Client, username: str, password: str) -> str:
    """Sign in; returns the CSRF token the server handed over."""
    resp = client.post("/api/v1/signin", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"success": True}
    token = resp.headers.get("x-next-csrf-token")
    assert token, resp.headers
    return token


def set_cookie(resp: httpx.Response) -> SimpleCookie:
    cookie = SimpleCookie()
    for value in resp.headers.get_list("set-cookie"):
        cookie.load(value)
    return cookie


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A bundle with FRESH_LOGIN_TIMEOUT 2s (the fresh-login test waits it out) and sign-up on."""
    base = tmp_path_factory.mktemp("sessions")
    srv = bundle_server(base, admin=True, FRESH_LOGIN_TIMEOUT="2s", FEATURE_USER_CREATION=True)
    with srv.start():
        for name in ("alice", "bob", "carol", "dave", "erin"):
            srv.create_user(name, PASSWORD)
        yield srv


def admin_api(server: RegistryServer) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", auth=ADMIN, timeout=60)


def test_signin_sets_a_hardened_session_cookie(server: RegistryServer) -> None:
    with browser(server) as c:
        resp = c.post("/api/v1/signin", json={"username": "alice", "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        morsel = set_cookie(resp)["registry_session"]
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "strict"
        assert morsel["path"] == "/"
        assert not morsel["secure"], "plain HTTP: a Secure cookie would never be sent back"
        assert int(morsel["max-age"]) == 31 * 86400
        assert PASSWORD not in morsel.value
        me = c.get("/api/v1/user/")
        assert me.status_code == 200 and me.json()["username"] == "alice", me.text
        assert c.get("/csrf_token").json()["csrf_token"] == resp.headers["x-next-csrf-token"]


def test_session_cookie_is_secure_under_https(tmp_path: Path, test_ca: CertificateAuthority) -> None:
    server = start_https_registry(tmp_path, test_ca)
    try:
        with httpx.Client(base_url=server.url, headers={**BROWSER, **XHR}, verify=str(test_ca.cert_path)) as c:
            resp = c.post("/api/v1/signin", json={"username": ADMIN[0], "password": ADMIN[1]})
            assert resp.status_code == 200, resp.text
            assert set_cookie(resp)["registry_session"]["secure"] is True
    finally:
        server.stop()


def test_bad_credentials_robots_and_tokens_cannot_sign_in(server: RegistryServer) -> None:
    with admin_api(server) as api:
        robot = api.put("/user/robots/ci").json()
        app = api.post("/user/apptoken", json={"title": "t"}).json()["token"]["token_code"]
    with browser(server) as c:
        for username, password in (
            ("alice", "wrong-password"),
            ("nobody", PASSWORD),
            (robot["name"], robot["token"]),
            ("$app", app),
        ):
            resp = c.post("/api/v1/signin", json={"username": username, "password": password})
            assert resp.status_code == 403, (username, resp.text)
            assert resp.json()["invalidCredentials"] is True
            assert "set-cookie" not in resp.headers
        assert c.get("/api/v1/user/").status_code == 401


def test_unsafe_calls_with_the_cookie_need_the_csrf_token(server: RegistryServer) -> None:
    with browser(server) as c:
        token = sign_in(c, "bob", PASSWORD)
        refused = c.post("/api/v1/organization/", json={"name": "bob-org-1"})
        assert refused.status_code == 403 and refused.json()["error_type"] == "csrf_invalid", refused.text
        wrong = c.post("/api/v1/organization/", json={"name": "bob-org-1"}, headers={"X-CSRF-Token": token[:-2] + "xx"})
        assert wrong.status_code == 403, wrong.text
        ok = c.post("/api/v1/organization/", json={"name": "bob-org-1"}, headers={"X-CSRF-Token": token})
        assert ok.status_code == 201, ok.text
        # Safe methods need no token; another session's token is not this one's.
        assert c.get("/api/v1/organization/bob-org-1").status_code == 200
        with browser(server) as other:
            other_token = sign_in(other, "bob", PASSWORD)
        assert other_token != token
        crossed = c.delete("/api/v1/organization/bob-org-1", headers={"X-CSRF-Token": other_token})
        assert crossed.status_code == 403, crossed.text


def test_signout_ends_every_session_of_the_account(server: RegistryServer) -> None:
    with browser(server) as first, browser(server) as second:
        token = sign_in(first, "carol", PASSWORD)
        sign_in(second, "carol", PASSWORD)
        stolen = first.cookies["registry_session"]
        resp = first.post("/api/v1/signout", headers={"X-CSRF-Token": token})
        assert resp.status_code == 200, resp.text
        assert set_cookie(resp)["registry_session"]["max-age"] == "0"
        assert first.get("/api/v1/user/").status_code == 401
        assert second.get("/api/v1/user/").status_code == 401, "Quay's sign-out ends all of the account's sessions"
    with browser(server) as replay:
        replay.cookies.set("registry_session", stolen)
        assert replay.get("/api/v1/user/").status_code == 401, "a signed-out cookie still worked"


def test_password_change_and_disabling_end_sessions(server: RegistryServer) -> None:
    with browser(server) as c, admin_api(server) as api:
        sign_in(c, "dave", PASSWORD)
        changed = api.put("/superuser/users/dave", json={"password": "another-password-2"})
        assert changed.status_code == 200, changed.text
        assert c.get("/api/v1/user/").status_code == 401, "the session outlived a password change"
        sign_in(c, "dave", "another-password-2")
        assert api.put("/superuser/users/dave", json={"enabled": False}).status_code == 200
        assert c.get("/api/v1/user/").status_code == 401, "the session outlived disabling the account"
        assert api.put("/superuser/users/dave", json={"enabled": True}).status_code == 200
        assert c.get("/api/v1/user/").status_code == 401, "re-enabling must not revive an ended session"


def test_forged_cookies_are_anonymous(server: RegistryServer) -> None:
    import jwt

    with browser(server) as c:
        sign_in(c, "alice", PASSWORD)
        real = c.cookies["registry_session"]
    claims = jwt.decode(real, options={"verify_signature": False})
    for forged in (
        real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"),
        jwt.encode(claims, "not-the-secret-key-of-this-registry", algorithm="HS256"),
        jwt.encode({**claims, "sid": "guessed"}, "not-the-secret-key-of-this-registry", algorithm="HS256"),
        "garbage",
    ):
        with browser(server) as c:
            c.cookies.set("registry_session", forged)
            assert c.get("/api/v1/user/").status_code == 401, forged


def test_browser_calls_must_be_xhr(server: RegistryServer) -> None:
    with httpx.Client(base_url=server.url, headers=BROWSER, timeout=60) as c:
        resp = c.get("/api/v1/user/")
        assert resp.status_code == 400, resp.text
        assert "X-Requested-With" in resp.json()["error_message"]
        assert c.get("/api/v1/user/", headers=XHR).status_code == 401  # anonymous, but let through


def test_sign_up_creates_and_signs_in(server: RegistryServer) -> None:
    with browser(server) as c:
        resp = c.post("/api/v1/user/", json={"username": "newcomer", "password": PASSWORD, "email": "n@example.com"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["username"] == "newcomer"
        assert resp.headers.get("x-next-csrf-token")
        assert c.get("/api/v1/user/").json()["username"] == "newcomer"
    with browser(server) as c:
        taken = c.post("/api/v1/user/", json={"username": "newcomer", "password": PASSWORD})
        assert taken.status_code == 400 and "already exists" in taken.json()["error_message"], taken.text
        short = c.post("/api/v1/user/", json={"username": "shorty", "password": "short"})
        assert short.status_code == 400, short.text


def test_sign_up_is_refused_without_user_creation(tmp_path: Path) -> None:
    server = bundle_server(tmp_path, FEATURE_USER_CREATION=False)
    with server.start(), browser(server) as c:
        resp = c.post("/api/v1/user/", json={"username": "newcomer", "password": PASSWORD})
        assert resp.status_code == 404, resp.text
        assert c.get("/config").json()["features"]["USER_CREATION"] is False


def test_password_change_needs_a_fresh_login_and_keeps_this_browser(server: RegistryServer) -> None:
    with browser(server) as c, browser(server) as elsewhere:
        token = sign_in(c, "erin", PASSWORD)
        sign_in(elsewhere, "erin", PASSWORD)
        time.sleep(2.5)  # past FRESH_LOGIN_TIMEOUT (2s)
        stale = c.put("/api/v1/user/", json={"password": "erins-new-password"}, headers={"X-CSRF-Token": token})
        assert stale.status_code == 401 and stale.json()["error_type"] == "fresh_login_required", stale.text
        bad = c.post("/api/v1/signin/verify", json={"password": "wrong"}, headers={"X-CSRF-Token": token})
        assert bad.status_code == 403, bad.text
        ok = c.post("/api/v1/signin/verify", json={"password": PASSWORD}, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200, ok.text
        changed = c.put("/api/v1/user/", json={"password": "erins-new-password"}, headers={"X-CSRF-Token": token})
        assert changed.status_code == 200, changed.text
        assert changed.headers.get("x-next-csrf-token") not in (None, token)
        assert c.get("/api/v1/user/").json()["username"] == "erin", "this browser was signed out"
        assert elsewhere.get("/api/v1/user/").status_code == 401, "the other session survived the new password"
        with browser(server) as fresh:
            refused = fresh.post("/api/v1/signin", json={"username": "erin", "password": PASSWORD})
            assert refused.status_code == 403
            sign_in(fresh, "erin", "erins-new-password")


def test_ui_is_served_at_bookmarked_paths(server: RegistryServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        index = c.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html"), index.text[:200]
        assert index.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in index.headers["content-security-policy"]
        assert '<div id="root">' in index.text
        for path in (
            "/signin",
            "/repository",
            "/organization/myorg",
            "/repository/myorg/app",
            "/repository/myorg/app/tag/1.0",
            "/user/alice",
            "/superuser",
        ):
            page = c.get(path)
            assert page.status_code == 200 and page.content == index.content, path
        assert c.get("/", headers={"If-None-Match": index.headers["etag"]}).status_code == 304
        assert c.post("/").status_code == 405
        assert c.get("/no/such/page").status_code == 404
        assert c.get("/assets/../index.html").status_code == 404
        # The assets index.html names, cached for a year, gzipped on request.
        import re

        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
        for asset in assets:
            plain = c.get(asset, headers={"Accept-Encoding": "identity"})
            assert plain.status_code == 200 and "content-encoding" not in plain.headers, asset
            assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
            packed = c.get(asset, headers={"Accept-Encoding": "gzip"})
            assert packed.headers.get("content-encoding") == "gzip", asset
            assert packed.content == plain.content  # httpx decodes it
            assert int(packed.headers["content-length"]) < len(plain.content)
        # The API and the registry keep their own answers.
        assert c.get("/v2/").status_code == 401
        assert c.get("/health/instance").status_code == 200


def test_config_shows_public_settings_only(server: RegistryServer) -> None:
    config_yaml = (server.config_dir / "config.yaml").read_text() if server.config_dir else ""
    with httpx.Client(base_url=server.url, timeout=60) as c:
        resp = c.get("/config")
        assert resp.status_code == 200
        body = resp.json()
        assert body["config"]["SERVER_HOSTNAME"] == server.host
        assert body["features"]["USER_CREATION"] is True
        import yaml

        secret = yaml.safe_load(config_yaml)["SECRET_KEY"]
        assert secret not in resp.text
        assert "/config" in c.get("/api/v1/discovery").json()["paths"]
        assert "/csrf_token" in c.get("/api/v1/discovery").json()["paths"]
        assert "/api/v1/signin" in c.get("/api/v1/discovery").json()["paths"]


def test_anonymous_bodies_of_signin_and_sign_up_are_bounded(server: RegistryServer) -> None:
    """Sign-in and sign-up take bodies from anonymous callers: the API's body limit still holds."""
    with browser(server) as c:
        for path in ("/api/v1/signin", "/api/v1/user/"):
            big = {"username": "x" * (2 * 1024 * 1024), "password": PASSWORD}
            resp = c.post(path, json=big)
            assert resp.status_code == 413, (path, resp.status_code, resp.text[:200])


def test_api_tokens_made_by_a_person(server: RegistryServer) -> None:
    """/api/v1/user/apitoken: made with chosen scopes and shown once, used as a Bearer token and
    as $oauthtoken, never broader than its maker, revoked at once."""
    api = f"{server.url}/api/v1"
    made = httpx.post(
        f"{api}/user/apitoken",
        json={"title": "ci", "scopes": ["repo:read", "user:read", "user:admin"]},
        auth=("alice", PASSWORD),
        timeout=60,
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    secret, token_id = token["access_token"], token["id"]
    assert token["scopes"] == ["repo:read", "user:read", "user:admin"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{api}/user/", headers=bearer, timeout=60).json()["username"] == "alice"
    login = httpx.get(
        f"{server.url}/v2/auth", params={"service": server.host}, auth=("$oauthtoken", secret), timeout=60
    )
    assert login.status_code == 200 and login.json()["token"], login.text
    listed = httpx.get(f"{api}/user/apitoken", auth=("alice", PASSWORD), timeout=60).json()["tokens"]
    assert [t["id"] for t in listed] == [token_id] and secret not in str(listed)
    # A token cannot make a broader one; only superusers may give super:user.
    broader = httpx.post(
        f"{api}/user/apitoken", json={"title": "x", "scopes": ["repo:admin"]}, headers=bearer, timeout=60
    )
    assert broader.status_code == 403, broader.text
    su = httpx.post(
        f"{api}/user/apitoken", json={"title": "x", "scopes": ["super:user"]}, auth=("alice", PASSWORD), timeout=60
    )
    assert su.status_code == 403, su.text
    unknown = httpx.post(
        f"{api}/user/apitoken", json={"title": "x", "scopes": ["repo:all"]}, auth=("alice", PASSWORD), timeout=60
    )
    assert unknown.status_code == 400, unknown.text
    # Someone else's token is not found; an absurd id is a bad request; revoking ends it at once.
    assert httpx.delete(f"{api}/user/apitoken/{token_id}", auth=("bob", PASSWORD), timeout=60).status_code == 404
    assert (
        httpx.delete(f"{api}/user/apitoken/99999999999999999999", auth=("alice", PASSWORD), timeout=60).status_code
        == 400
    )
    assert httpx.delete(f"{api}/user/apitoken/{token_id}", auth=("alice", PASSWORD), timeout=60).status_code == 204
    assert httpx.get(f"{api}/user/", headers=bearer, timeout=60).status_code == 401

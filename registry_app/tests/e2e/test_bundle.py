"""A Quay config bundle: SUPER_USERS, CREATE_PRIVATE_REPO_ON_PUSH, FEATURE_ANONYMOUS_ACCESS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.bundle import bundle_server
from tests.support.oci import Client, Image, error_code


def local_storage(base: Path) -> dict[str, Any]:  # a storage location not named "default"
    return {
        "DISTRIBUTED_STORAGE_CONFIG": {"local": ["LocalStorage", {"storage_path": str(base / "blobs")}]},
        "DISTRIBUTED_STORAGE_PREFERENCE": ["local"],
    }


def test_bundle_settings(tmp_path: Path) -> None:
    server = bundle_server(
        tmp_path,
        hostname="registry.example.test",
        migrate=False,
        **local_storage(tmp_path),
        SUPER_USERS=["boss"],
        FEATURE_SUPERUSERS_FULL_ACCESS=True,
        CREATE_PRIVATE_REPO_ON_PUSH=False,
        FEATURE_ANONYMOUS_ACCESS=False,
    )
    server.create_user("boss", "boss-password")  # superuser only through SUPER_USERS
    server.create_user("dev", "dev-password")
    server.start()
    try:
        boss = Client(server.url, auth=("boss", "boss-password"))
        dev = Client(server.url, auth=("dev", "dev-password"))
        img = Image.random()
        # a superuser may push into another user's namespace; a plain user may not
        assert boss.push_image("dev/tool", img, "v1").status_code == 201
        r = dev.http.post("/v2/boss/tool/blobs/uploads/")
        assert r.status_code == 403 and error_code(r) == "DENIED"
        # the repository was created public (CREATE_PRIVATE_REPO_ON_PUSH: false) ...
        assert dev.http.get("/v2/dev/tool/manifests/v1").status_code == 200
        assert boss.push_image("boss/pub", img, "v1").status_code == 201
        assert dev.http.get("/v2/boss/pub/manifests/v1").status_code == 200
        # ... but with FEATURE_ANONYMOUS_ACCESS off, anonymous clients still need to log in
        anon = httpx.get(f"{server.url}/v2/boss/pub/manifests/v1")
        assert anon.status_code == 401
        assert f'realm="http://registry.example.test:{server.port}/v2/auth"' in anon.headers["www-authenticate"]
        boss.close()
        dev.close()
    finally:
        server.stop()


def test_create_namespace_on_push_and_xhr_only(tmp_path: Path) -> None:
    server = bundle_server(
        tmp_path,
        migrate=False,
        **local_storage(tmp_path),
        CREATE_NAMESPACE_ON_PUSH=True,
        BROWSER_API_CALLS_XHR_ONLY=True,
    )
    server.create_user("dev", "dev-password")
    server.create_user("other", "other-password")
    server.start()
    try:
        dev = Client(server.url, auth=("dev", "dev-password"))
        # a push into a namespace nobody has creates it as an organization the pusher owns
        assert dev.push_image("newteam/app", Image.random(), "v1").status_code == 201
        org = dev.http.get("/api/v1/organization/newteam").json()
        assert org["is_admin"] is True
        # an existing namespace of someone else is still closed
        other = Client(server.url, auth=("other", "other-password"))
        assert other.http.post("/v2/newteam/app2/blobs/uploads/").status_code == 403
        # a browser (no credentials, no X-Requested-With) cannot call the API; XHR can
        browser = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"}
        r = httpx.get(f"{server.url}/api/v1/repository/newteam/app", headers=browser)
        assert r.status_code == 400 and "X-Requested-With" in r.json()["error_message"]
        r = httpx.get(f"{server.url}/api/v1/repository/newteam/app",
                      headers={**browser, "x-requested-with": "XMLHttpRequest"})
        assert r.status_code == 401  # on to the normal checks: this repository is private
        dev.close()
        other.close()
    finally:
        server.stop()


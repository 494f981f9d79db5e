"""The web UI in a real browser (Debian's Chromium, headless, driven by Playwright) against the
real server, through the seed documents' workflow:

1. the first user is made with ``POST /api/v1/user/initialize`` (as the seed posts do) and signs
   in on the sign-in page;
2. in the UI: an organization, a private repository, a robot account; the robot gets write on
   the repository in the repository's settings;
3. the ``podman login`` line the UI shows for the robot is run as it is (bash, token on stdin),
   then podman pushes an image as the robot; a multi-arch index is pushed too (skopeo --all);
4. the tags screen shows the tag with the digest podman pushed, and the index's platforms;
5. the repository is made public in its settings, and an anonymous browser sees it;
6. a user with only read sees no settings, no logs and no delete buttons (the owner does);
7. the tag is deleted in the UI and restored from the tag history;
8. axe-core finds no serious or critical accessibility violation on the main screens.

BROWSER_API_CALLS_XHR_ONLY is on (the default), so every call the UI makes must be an XHR.
Why Python's playwright rather than @playwright/test: the tests then share the fixtures that start
the real server and the real podman (tests/support), run in the same pytest session and CI stage
as every other end-to-end test, and need no second test runner.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import missing_dependency
from tests.support.browser import AXE, axe_violations, chromium, describe_violations, new_page
from tests.support.bundle import bundle_server
from tests.support.engines import ContainersClients, require, run
from tests.support.images import build_image
from tests.support.server import RegistryServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def expect(locator: Any) -> Any:
    """Playwright's auto-waiting assertions (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


pytestmark = pytest.mark.clients

OWNER = "quayadmin"
ORG = "myorg"
REPO = "app"
ROBOT = "pusher"
READER = "reader"


class Site:
    """The server, its owner's password and the things the workflow made along the way."""

    def __init__(self, server: RegistryServer, password: str, token: str) -> None:
        self.server = server
        self.password = password
        self.token = token  # the owner's API token from user/initialize (checks through the API)
        self.pushed: str | None = None
        self.index_digest: str | None = None

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.server.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # The tests build on each other (test_1 makes what the rest use) and test_1 checks accessibility:
    # without axe-core every one of them skips (fails under CI), not only the first.
    if not AXE.is_file():
        missing_dependency(f"axe-core is not installed ({AXE}): run scripts/build-ui")
    base = tmp_path_factory.mktemp("webui")
    server = bundle_server(base, FEATURE_USER_INITIALIZE=True, SUPER_USERS=[OWNER])
    with server.start():
        password = secrets.token_urlsafe(16)
        resp = httpx.post(
            f"{server.url}/api/v1/user/initialize",
            json={"username": OWNER, "password": password, "email": "owner@example.com", "access_token": True},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        yield Site(server, password, resp.json()["access_token"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def owner_page(site: Site, browser: Browser) -> Iterator[Page]:
    errors: list[str] = []
    page = new_page(browser, errors)
    sign_in(page, site.server.url, OWNER, site.password)
    yield page
    page.context.close()
    assert not errors, f"script errors in the owner's browser: {errors}"


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/repository$"))
    page.get_by_role("button", name="User menu").wait_for()


def expect_no_violations(page: Page, screen: str) -> None:
    found = axe_violations(page)
    assert not found, f"axe-core on {screen}:\n{describe_violations(found)}"


def tag_rows(page: Page) -> dict[str, str]:
    """Tag name -> the full digest the tags table shows (its title) for each row."""
    page.get_by_role("grid", name="Tags").or_(page.get_by_role("table", name="Tags")).wait_for()
    out: dict[str, str] = {}
    for row in page.locator("table[aria-label='Tags'] tbody tr").all():
        link = row.locator("td[data-label='Tag'] a")
        if link.count():
            out[link.inner_text().strip()] = row.locator("td[data-label='Manifest'] code").get_attribute("title") or ""
    return out


def test_1_sign_in_create_org_repository_robot(site: Site, owner_page: Page) -> None:
    page, url = owner_page, site.server.url
    expect_no_violations(page, "the repository list")

    # An organization.
    page.goto(f"{url}/organization")
    page.get_by_role("button", name="Create organization").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Organization name").fill(ORG)
    dialog.get_by_role("button", name="Create organization").click()
    page.wait_for_url(f"{url}/organization/{ORG}")
    assert site.api("GET", f"/organization/{ORG}").json()["is_admin"] is True

    # A private repository in it.
    page.get_by_role("button", name="Create repository").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Repository name").fill(REPO)
    dialog.get_by_label("Description (Markdown)").fill("Built by **CI**. <script>alert(1)</script>")
    dialog.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{url}/repository/{ORG}/{REPO}")
    shown = site.api("GET", f"/repository/{ORG}/{REPO}").json()
    assert shown["is_public"] is False and shown["namespace"] == ORG, shown

    # The description is Markdown, rendered without the raw HTML in it.
    page.get_by_role("tab", name="Information").click()
    expect(page.locator("strong", has_text="CI")).to_have_count(1)
    expect(page.get_by_text("Built by")).to_contain_text("<script>alert(1)</script>")  # shown as text
    assert page.locator("main script").count() == 0

    # A robot account; its credentials dialog opens once it exists.
    page.goto(f"{url}/organization/{ORG}?tab=robots")
    page.get_by_role("button", name="Create robot account").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(re.compile(r"^Name")).fill(ROBOT)
    dialog.get_by_role("button", name="Create robot account").click()
    page.get_by_role("dialog", name=f"Credentials for {ORG}+{ROBOT}").wait_for()
    expect_no_violations(page, "the robot credentials dialog")
    page.get_by_role("dialog").get_by_role("button", name="Close").last.click()
    assert site.api("GET", f"/organization/{ORG}/robots/{ROBOT}").status_code == 200

    # Write for the robot, in the repository's settings.
    page.goto(f"{url}/repository/{ORG}/{REPO}?tab=settings")
    page.get_by_label("Kind").select_option("robot")
    page.get_by_label("Robot name").fill(ROBOT)
    page.get_by_label("Role", exact=True).select_option("write")
    page.get_by_role("button", name="Add permission").click()
    page.get_by_label(f"Role of {ORG}+{ROBOT}").wait_for()
    expect_no_violations(page, "the repository settings")
    perm = site.api("GET", f"/repository/{ORG}/{REPO}/permissions/user/{ORG}+{ROBOT}").json()
    assert perm["role"] == "write", perm


def run_shown_line(cc: ContainersClients, line: str) -> None:
    """Run a line the UI shows, as a user pasting it into bash would: through bash on stdin (the
    token is never in any process's arguments), with ``podman`` being this test's podman."""
    require("bash")
    wrapper = f'podman() {{ command podman {" ".join(shlex.quote(o) for o in cc.podman_options)} "$@"; }}'
    run(["bash", "-euo", "pipefail"], input=f"{wrapper}\n{line}\n", env=cc.env, timeout=180)


def test_2_push_as_robot_with_the_login_line(
    site: Site, owner_page: Page, cc: ContainersClients, tmp_path: Path
) -> None:
    page, url, host = owner_page, site.server.url, site.server.host
    page.goto(f"{url}/organization/{ORG}?tab=robots")
    page.get_by_role("button", name=f"Credentials of {ORG}+{ROBOT}").click()
    dialog = page.get_by_role("dialog", name=f"Credentials for {ORG}+{ROBOT}")
    dialog.get_by_role("tab", name="Podman login").click()
    line = dialog.get_by_label("podman login command", exact=True).input_value()
    token = site.api("GET", f"/organization/{ORG}/robots/{ROBOT}").json()["token"]
    assert line == f"podman login --tls-verify=false -u='{ORG}+{ROBOT}' --password-stdin {host} <<< '{token}'", line
    dialog.get_by_role("tab", name="Kubernetes secret").click()
    secret = dialog.get_by_label("Kubernetes pull secret", exact=True).inner_text()
    encoded = re.search(r"\.dockerconfigjson: (\S+)", secret)
    assert encoded and "kind: Secret" in secret and "type: kubernetes.io/dockerconfigjson" in secret, secret
    import base64

    auths = json.loads(base64.b64decode(encoded[1]))["auths"]
    assert base64.b64decode(auths[host]["auth"]).decode() == f"{ORG}+{ROBOT}:{token}"
    dialog.get_by_role("button", name="Close").last.click()

    run_shown_line(cc, line)
    image = build_image(tmp_path / "layout", "1.0", seed="webui-push")
    ref = f"{host}/{ORG}/{REPO}:1.0"
    image_id = cc.podman("pull", "--quiet", image.ref).stdout.strip().splitlines()[-1]
    cc.podman("tag", image_id, ref)
    digestfile = tmp_path / "digest"
    cc.podman("push", "--tls-verify=false", "--digestfile", str(digestfile), ref)
    site.pushed = digestfile.read_text().strip()
    # A multi-arch index beside it, with podman's credentials (skopeo reads podman's auth file).
    index = build_image(tmp_path / "multi", "multi", platforms=("linux/amd64", "linux/arm64/v8"), seed="webui-multi")
    cc.skopeo("copy", "--all", "--dest-tls-verify=false", index.ref, f"docker://{host}/{ORG}/{REPO}:multi")
    site.index_digest = index.digest

    page.goto(f"{url}/repository/{ORG}/{REPO}?tab=tags")
    rows = tag_rows(page)
    assert rows.get("1.0") == site.pushed, f"the tags table shows {rows}, podman pushed {site.pushed}"
    assert rows.get("multi") == index.digest, rows
    # The index's platforms, fetched when its row is opened.
    page.locator("table[aria-label='Tags'] tbody tr", has_text="multi").get_by_role("button").first.click()
    platforms = page.get_by_role("grid", name=re.compile("^Platforms")).or_(
        page.get_by_role("table", name=re.compile("^Platforms"))
    )
    platforms.wait_for()
    text = platforms.inner_text()
    assert "linux/amd64" in text and "linux/arm64/v8" in text, text
    expect_no_violations(page, "the tags screen")

    # The tag's own page: the digest, and pull commands that name it.
    page.goto(f"{url}/repository/{ORG}/{REPO}/tag/1.0")
    assert page.get_by_label("Manifest digest", exact=True).input_value() == site.pushed
    assert page.get_by_label("podman pull by digest", exact=True).input_value() == (
        f"podman pull --tls-verify=false {host}/{ORG}/{REPO}@{site.pushed}"
    )
    expect_no_violations(page, "the tag screen")


def test_3_public_repository_seen_anonymously(site: Site, owner_page: Page, browser: Browser) -> None:
    url = site.server.url
    anonymous = new_page(browser)
    try:
        anonymous.goto(f"{url}/repository/{ORG}/{REPO}")
        anonymous.get_by_role("alert").wait_for()  # private: the visitor is told to sign in
        assert "Sign in" in anonymous.get_by_role("alert").inner_text()

        page = owner_page
        page.goto(f"{url}/repository/{ORG}/{REPO}?tab=settings")
        page.get_by_role("button", name="Make public").click()
        page.get_by_role("dialog").get_by_role("button", name="Make public").click()
        page.get_by_role("button", name="Make private").wait_for()
        assert site.api("GET", f"/repository/{ORG}/{REPO}").json()["is_public"] is True

        anonymous.goto(f"{url}/repository")
        anonymous.get_by_role("link", name=REPO).click()
        anonymous.wait_for_url(f"{url}/repository/{ORG}/{REPO}")
        assert tag_rows(anonymous).get("1.0") == site.pushed
        assert anonymous.get_by_role("tab", name="Settings").count() == 0
        expect_no_violations(anonymous, "the repository screen, anonymous")
    finally:
        anonymous.context.close()


def test_4_read_only_user_sees_no_settings(site: Site, owner_page: Page, browser: Browser) -> None:
    url = site.server.url
    made = site.api("POST", "/superuser/users/", json={"username": READER, "email": "reader@example.com"})
    assert made.status_code == 200, made.text
    granted = site.api("PUT", f"/repository/{ORG}/{REPO}/permissions/user/{READER}", json={"role": "read"})
    assert granted.status_code == 200, granted.text

    owner_page.goto(f"{url}/repository/{ORG}/{REPO}?tab=tags")
    tag_rows(owner_page)
    assert owner_page.get_by_role("tab", name="Settings").count() == 1  # the owner sees them
    assert owner_page.get_by_role("button", name="Delete tag 1.0").count() == 1

    reader = new_page(browser)
    try:
        sign_in(reader, url, READER, made.json()["password"])
        reader.goto(f"{url}/repository/{ORG}/{REPO}?tab=tags")
        assert tag_rows(reader).get("1.0") == site.pushed
        assert reader.get_by_role("tab", name="Settings").count() == 0
        assert reader.get_by_role("tab", name="Logs").count() == 0
        assert reader.get_by_role("button", name=re.compile("^Delete tag")).count() == 0
        reader.goto(f"{url}/repository/{ORG}/{REPO}?tab=settings")  # a bookmarked settings link
        assert reader.get_by_role("tab", name="Settings").count() == 0
        assert reader.get_by_role("button", name="Delete repository").count() == 0
    finally:
        reader.context.close()


def test_5_delete_tag_and_restore_from_history(site: Site, owner_page: Page) -> None:
    page, url = owner_page, site.server.url
    page.goto(f"{url}/repository/{ORG}/{REPO}?tab=tags")
    tag_rows(page)
    page.get_by_role("button", name="Delete tag 1.0").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").wait_for(state="detached")
    page.get_by_role("button", name="Delete tag 1.0").wait_for(state="detached")
    assert "1.0" not in tag_rows(page)
    live = site.api("GET", f"/repository/{ORG}/{REPO}/tag/?onlyActiveTags=true").json()["tags"]
    assert "1.0" not in {t["name"] for t in live}, live

    page.get_by_role("tab", name="Tag history").click()
    restore = page.get_by_role("button", name=f"Restore 1.0 to {site.pushed[:19]}")
    restore.click()
    page.get_by_role("status").filter(has_text="1.0 now points at").wait_for()
    live = site.api("GET", f"/repository/{ORG}/{REPO}/tag/?onlyActiveTags=true").json()["tags"]
    assert {t["name"]: t["manifest_digest"] for t in live}.get("1.0") == site.pushed, live
    expect_no_violations(page, "the tag history")
    page.get_by_role("tab", name="Tags").click()
    # The tags the screen had cached are shown first, then refreshed: wait for the restored one.
    expect(page.get_by_role("link", name="1.0", exact=True)).to_be_visible()
    assert tag_rows(page).get("1.0") == site.pushed


def test_6_other_screens_have_no_serious_accessibility_violations(
    site: Site, owner_page: Page, browser: Browser
) -> None:
    page, url = owner_page, site.server.url
    for path, ready in (
        (f"/organization/{ORG}?tab=teams", "Teams"),
        (f"/organization/{ORG}?tab=logs", "Usage logs"),
        (f"/user/{OWNER}?tab=settings", "App-specific tokens"),
        ("/superuser", "Users"),
        ("/organization", "Organizations"),
    ):
        page.goto(f"{url}{path}")
        page.get_by_role("grid", name=ready).or_(page.get_by_role("table", name=ready)).wait_for()
        expect_no_violations(page, path)
    signin = new_page(browser)
    try:
        signin.goto(f"{url}/signin")
        signin.get_by_label("Username").wait_for()
        expect_no_violations(signin, "the sign-in page")
    finally:
        signin.context.close()


def test_7_teams_tokens_superuser_and_password_in_the_ui(site: Site, owner_page: Page, browser: Browser) -> None:
    page, url = owner_page, site.server.url
    # A team with the read-only user in it.
    page.goto(f"{url}/organization/{ORG}?tab=teams")
    page.get_by_role("button", name="Create team").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Team name").fill("builders")
    dialog.get_by_label("Role").select_option("creator")
    dialog.get_by_role("button", name="Create team").click()
    page.get_by_role("button", name="Members of team builders").click()
    dialog = page.get_by_role("dialog", name="Members of builders")
    dialog.get_by_label(re.compile("^Add a user")).fill(READER)
    dialog.get_by_role("button", name="Add member").click()
    expect(dialog.get_by_role("button", name=f"Remove {READER}")).to_be_visible()
    members = site.api("GET", f"/organization/{ORG}/team/builders/members").json()["members"]
    assert [m["name"] for m in members] == [READER], members
    assert site.api("GET", f"/organization/{ORG}").json()["teams"]["builders"]["role"] == "creator"
    dialog.get_by_role("button", name="Close").last.click()

    # An app-specific token that logs in to the registry.
    page.goto(f"{url}/user/{OWNER}?tab=settings")
    page.get_by_label("App token title").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    code = page.get_by_label("App token", exact=True).input_value()
    line = page.get_by_label("podman login with the token", exact=True).input_value()
    assert line == f"podman login --tls-verify=false -u='$app' --password-stdin {site.server.host} <<< '{code}'"
    token = httpx.get(f"{url}/v2/auth", params={"service": site.server.host}, auth=("$app", code), timeout=60)
    assert token.status_code == 200 and token.json().get("token"), token.text

    # The superuser disables a user; the user's sign-in is then refused.
    page.goto(f"{url}/superuser")
    page.get_by_role("button", name=f"Disable {READER}").click()
    expect(page.get_by_role("button", name=f"Enable {READER}")).to_be_visible()
    listed = {u["username"]: u for u in site.api("GET", "/superuser/users/").json()["users"]}
    assert listed[READER]["enabled"] is False

    # The per-day chart counts what the log holds.
    page.goto(f"{url}/organization/{ORG}?tab=logs")
    chart = page.get_by_role("img", name=re.compile(r"log entries over 7 days"))
    expect(chart).to_be_visible()
    shown = int(re.match(r"(\d+)", chart.get_attribute("aria-label") or "")[1])  # type: ignore[index]
    assert shown > 0, "the organization's log has entries (created repository, robot, team...)"

    # A new password, with the current one checked again; other sessions end, this one stays.
    elsewhere = new_page(browser)
    try:
        sign_in(elsewhere, url, OWNER, site.password)
        page.goto(f"{url}/user/{OWNER}?tab=settings")
        new_password = secrets.token_urlsafe(16)
        page.get_by_label("Current password").fill(site.password)
        page.get_by_label("New password (8 characters or more)").fill(new_password)
        page.get_by_label("New password again").fill(new_password)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_text("Password changed")).to_be_visible()
        site.password = new_password
        page.goto(f"{url}/repository")
        expect(page.get_by_role("button", name=re.compile("^User menu"))).to_be_visible()
        elsewhere.goto(f"{url}/repository")
        expect(elsewhere.get_by_role("button", name="Sign in")).to_be_visible()
    finally:
        elsewhere.context.close()


def test_8_narrow_window(site: Site, browser: Browser) -> None:
    """On a phone-sized window the screens fit their width (no sideways scrolling of the page)."""
    page = new_page(browser)
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/signin", f"/repository/{ORG}/{REPO}", "/repository"):
            page.goto(f"{site.server.url}{path}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a 390px window"
    finally:
        page.context.close()

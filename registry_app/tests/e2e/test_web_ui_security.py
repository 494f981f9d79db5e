"""The web UI's security scan in a real browser, with a REAL Clair v4 behind the registry (as
tests/e2e/test_secscan.py runs it: its own PostgreSQL database, a vulnerability feed on loopback,
an image holding a real Debian package database with one planted vulnerability).

The tag's page shows the scan status, the counts by severity and the vulnerability table
(advisory with its link, severity, package, installed version, fixed-by) that the API's
``/security`` answer holds; the page has no serious or critical accessibility violations.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, missing_dependency
from tests.e2e.test_secscan import CVE, push_layout
from tests.e2e.test_web_ui import expect, expect_no_violations, sign_in
from tests.support.browser import chromium, new_page
from tests.support.bundle import cli, write_bundle
from tests.support.clair import DebianImage, build_debian_image, clair_binary, start_clair
from tests.support.oci import Client
from tests.support.server import RegistryServer
from tests.support.vulnfeed import VulnFeed

pytestmark = [pytest.mark.postgres]

SCAN_DEADLINE = 300.0
REPO = f"{ADMIN[0]}/debian"


@pytest.fixture(scope="module")
def scanned(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Any
) -> Iterator[tuple[RegistryServer, str, DebianImage]]:
    """A registry with Clair, and the digest of a pushed image whose scan has finished."""
    binary = clair_binary()
    if binary is None:
        missing_dependency("no Clair binary (scripts/build-go-tools builds it; or set CLAIR_BIN)")
    base = tmp_path_factory.mktemp("webui-secscan")
    from tests.support.clair import DebianRootfsUnavailable

    try:
        image = build_debian_image(base / "with", "latest")
    except DebianRootfsUnavailable as exc:
        missing_dependency(str(exc))
    feed = VulnFeed().start()
    feed.plant(package=image.source, fixed_version=f"{image.version}+deb12u99", cve=CVE, severity="medium")
    user, password, dbname = postgres_server.create_database()
    bundle = base / "config"
    registry = RegistryServer(data_dir=base / "data", config_dir=bundle)
    clair = start_clair(
        base / "clair", postgres_server.uri(user, password, dbname) + "?sslmode=disable", feed=feed, binary=binary
    )
    try:
        clair.wait_for_feed(feed)
        write_bundle(
            bundle,
            SERVER_HOSTNAME=registry.host,
            SUPER_USERS=[ADMIN[0]],
            FEATURE_SECURITY_SCANNER=True,
            SECURITY_SCANNER_V4_ENDPOINT=clair.url,
            SECURITY_SCANNER_V4_PSK=clair.psk,
            SECURITY_SCANNER_INDEXING_INTERVAL=1,
        )
        cli(registry, "migrate")
        registry.create_user(*ADMIN, superuser=True)
        with registry.start():
            client = Client(registry.url, auth=ADMIN)
            try:
                digest = push_layout(client, REPO, image, "latest")
            finally:
                client.close()
            deadline = time.monotonic() + SCAN_DEADLINE
            status = None
            while time.monotonic() < deadline:
                status = httpx.get(
                    f"{registry.url}/api/v1/repository/{REPO}/manifest/{digest}/security", auth=ADMIN, timeout=60
                ).json()["status"]
                if status == "scanned":
                    break
                time.sleep(1)
            assert status == "scanned", f"no scan in {SCAN_DEADLINE}s:\n{registry.log()[-4000:]}\n{clair.log()[-3000:]}"
            yield registry, digest, image
    finally:
        clair.stop()
        feed.stop()
        postgres_server.drop_database(user, dbname)


def test_tag_page_shows_the_scan(scanned: tuple[RegistryServer, str, DebianImage], tmp_path: Path) -> None:
    registry, digest, image = scanned
    api = httpx.get(
        f"{registry.url}/api/v1/repository/{REPO}/manifest/{digest}/security",
        params={"vulnerabilities": "true"},
        auth=ADMIN,
        timeout=60,
    ).json()
    expected = sum(len(f.get("Vulnerabilities") or []) for f in api["data"]["Layer"]["Features"])
    assert expected >= 1, api
    with chromium() as browser:
        page = new_page(browser)
        sign_in(page, registry.url, *ADMIN)
        page.goto(f"{registry.url}/repository/{REPO}/tag/latest")
        table = page.get_by_role("grid", name="Vulnerabilities").or_(page.get_by_role("table", name="Vulnerabilities"))
        expect(table).to_be_visible()
        summary = page.get_by_text(re.compile(r"^\d+ vulnerabilit"))
        assert summary.inner_text().split()[0] == str(expected)
        row = table.locator("tbody tr", has_text=CVE)
        expect(row).to_have_count(1)
        assert row.locator("td[data-label='Severity']").inner_text().strip() == "High"
        assert row.locator("td[data-label='Package']").inner_text().strip() == image.package
        assert row.locator("td[data-label='Installed version']").inner_text().strip() == image.version
        assert row.locator("td[data-label='Fixed in']").inner_text().strip() == f"{image.version}+deb12u99"
        link = row.get_by_role("link", name=CVE)
        assert CVE in (link.get_attribute("href") or "")
        assert link.get_attribute("rel") == "noreferrer noopener"
        expect(page.get_by_role("list", name="Vulnerabilities by severity")).to_contain_text("High")
        expect_no_violations(page, "the tag screen with a security scan")

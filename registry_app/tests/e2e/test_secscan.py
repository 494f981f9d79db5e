"""Security scanning end to end: registry_app's security worker with a REAL Clair v4 (combo mode,
its own PostgreSQL database), a vulnerability feed on loopback (tests/support/vulnfeed.py), and
images holding a real Debian package database (tests/support/clair.py).

Nothing of registry_app is bypassed: images are pushed over /v2, the worker indexes them through
Clair (which fetches the layers back from the registry with the pull token the worker put in the
index request), the API shapes Clair's vulnerability report, Clair's notifier calls the webhook,
and manifest deletes reach Clair. Waits poll with generous deadlines; nothing asserts timing.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, missing_dependency
from tests.support.bundle import cli, write_bundle
from tests.support.clair import ClairServer, DebianImage, build_debian_image, clair_binary, start_clair
from tests.support.oci import OCI_INDEX, Client
from tests.support.server import RegistryServer
from tests.support.vulnfeed import VulnFeed

pytestmark = [pytest.mark.postgres]

NS = ADMIN[0]
CVE = "CVE-2099-41001"
LATER_CVE = "CVE-2099-41002"
SCAN_DEADLINE = 300.0
NOTIFY_DEADLINE = 600.0  # Clair's notifier polls and delivers once a minute at the fastest


@dataclass
class Stack:
    registry: RegistryServer
    clair: ClairServer
    feed: VulnFeed
    client: Client
    api: httpx.Client
    with_pkg: DebianImage
    without_pkg: DebianImage
    base: Path

    @property
    def db_path(self) -> Path:
        return self.base / "registry.db"


def wait_for(what: str, probe: Callable[[], Any], deadline_s: float, log: Callable[[], str]) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with the logs after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1.0)
    pytest.fail(f"{what} did not happen in {deadline_s:.0f}s (last: {last!r})\n{log()[-6000:]}")


def push_layout(client: Client, repo: str, image: DebianImage, tag: str) -> str:
    layout = image.image.layout
    doc = json.loads(image.image.manifest)
    for desc in [doc["config"], *doc["layers"]]:
        data = (layout / "blobs" / "sha256" / desc["digest"].split(":", 1)[1]).read_bytes()
        r = client.push_blob(repo, data, desc["digest"])
        assert r.status_code == 201, r.text
    r = client.put_manifest(repo, tag, image.image.manifest)
    assert r.status_code == 201, r.text
    return image.image.digest


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Stack]:
    binary = clair_binary()
    if binary is None:
        missing_dependency("no Clair binary (scripts/build-go-tools builds it; or set CLAIR_BIN)")
    base = tmp_path_factory.mktemp("secscan")
    from tests.support.clair import DebianRootfsUnavailable

    try:
        with_pkg = build_debian_image(base / "with", "latest")
        without_pkg = build_debian_image(base / "without", "latest", with_package=False)
    except DebianRootfsUnavailable as exc:
        missing_dependency(str(exc))
    feed = VulnFeed().start()
    # A version above the installed one: Clair reports the installed package as vulnerable.
    feed.plant(package=with_pkg.source, fixed_version=f"{with_pkg.version}+deb12u99", cve=CVE, severity="medium")
    user, password, dbname = postgres_server.create_database()
    bundle = base / "config"
    registry = RegistryServer(data_dir=base / "data", config_dir=bundle)
    clair = start_clair(
        base / "clair",
        postgres_server.uri(user, password, dbname) + "?sslmode=disable",
        feed=feed,
        webhook_url=f"http://127.0.0.1:{registry.port}/secscan/notification",
        binary=binary,
    )
    try:
        clair.wait_for_feed(feed)
        write_bundle(
            bundle,
            SERVER_HOSTNAME=registry.host,
            PREFERRED_URL_SCHEME="http",
            SUPER_USERS=[ADMIN[0]],
            FEATURE_SUPERUSERS_FULL_ACCESS=True,
            FEATURE_SECURITY_SCANNER=True,
            SECURITY_SCANNER_V4_ENDPOINT=clair.url,
            SECURITY_SCANNER_V4_PSK=clair.psk,
            SECURITY_SCANNER_INDEXING_INTERVAL=1,
            SECURITY_SCANNER_V4_MANIFEST_CLEANUP=True,
            FEATURE_SECURITY_NOTIFICATIONS=True,
        )
        cli(registry, "migrate")
        registry.create_user(*ADMIN, superuser=True)
        registry.workers = 2  # the worker must run in one of them only (a database lease)
        registry.start()
        client = Client(registry.url, auth=ADMIN)
        api = httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60)
        try:
            yield Stack(registry, clair, feed, client, api, with_pkg, without_pkg, base)
        finally:
            client.close()
            api.close()
            registry.stop()
    finally:
        clair.stop()
        feed.stop()
        postgres_server.drop_database(user, dbname)


def security(stack: Stack, repo: str, digest: str, **params: str) -> httpx.Response:
    return stack.api.get(f"/api/v1/repository/{repo}/manifest/{digest}/security", params=params)


def wait_scanned(stack: Stack, repo: str, digest: str) -> dict[str, Any]:
    def probe() -> Any:
        r = security(stack, repo, digest, vulnerabilities="true")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] in ("queued", "scanned"), body
        return body if body["status"] == "scanned" else None

    logs = lambda: stack.registry.log() + "\n--- clair ---\n" + stack.clair.log()[-3000:]  # noqa: E731
    return wait_for(f"the scan of {repo}@{digest}", probe, SCAN_DEADLINE, logs)


def vulns_named(body: dict[str, Any], cve: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(f, v) for f in body["data"]["Layer"]["Features"] for v in f["Vulnerabilities"] if v["Name"] == cve]


def test_debian_image_is_scanned_with_the_planted_vulnerability(stack: Stack) -> None:
    repo = f"{NS}/debian"
    digest = push_layout(stack.client, repo, stack.with_pkg, "latest")
    assert security(stack, repo, digest).json()["status"] in ("queued", "scanned")
    body = wait_scanned(stack, repo, digest)
    layer = body["data"]["Layer"]
    assert layer["Name"] == digest and layer["IndexedByVersion"] == 4
    packages = {f["Name"]: f for f in layer["Features"]}
    assert packages[stack.with_pkg.package]["Version"] == stack.with_pkg.version
    assert packages[stack.with_pkg.package]["AddedBy"] == stack.with_pkg.layer_digests[0]
    [(feature, vuln)] = vulns_named(body, CVE)
    assert (feature["Name"], feature["Version"]) == (stack.with_pkg.package, stack.with_pkg.version)
    assert vuln["Severity"] == "High"  # tracker urgency "medium" is Clair's normalized High
    assert vuln["FixedBy"] == f"{stack.with_pkg.version}+deb12u99"
    assert CVE in vuln["Link"] and vuln["Description"]
    assert vuln["Metadata"]["DistroName"] and "NVD" in vuln["Metadata"]
    assert feature["CVEIds"] == [CVE]
    # Read access is needed (the repository is private): anonymous callers get Quay's 401.
    anon = httpx.get(f"{stack.registry.url}/api/v1/repository/{repo}/manifest/{digest}/security")
    assert anon.status_code == 401, anon.text
    # raw=true is Clair's own report.
    raw = security(stack, repo, digest, raw="true").json()
    assert raw["manifest_hash"] == digest and "package_vulnerabilities" in raw


def test_image_without_the_package_has_no_such_vulnerability(stack: Stack) -> None:
    repo = f"{NS}/debian-slim"
    digest = push_layout(stack.client, repo, stack.without_pkg, "latest")
    body = wait_scanned(stack, repo, digest)
    names = {f["Name"] for f in body["data"]["Layer"]["Features"]}
    assert stack.with_pkg.package not in names and len(names) > 10  # the rest of Debian is there
    assert vulns_named(body, CVE) == []


def test_manifest_list_is_unsupported(stack: Stack) -> None:
    repo = f"{NS}/debian"  # the image manifest is already there
    child = stack.with_pkg.image
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": child.media_type,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    push_layout(stack.client, repo, stack.with_pkg, "latest")
    r = stack.client.put_manifest(repo, "multi", index, OCI_INDEX)
    assert r.status_code == 201, r.text
    digest = r.headers["docker-content-digest"]
    assert security(stack, repo, digest).json() == {"status": "unsupported", "data": None}

    def marked() -> bool:  # the worker records it too (Quay's MANIFEST_UNSUPPORTED, -2)
        return bool(
            registry_db(
                stack,
                "SELECT index_status FROM manifest_security_status s JOIN manifest m "
                "ON m.id = s.manifest_id WHERE m.digest = ?",
                digest,
            )
            == [(-2,)]
        )

    wait_for("the index to be marked unsupported", marked, SCAN_DEADLINE, stack.registry.log)


def registry_db(stack: Stack, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(stack.db_path, timeout=30) as conn:
        return list(conn.execute(query, args).fetchall())


def test_webhook_needs_clairs_psk_jwt_and_a_notification(stack: Stack) -> None:
    url = f"{stack.registry.url}/secscan/notification"
    body = {"notification_id": "x", "callback": "http://127.0.0.1:1/x"}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    signed = {"Authorization": f"Bearer {stack.clair.jwt('clair-notifier')}"}
    assert httpx.post(url, json={"callback": "x"}, headers=signed).status_code == 400


def test_notifier_callback_records_vulnerability_found_events(stack: Stack) -> None:
    repo = f"{NS}/debian"
    digest = stack.with_pkg.image.digest
    wait_scanned(stack, repo, digest)  # Clair must know the manifest before the new vulnerability
    stack.feed.plant(
        package=stack.with_pkg.source, fixed_version=None, cve=LATER_CVE, severity="high", description="found later"
    )

    def event() -> Any:
        rows = registry_db(stack, "SELECT kind, payload_json FROM repository_event ORDER BY id")
        found = [json.loads(p) for k, p in rows if k == "vulnerability_found"]
        return [p for p in found if p["vulnerability"]["id"] == LATER_CVE and p["repository"] == repo]

    logs = lambda: stack.registry.log() + "\n--- clair ---\n" + stack.clair.log()[-4000:]  # noqa: E731
    [payload, *_] = wait_for("a vulnerability_found event from Clair's notifier", event, NOTIFY_DEADLINE, logs)
    assert payload == {
        "repository": repo,
        "namespace": NS,
        "name": "debian",
        "docker_url": f"{stack.registry.host}/{repo}",
        "homepage": f"http://{stack.registry.host}/repository/{repo}",
        "tags": ["latest", "multi"] if "multi" in payload["tags"] else ["latest"],
        "vulnerability": {
            "id": LATER_CVE,
            "description": "found later",
            "link": payload["vulnerability"]["link"],
            "priority": "Critical",  # urgency high is Clair's normalized Critical
            "has_fix": False,
        },
    }
    assert LATER_CVE in payload["vulnerability"]["link"]
    # The notification was paged through and deleted at Clair: nothing stays queued.
    wait_for(
        "the notification to leave the queue",
        lambda: registry_db(stack, "SELECT count(*) FROM secscan_notification") == [(0,)],
        SCAN_DEADLINE,
        logs,
    )


def test_manifest_delete_removes_clairs_index_report(stack: Stack) -> None:
    repo = f"{NS}/short-lived"
    image = build_debian_image(stack.base / "short-lived", "v1", seed="short-lived")
    digest = push_layout(stack.client, repo, image, "v1")
    wait_scanned(stack, repo, digest)
    assert stack.clair.index_report(digest).status_code == 200
    r = stack.client.http.delete(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 202, r.text
    wait_for(
        "Clair's index report to be deleted",
        lambda: stack.clair.index_report(digest).status_code == 404,
        SCAN_DEADLINE,
        stack.registry.log,
    )


def test_clair_down_is_quays_downstream_issue_not_a_500(stack: Stack) -> None:
    """Last: stops Clair."""
    repo = f"{NS}/debian"
    digest = stack.with_pkg.image.digest
    wait_scanned(stack, repo, digest)
    stack.clair.stop()
    r = security(stack, repo, digest, vulnerabilities="true")
    assert r.status_code == 520, r.text
    body = r.json()
    assert body["error_type"] == "downstream_issue" and body["status"] == 520
    assert "security scanner" in body["detail"]
    assert stack.clair.psk not in r.text
    # Clair's address and the connection error are the operator's: only in the server log, under
    # the reference the client got (issue 9, item 5).
    ref = re.search(r"reference ([0-9a-f]{8})", body["detail"])
    assert ref and str(stack.clair.port) not in r.text and "refused" not in r.text, r.text
    assert any(ref.group(1) in line and "refused" in line for line in stack.registry.log().splitlines())
    # The registry itself is fine.
    assert httpx.get(f"{stack.registry.url}/health/instance").status_code == 200

"""The Clair harness itself, without registry_app's scanner: a real Clair v4 scans images pushed to
the real registry, with vulnerabilities from the loopback feed (tests/support/clair.py, vulnfeed.py).

What Quay's security worker does is done here by hand: push with skopeo, get a pull token from
/v2/auth, POST the manifest's layer URIs (with the token in each layer's headers) to Clair's
indexer, wait for IndexFinished, read the matcher's vulnerability report. The notifier test plants
a new vulnerability after the first index and waits for Clair's signed webhook callback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.support.clair import ClairServer, DebianImage, build_debian_image
from tests.support.engines import ContainersClients
from tests.support.server import RegistryServer
from tests.support.vulnfeed import VulnFeed

pytestmark = [pytest.mark.postgres, pytest.mark.clients]

USER, PASSWORD = ADMIN
REPO = f"{USER}/debian"


@dataclass
class Webhook:
    """A loopback HTTP server recording every POST (headers and JSON body)."""

    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/secscan/notification"

    def start(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = b""  # Clair streams its JSON: chunked transfer encoding
                while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body

            def do_POST(self) -> None:
                body = self.read_body()
                with hook.cond:
                    hook.received.append((dict(self.headers.items()), json.loads(body or b"{}")))
                    hook.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    try:
        yield hook
    finally:
        hook.stop()


@pytest.fixture
def images(tmp_path: Path) -> tuple[DebianImage, DebianImage]:
    """The Debian package-database image with the chosen package, and the same without it."""
    from tests.conftest import missing_dependency
    from tests.support.clair import DebianRootfsUnavailable

    try:
        with_pkg = build_debian_image(tmp_path / "layout", "with", with_package=True)
        without = build_debian_image(tmp_path / "layout", "without", with_package=False)
    except DebianRootfsUnavailable as exc:
        missing_dependency(str(exc))
    return with_pkg, without


def push(registry: RegistryServer, tmp_path: Path, *imgs: DebianImage) -> None:
    with ContainersClients(tmp_path / "containers") as cc:
        cc.skopeo("login", "--tls-verify=false", "--username", USER, "--password-stdin", registry.host, input=PASSWORD)
        for img in imgs:
            cc.skopeo(
                "copy", "--dest-tls-verify=false", "--preserve-digests",
                img.image.ref, f"docker://{registry.host}/{REPO}:{img.image.tag}",
            )


def pull_token(registry: RegistryServer) -> str:
    """A registry pull token for REPO, from the realm/service the registry's challenge names."""
    challenge = httpx.get(f"{registry.url}/v2/", timeout=30).headers["www-authenticate"]
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    res = httpx.get(
        params["realm"],
        params={"service": params["service"], "scope": f"repository:{REPO}:pull"},
        auth=(USER, PASSWORD),
        timeout=30,
    )
    res.raise_for_status()
    return str(res.json()["token"])


def index(clair: ClairServer, registry: RegistryServer, img: DebianImage) -> dict[str, Any]:
    """What Quay's security worker does: layer URIs with a pull token in each layer's headers."""
    headers = {"Authorization": [f"Bearer {pull_token(registry)}"]}
    layers = [(d, f"{registry.url}/v2/{REPO}/blobs/{d}", headers) for d in img.layer_digests]
    clair.index(img.image.digest, layers)
    return clair.wait_indexed(img.image.digest)


def vulns_of(report: dict[str, Any], package: str) -> dict[str, dict[str, Any]]:
    """CVE name -> vulnerability, for the vulnerabilities the report attaches to ``package``."""
    out = {}
    for pkg_id, vuln_ids in (report.get("package_vulnerabilities") or {}).items():
        if report["packages"][pkg_id]["name"] == package:
            for vid in vuln_ids:
                vuln = report["vulnerabilities"][vid]
                out[vuln["name"]] = {**vuln, "installed": report["packages"][pkg_id]["version"]}
    return out


def all_names(report: dict[str, Any]) -> set[str]:
    return {v["name"] for v in (report.get("vulnerabilities") or {}).values()}


def more_than(items: list[Any], n: int) -> bool:
    return len(items) > n


def verify_psk_jwt(token: str, psk: str) -> dict[str, Any]:
    """The claims of an HS256 JWT after checking its signature with the decoded PSK."""
    head, body, sig = token.split(".")
    expected = hmac.new(base64.b64decode(psk), f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), expected), "bad JWT signature"
    assert json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"] == "HS256"
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def test_clair_reports_planted_vulnerability_only_where_the_package_is(
    registry: RegistryServer,
    tmp_path: Path,
    clair: Callable[..., ClairServer],
    vuln_feed: VulnFeed,
    images: tuple[DebianImage, DebianImage],
) -> None:
    with_pkg, without = images
    fixed = f"{with_pkg.version}+deb12u1"  # later than the installed version: vulnerable
    vuln_feed.plant(with_pkg.source, fixed, "CVE-2099-10001", "medium", description="planted, vulnerable")
    vuln_feed.plant(with_pkg.source, "0.1-1", "CVE-2099-10002", "high", description="planted, fixed long ago")
    server = clair()
    uo = server.wait_for_feed(vuln_feed)
    assert uo["updater"] == "debian/updater"
    assert vuln_feed.served("/debian/dists/bookworm/Release") >= 1 and vuln_feed.served("/tracker/data/json") >= 1

    push(registry, tmp_path, with_pkg, without)
    report_with = index(server, registry, with_pkg)
    report_without = index(server, registry, without)

    # The indexer read the real dpkg database and os-release through the registry.
    dists = {d["version_code_name"] for d in report_with["distributions"].values()}
    assert dists == {"bookworm"}
    installed = {p["name"]: p["version"] for p in report_with["packages"].values()}
    assert installed[with_pkg.package] == with_pkg.version
    assert len(installed) > 50, "expected the whole debootstrap package database"
    assert with_pkg.package not in {p["name"] for p in report_without["packages"].values()}

    vr = server.vulnerability_report(with_pkg.image.digest)
    found = vulns_of(vr, with_pkg.package)
    assert set(found) == {"CVE-2099-10001"}, found  # 10002 is fixed in an older version
    vuln = found["CVE-2099-10001"]
    assert vuln["installed"] == with_pkg.version
    assert vuln["fixed_in_version"] == fixed
    assert vuln["severity"] == "medium"
    assert vuln["normalized_severity"] == "High"  # Debian urgency medium -> Clair's High
    assert vuln["description"] == "planted, vulnerable"
    assert vuln["links"] == "https://security-tracker.debian.org/tracker/CVE-2099-10001"

    vr_without = server.vulnerability_report(without.image.digest)
    assert "CVE-2099-10001" not in all_names(vr_without)
    assert vr_without["manifest_hash"] == without.image.digest

    # A vulnerability planted later shows up in the next report without re-indexing.
    vuln_feed.plant(with_pkg.source, None, "CVE-2099-10003", "low")
    server.restart()  # updaters run at startup: no wait for the 1-minute period
    server.wait_for_feed(vuln_feed)
    later = vulns_of(server.vulnerability_report(with_pkg.image.digest), with_pkg.package)
    assert set(later) == {"CVE-2099-10001", "CVE-2099-10003"}
    assert later["CVE-2099-10003"]["fixed_in_version"] == ""
    assert later["CVE-2099-10003"]["normalized_severity"] == "Medium"
    assert "CVE-2099-10003" not in all_names(server.vulnerability_report(without.image.digest))

    # Direct API calls need the PSK: an unsigned or wrongly signed call is refused.
    assert httpx.get(f"{server.url}/indexer/api/v1/index_state", timeout=10).status_code == 401
    from tests.support.clair import generate_psk, psk_jwt

    bad = {"Authorization": f"Bearer {psk_jwt(generate_psk())}"}
    assert httpx.get(f"{server.url}/indexer/api/v1/index_state", headers=bad, timeout=10).status_code == 401
    assert server.psk not in server.log()


@pytest.mark.slow
def test_clair_notifier_calls_the_webhook_for_a_newly_planted_vulnerability(
    registry: RegistryServer,
    tmp_path: Path,
    clair: Callable[..., ClairServer],
    vuln_feed: VulnFeed,
    images: tuple[DebianImage, DebianImage],
    webhook: Webhook,
) -> None:
    with_pkg, without = images
    vuln_feed.plant(with_pkg.source, f"{with_pkg.version}+deb12u1", "CVE-2099-20001", "low")
    server = clair(webhook_url=webhook.url)
    server.wait_for_feed(vuln_feed)
    push(registry, tmp_path, with_pkg, without)
    index(server, registry, with_pkg)
    index(server, registry, without)

    vuln_feed.plant(with_pkg.source, f"{with_pkg.version}+deb12u2", "CVE-2099-20002", "high")
    server.restart()  # ingest now rather than at the next 1-minute updater period
    server.wait_for_feed(vuln_feed)

    # Poller and delivery each tick once a minute (Clair's minimum): allow a few ticks.
    deadline = time.monotonic() + 300
    matched: list[dict[str, Any]] = []
    seen = 0
    while not matched:
        with webhook.cond:
            remaining = max(0.0, deadline - time.monotonic())
            webhook.cond.wait_for(partial(more_than, webhook.received, seen), timeout=remaining)
            batch = webhook.received[seen:]
        if not batch and time.monotonic() >= deadline:
            raise server.fail(f"no webhook callback naming CVE-2099-20002 in 300s (got {webhook.received})")
        seen += len(batch)
        for headers, body in batch:
            auth = {k.lower(): v for k, v in headers.items()}["authorization"]
            claims = verify_psk_jwt(auth.removeprefix("Bearer "), server.psk)
            assert claims["iss"] == "clair-notifier"
            assert body["callback"].startswith(f"{server.url}/notifier/api/v1/notification/")
            assert body["callback"].endswith(body["notification_id"])
            notes = server.notification_pages(body["callback"])
            if any(n["vulnerability"]["name"] == "CVE-2099-20002" for n in notes):
                matched = notes
                server.delete_notification(body["callback"])

    new = [n for n in matched if n["vulnerability"]["name"] == "CVE-2099-20002"]
    assert {n["manifest"] for n in new} == {with_pkg.image.digest}  # not the image without the package
    note = new[0]
    assert note["reason"] == "added"
    assert note["vulnerability"]["severity"] == "Critical"  # the normalized severity of urgency high
    assert note["vulnerability"]["fixed_in_version"] == f"{with_pkg.version}+deb12u2"
    assert note["vulnerability"]["package"]["name"] == with_pkg.source

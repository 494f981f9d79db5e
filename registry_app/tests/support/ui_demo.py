"""Screenshots of the web UI's main screens and a measurement of its first load, on a real server
with a little world in it (scripts/ui-screenshots runs this).

    python -m tests.support.ui_demo --out DIR [--loads N]

Writes DIR/*.png (1280x800, light theme) and DIR/first-load.md: bytes transferred and the time
until the repository list is usable, for a cold load (empty cache) and a warm one (assets cached,
index.html revalidated), the median of N loads each. Numbers depend on the machine; they are
recorded, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.support.browser import chromium, new_page
from tests.support.bundle import bundle_server
from tests.support.images import OciImage, build_image
from tests.support.oci import Client

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

OWNER, PASSWORD = "admin", "demo-password-" + os.urandom(6).hex()
ORG = "acme"


def seed(url: str, host: str, work: Path) -> str:
    """An organization with teams, a robot, repositories, tags (one a multi-arch index), a token."""
    api = httpx.Client(base_url=f"{url}/api/v1", auth=(OWNER, PASSWORD), timeout=60)

    def ok(resp: httpx.Response) -> httpx.Response:
        assert resp.is_success, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
        return resp

    ok(api.post("/organization/", json={"name": ORG, "email": "acme@example.com"}))
    ok(api.put(f"/organization/{ORG}/team/developers", json={"role": "creator", "description": "Builds things"}))
    ok(api.put(f"/organization/{ORG}/team/readers", json={"role": "member", "description": "Look only"}))
    ok(api.put(f"/organization/{ORG}/robots/deployer", json={"description": "CI pushes"}))
    for name, visibility, text in (
        ("web", "public", "The **web front end**.\n\n- nginx\n- static files"),
        ("api", "private", "The API server."),
        ("worker", "private", "Background jobs."),
    ):
        ok(
            api.post(
                "/repository",
                json={"namespace": ORG, "repository": name, "visibility": visibility, "description": text},
            )
        )
    ok(api.put(f"/repository/{ORG}/web/permissions/user/{ORG}+deployer", json={"role": "write"}))
    ok(api.put(f"/repository/{ORG}/web/permissions/team/developers", json={"role": "write"}))
    client = Client(url, auth=(OWNER, PASSWORD))
    try:
        for tag in ("1.0", "1.1", "latest"):
            image = build_image(work / f"web-{tag}", tag, seed=f"demo-{tag}")
            push(client, image, tag)
        index = build_image(work / "multi", "multi", platforms=("linux/amd64", "linux/arm64/v8"), seed="demo-multi")
        push(client, index, "multi")
    finally:
        client.close()
    ok(api.delete(f"/repository/{ORG}/web/tag/1.0"))  # something in the tag history
    return f"{ORG}/web"


def push(client: Client, image: OciImage, tag: str) -> httpx.Response:
    """Every blob and manifest of an OCI layout into acme/web, the tag last."""
    import json

    blobs = image.layout / "blobs" / "sha256"

    def put_manifest(digest: str, media_type: str) -> httpx.Response:
        doc = json.loads((blobs / digest.split(":", 1)[1]).read_bytes())
        if "manifests" in doc:
            for child in doc["manifests"]:
                put_manifest(child["digest"], child["mediaType"])
        else:
            for desc in [doc["config"], *doc["layers"]]:
                data = (blobs / desc["digest"].split(":", 1)[1]).read_bytes()
                resp = client.push_blob(f"{ORG}/web", data, desc["digest"])
                assert resp.status_code == 201, resp.text
        body = (blobs / digest.split(":", 1)[1]).read_bytes()
        ref = tag if digest == image.digest else digest
        resp = client.put_manifest(f"{ORG}/web", ref, body, media_type)
        assert resp.status_code == 201, resp.text
        return resp

    return put_manifest(image.digest, image.media_type)


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/signin")
    page.get_by_label("Username").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="User menu").wait_for()


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.mouse.move(0, 0)
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"wrote {out / name}.png")


def screenshots(browser: Browser, url: str, out: Path) -> None:
    page = new_page(browser)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{url}/signin")
    page.get_by_label("Username").wait_for()
    shoot(page, out, "signin")
    sign_in(page, url)
    page.goto(f"{url}/repository")
    page.get_by_role("link", name="worker").wait_for()
    shoot(page, out, "repositories")
    page.goto(f"{url}/repository/{ORG}/web?tab=tags")
    page.locator("table[aria-label='Tags'] tbody tr", has_text="multi").get_by_role("button").first.click()
    page.get_by_text("linux/arm64/v8").wait_for()
    shoot(page, out, "repository-tags")
    page.goto(f"{url}/repository/{ORG}/web/tag/latest")
    page.get_by_role("grid", name="Layers").or_(page.get_by_role("table", name="Layers")).wait_for()
    shoot(page, out, "tag")
    page.goto(f"{url}/repository/{ORG}/web?tab=history")
    page.get_by_role("button", name="Restore 1.0", exact=False).first.wait_for()
    shoot(page, out, "tag-history")
    page.goto(f"{url}/repository/{ORG}/web?tab=settings")
    page.get_by_label(f"Role of {ORG}+deployer").wait_for()
    shoot(page, out, "repository-settings")
    page.goto(f"{url}/organization/{ORG}?tab=teams")
    page.get_by_role("grid", name="Teams").or_(page.get_by_role("table", name="Teams")).wait_for()
    shoot(page, out, "organization-teams")
    page.goto(f"{url}/organization/{ORG}?tab=robots")
    page.get_by_role("button", name=f"Credentials of {ORG}+deployer").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Kubernetes secret").click()
    shoot(page, out, "robot-credentials")
    dialog.get_by_role("button", name="Close").last.click()
    page.goto(f"{url}/organization/{ORG}?tab=logs")
    page.get_by_role("img", name="log entries", exact=False).wait_for()
    shoot(page, out, "logs")
    page.goto(f"{url}/superuser")
    page.get_by_role("grid", name="Users").or_(page.get_by_role("table", name="Users")).wait_for()
    shoot(page, out, "superuser")
    page.context.close()


def first_load(browser: Browser, url: str, loads: int) -> dict[str, Any]:
    """Bytes on the wire and the time until the repository list shows its rows: cold (a new
    browser context, empty cache) and warm (the same context again), medians of ``loads``."""
    results: dict[str, list[tuple[int, float, int]]] = {"cold": [], "warm": []}
    for _ in range(loads):
        page = new_page(browser)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        received: dict[str, int] = {}

        def finished(event: dict[str, Any], into: dict[str, int] = received) -> None:
            into[event["requestId"]] = int(event["encodedDataLength"])

        cdp.on("Network.loadingFinished", finished)
        for kind in ("cold", "warm"):
            received.clear()
            start = time.perf_counter()
            page.goto(f"{url}/repository", wait_until="commit")
            page.get_by_role("link", name="web").wait_for()  # the public repository
            elapsed = time.perf_counter() - start
            page.wait_for_load_state("networkidle")
            results[kind].append((sum(received.values()), elapsed, len(received)))
        page.context.close()
    summary: dict[str, Any] = {}
    for kind, rows in results.items():
        summary[kind] = {
            "bytes": int(statistics.median(r[0] for r in rows)),
            "seconds": statistics.median(r[1] for r in rows),
            "requests": int(statistics.median(r[2] for r in rows)),
        }
    return summary


def assets(url: str) -> list[tuple[str, int, int]]:
    import re

    index = httpx.get(f"{url}/", timeout=60).text
    out = []
    for path in re.findall(r'(?:src|href)="(/assets/[^"]+)"', index):
        plain = httpx.get(f"{url}{path}", headers={"Accept-Encoding": "identity"}, timeout=60)
        packed = httpx.get(f"{url}{path}", headers={"Accept-Encoding": "gzip"}, timeout=60)
        out.append((path, len(plain.content), int(packed.headers["content-length"])))
    return out


def write_report(out: Path, summary: dict[str, Any], files: list[tuple[str, int, int]], loads: int) -> None:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    lines = [
        "# The web UI's first load",
        "",
        "Measured by `scripts/ui-screenshots` (tests/support/ui_demo.py): headless Chromium from Debian",
        "against registry_app on loopback (one granian worker), signed out, loading `/repository` until",
        "its rows show. Bytes are what crossed the wire (Chrome's encodedDataLength: headers and",
        f"compressed bodies); medians of {loads} loads. Loopback hides network latency: on a real",
        "network add one round trip per request in the first column.",
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"load average {os.getloadavg()[0]:.1f} at the time.",
        "",
        "| load | requests | bytes transferred | time until the list is usable |",
        "|---|---|---|---|",
    ]
    for kind, text in (("cold", "cold (empty cache)"), ("warm", "warm (assets cached)")):
        s = summary[kind]
        lines.append(f"| {text} | {s['requests']} | {s['bytes'] / 1000:.0f} kB | {s['seconds'] * 1000:.0f} ms |")
    lines += ["", "The files `index.html` names (sent gzipped when the browser accepts it):", ""]
    lines += ["| file | size | gzipped |", "|---|---|---|"]
    lines += [f"| `{p}` | {a / 1000:.0f} kB | {b / 1000:.0f} kB |" for p, a, b in files]
    lines.append("")
    (out / "first-load.md").write_text("\n".join(lines))
    print(f"wrote {out / 'first-load.md'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui-demo-") as tmp:
        work = Path(tmp)
        server = bundle_server(work, SUPER_USERS=[OWNER], FEATURE_SUPERUSERS_FULL_ACCESS=True)
        server.create_user(OWNER, PASSWORD, superuser=True)
        with server.start():
            seed(server.url, server.host, work)
            with chromium() as browser:
                screenshots(browser, server.url, args.out)
                write_report(args.out, first_load(browser, server.url, args.loads), assets(server.url), args.loads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

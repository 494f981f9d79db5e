"""A real browser for the web UI's tests: Debian's Chromium (``apt-get install chromium``) driven
headless by Playwright (the ``playwright`` Python package; its own browser downloads are not used),
and axe-core (``registry_app/ui/node_modules/axe-core``, installed by scripts/build-ui) for
accessibility checks.

Missing pieces skip the tests on a developer machine and fail them in CI (``missing_dependency``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
# No sandbox (we run as root in a container), no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"
DEFAULT_TIMEOUT_MS = 30_000  # a busy 2-core machine: generous, never asserted on


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium; the caller makes contexts (one per signed-in person)."""
    from tests.conftest import missing_dependency

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_dependency("the playwright Python package is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        missing_dependency(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, errors: list[str] | None = None, **context: Any) -> Page:
    """A page in a fresh context (its own cookies). Uncaught script errors go to ``errors``."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **context)
    ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = ctx.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of the given impacts."""
    from tests.conftest import missing_dependency

    if not AXE.is_file():
        missing_dependency(f"axe-core is not installed ({AXE}): run scripts/build-ui")
    # Evaluated over the DevTools protocol: the UI's Content-Security-Policy forbids inline scripts.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in impacts]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [", ".join(n.get("target", [])) for n in v.get("nodes", [])[:5]]
        lines.append(f"{v['impact']}: {v['id']} ({v['help']}) at {targets}")
    return "\n".join(lines)

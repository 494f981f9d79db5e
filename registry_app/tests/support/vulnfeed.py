"""A Debian vulnerability feed on loopback, in the exact shape claircore's Debian updater reads.

Clair's updaters fetch their vulnerability data from the internet, which the tests cannot reach;
everything else about Clair runs for real. claircore (v1.5.48, the version Clair v4.9.0 pins;
``debian/updater.go`` and ``debian/parser.go``) lets the Debian updater be pointed elsewhere with
two settings, under ``updaters.config.debian`` in Clair's config.yaml:

``mirror_url``
    A Debian mirror root (with a trailing slash). The updater *factory* appends ``debian/`` and
    GETs ``debian/dists/``: an HTML listing whose ``href="CODENAME/"`` links name the releases
    (names containing ``-``, ``sid``, ``stable``, ``testing``, ``updates``, ``backports``, ... are
    skipped). For each it GETs ``debian/dists/CODENAME/Release`` (with ``Range: bytes=0-512``) and
    reads the RFC 822 ``Version:`` header (``12.8`` -> Debian 12). Only releases found this way
    are known to the parser; Sources/Packages files are *not* fetched by this claircore version.
``json_url``
    The security tracker's JSON (https://security-tracker.debian.org/tracker/data/json):
    ``{SOURCE_PACKAGE: {CVE: {"description": ..., "releases": {CODENAME: {"status": ...,
    "fixed_version": ..., "urgency": ...}}}}}``. Every entry becomes a vulnerability of the
    *source* package; Clair's matcher matches it against installed binary packages whose name or
    ``Source:`` is that name, and reports the package vulnerable when its version is lower than
    ``fixed_version`` (always, when there is none; never when it is ``"0"``). The response's
    ``Last-Modified`` is the updater's fingerprint: an unchanged value means "no update".

Two more files Clair's *indexer* fetches from the internet, from security.access.redhat.com:
the ``rhel-repository-scanner`` loads Red Hat's repository-to-CPE mapping and fails *every*
layer scan, Debian ones included, when it cannot; the ``rhel_containerscanner`` loads the
container-name-to-repositories mapping. The feed serves both empty (``{"data": {}}``) at
``repo2cpe_url`` and ``name2repos_url``; ``clair_indexer_scanner_config()`` is the
``indexer.scanner`` block pointing the two scanners there.

``VulnFeed`` serves all of it from one loopback port. ``plant(...)`` adds an entry and bumps
``Last-Modified`` (a fake, strictly increasing date, one second per change), so the next updater
run ingests it. ``clair_updater_config()`` is the ``updaters.config`` block for Clair.

Severity: ``severity`` is the tracker's *urgency* (``unimportant``, ``low``, ``medium``, ``high``,
or ``not yet assigned``). Clair reports it verbatim as ``severity`` and maps it to
``normalized_severity`` as unimportant->Low, low->Medium, medium->High, high->Critical, anything
else->Unknown (claircore ``debian/severity.go``); Quay shows the normalized one.
"""

from __future__ import annotations

import email.utils
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Codename -> the Release file's Version (only the major number matters to claircore).
DEFAULT_RELEASES = {"bookworm": "12.8"}
BASE_TIME = 1735689600  # 2025-01-01T00:00:00Z; Last-Modified is BASE_TIME + generation seconds


@dataclass(frozen=True)
class PlantedVuln:
    package: str  # the *source* package name (the tracker is keyed by source package)
    fixed_version: str | None
    cve: str
    severity: str
    release: str
    description: str


class VulnFeed:
    """A loopback HTTP server serving a Debian mirror's ``dists/`` and a security-tracker JSON.

    Use as a context manager or call ``start()``/``stop()``. ``mirror_url`` and ``json_url`` go into
    Clair's ``updaters.config.debian``. ``requests`` records every request path served (thread-safe
    to read a copy of), so a test can see that Clair's updater really came.
    """

    def __init__(self, releases: dict[str, str] | None = None, host: str = "127.0.0.1") -> None:
        self.releases = dict(releases or DEFAULT_RELEASES)
        self.host = host
        self._lock = threading.Lock()
        self._vulns: dict[tuple[str, str, str], PlantedVuln] = {}
        self._generation = 0
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- feed content -------------------------------------------------------------------------

    def plant(
        self,
        package: str,
        fixed_version: str | None,
        cve: str,
        severity: str,
        release: str = "bookworm",
        description: str = "",
    ) -> PlantedVuln:
        """Add (or replace) CVE for source ``package`` in ``release``; the next updater run ingests it.

        ``fixed_version`` None means "open" (every installed version is vulnerable); otherwise the
        status is "resolved" and versions lower than it are vulnerable. ``severity`` is the urgency.
        """
        if release not in self.releases:
            raise ValueError(f"release {release!r} is not served (known: {sorted(self.releases)})")
        vuln = PlantedVuln(
            package=package,
            fixed_version=fixed_version,
            cve=cve,
            severity=severity,
            release=release,
            description=description or f"{cve}: planted by the test suite in {package}",
        )
        with self._lock:
            self._vulns[(package, cve, release)] = vuln
            self._generation += 1
        return vuln

    def withdraw(self, package: str, cve: str, release: str = "bookworm") -> None:
        """Remove a planted entry (the next updater run records its removal)."""
        with self._lock:
            del self._vulns[(package, cve, release)]
            self._generation += 1

    @property
    def last_modified(self) -> str:
        """The current ``Last-Modified``: the fingerprint Clair stores for the ingested feed."""
        with self._lock:
            return email.utils.formatdate(BASE_TIME + self._generation, usegmt=True)

    def tracker_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        with self._lock:
            vulns = list(self._vulns.values())
        for v in vulns:
            entry = data.setdefault(v.package, {}).setdefault(v.cve, {"description": v.description, "releases": {}})
            entry["releases"][v.release] = {
                "status": "resolved" if v.fixed_version else "open",
                "repositories": {v.release: v.fixed_version or "0"},
                "fixed_version": v.fixed_version or "",
                "urgency": v.severity,
            }
        return data

    def dists_listing(self) -> str:
        links = "\n".join(f'<a href="{name}/">{name}/</a>' for name in sorted(self.releases))
        return f"<html><head><title>Index of /debian/dists/</title></head><body><pre>\n{links}\n</pre></body></html>\n"

    def release_file(self, codename: str) -> str:
        version = self.releases[codename]
        return (
            "Origin: Debian\nLabel: Debian\nSuite: stable\n"
            f"Version: {version}\nCodename: {codename}\n"
            "Date: Sat, 11 Jan 2025 10:57:10 UTC\nAcquire-By-Hash: yes\n"
            "Architectures: all amd64\nComponents: main contrib non-free-firmware non-free\n"
            f"Description: Debian {version} Released 11 January 2025 (served by the test suite)\n"
        )

    # -- URLs ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "VulnFeed is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def mirror_url(self) -> str:
        """claircore's ``mirror_url`` (it appends ``debian/``; the trailing slash matters)."""
        return self.url

    @property
    def json_url(self) -> str:
        return f"{self.url}tracker/data/json"

    @property
    def repo2cpe_url(self) -> str:
        """An empty Red Hat repository-to-CPE mapping, for the indexer's rhel-repository-scanner."""
        return f"{self.url}redhat/repository-to-cpe.json"

    @property
    def name2repos_url(self) -> str:
        """An empty Red Hat container-name-to-repositories mapping, for the rhel_containerscanner."""
        return f"{self.url}redhat/container-name-repos-map.json"

    def clair_indexer_scanner_config(self) -> dict[str, Any]:
        """The ``indexer.scanner`` block: Red Hat's two mapping files from here, not the internet."""
        return {
            "repo": {"rhel-repository-scanner": {"repo2cpe_mapping_url": self.repo2cpe_url}},
            "package": {"rhel_containerscanner": {"name2repos_mapping_url": self.name2repos_url}},
        }

    def clair_updater_config(self) -> dict[str, Any]:
        """The ``updaters.config`` block pointing claircore's Debian factory and updater here."""
        return {"debian": {"mirror_url": self.mirror_url, "json_url": self.json_url}}

    def served(self, path: str) -> int:
        """How many times ``path`` (e.g. ``/tracker/data/json``) was requested."""
        with self._lock:
            return sum(1 for p in self.requests if p == path)

    # -- server -------------------------------------------------------------------------------

    def start(self) -> VulnFeed:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with feed._lock:
                    feed.requests.append(path)
                if path == "/debian/dists/":
                    self._send(200, feed.dists_listing().encode(), "text/html; charset=utf-8")
                    return
                parts = path.strip("/").split("/")
                if len(parts) == 4 and parts[:2] == ["debian", "dists"] and parts[3] == "Release":
                    if parts[2] in feed.releases:
                        self._send(200, feed.release_file(parts[2]).encode(), "text/plain")
                        return
                if path in ("/redhat/repository-to-cpe.json", "/redhat/container-name-repos-map.json"):
                    self._send(200, b'{"data": {}}', "application/json", {"Last-Modified": feed.last_modified})
                    return
                if path == "/tracker/data/json":
                    last_modified = feed.last_modified
                    if self.headers.get("If-Modified-Since") == last_modified:
                        self.send_response(304)
                        self.send_header("Last-Modified", last_modified)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = json.dumps(feed.tracker_json()).encode()
                    self._send(200, body, "application/json", {"Last-Modified": last_modified})
                    return
                self._send(404, b"not found\n", "text/plain")

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="vulnfeed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VulnFeed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

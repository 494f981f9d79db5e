"""Run a real Clair v4 (combo mode) for the security-scanning tests, and build images for it to scan.

The binary is Clair v4.9.0 built from source by ``scripts/build-go-tools`` (``CLAIR_BIN``, else
``$QUAY_CI_CACHE/go/bin/clair``); ``clair_binary()`` is None when neither exists (the ``clair``
fixture then calls ``missing_dependency()``: skipped locally, a failure in CI). Clair keeps its
state in its own PostgreSQL database (the tests pass a fresh ``pg_database`` DSN) and runs its
migrations on start.

Only one thing is a stand-in: the vulnerability data. ``start_clair`` enables only the ``debian``
updater set (``updaters.sets: [debian]``) and points it at a ``VulnFeed`` on loopback
(``updaters.config.debian.mirror_url``/``json_url``, see ``tests.support.vulnfeed``); the indexer
runs with ``airgap: true`` (only loopback/private addresses) and CVSS enrichment is off, so Clair
never tries the internet. Everything else -- indexing layers fetched over HTTP from the registry,
dpkg database parsing, matching, the notifier and its webhook -- is Clair's own code.

Interface::

    feed = VulnFeed().start()
    clair = start_clair(workdir, dsn, feed=feed, webhook_url="http://127.0.0.1:PORT/hook", psk=None)
    clair.url, clair.introspection_url      # http://127.0.0.1:PORT (API), introspection port
    clair.psk                               # base64 key, as Quay's SECURITY_SCANNER_V4_PSK
    clair.jwt()                             # HS256 token, iss "quay", signed with the PSK
    clair.wait_for_feed(feed)               # until the updater ingested feed.last_modified
    clair.index(manifest_digest, [(layer_digest, uri, headers)])   # POST index_report
    clair.wait_indexed(manifest_digest)     # until state IndexFinished (or IndexError: raises)
    clair.vulnerability_report(manifest_digest)
    clair.restart()                         # same config and database: updaters run at once
    clair.notification_pages(callback); clair.delete_notification(callback)
    clair.stop(); clair.log_path

Config knobs that matter (``clair_config()`` builds the whole file)::

    http_listen_addr / introspection_addr   one API port for indexer+matcher+notifier; /readyz
    auth.psk.key (base64), auth.psk.iss: [quay]   requests need "Authorization: Bearer JWT"
                                            (HS256 with the decoded key, iss quay, exp/nbf/iat)
    updaters.sets: [debian]; updaters.config.debian.{mirror_url,json_url}
    indexer.scanner.repo.rhel-repository-scanner.repo2cpe_mapping_url (or _file: a local JSON)
    indexer.scanner.package.rhel_containerscanner.name2repos_mapping_url (or _file)
    matcher.period: 1m                      updaters run at start, then every period (claircore
                                            raises anything under 1m to 6h)
    notifier.webhook.{target,callback}      callback = URL/notifier/api/v1/notification/
    notifier.poll_interval / delivery_interval: 1m (Clair raises anything lower to 6h / 1h)

Notifier timing: after a planted vulnerability is ingested, the notifier's poller (every
``poll_interval``, minimum 1 minute) diffs the new update operation against the previous one,
asks the indexer which indexed manifests the added vulnerabilities affect, stores a notification,
and its delivery loop (every ``delivery_interval``, minimum 1 minute) POSTs
``{"notification_id": ID, "callback": CALLBACK_URL/ID}`` to the webhook, signed with the PSK
(``Authorization: Bearer JWT`` with iss ``clair-notifier``). So a callback arrives one to three
minutes after ``plant()`` (``restart()`` right after ``plant()`` ingests at once and saves up to a
minute: updaters always run at startup). GET the callback URL (PSK JWT) for the pages of notifications; DELETE
it to acknowledge. The first update operation (at startup) never notifies: nothing is indexed yet.

Images: ``build_debian_image(layout, tag, with_package=...)`` writes an OCI layout whose layer
holds the real Debian 12 package database (``var/lib/dpkg/status`` + ``info/*.md5sums``) and
os-release of a debootstrap rootfs -- by default the tarball ``scripts/test-molecule`` caches in
``$QUAY_CI_CACHE/images/debian12-systemd-*.tar``, else a ``debootstrap --variant=minbase``
tarball made once and cached there. Only those files, not the 190 MB rootfs: they are all Clair's
Debian scanners read. ``DebianImage.package``/``.version``/``.source`` name a package really
installed (``gzip`` by default); ``with_package=False`` drops its stanza from the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.images import OCI_CONFIG, OCI_MANIFEST, Layer, LayoutWriter, OciImage, canonical_json
from tests.support.server import free_port
from tests.support.vulnfeed import VulnFeed

CLAIR_VERSION = "v4.9.0"
ISSUER = "quay"  # the JWT issuer Quay uses for its Clair API calls
UPDATER = "debian/updater"  # claircore's Debian updater: one for all releases


def ci_cache() -> Path:
    return Path(os.environ.get("QUAY_CI_CACHE", "/var/cache/quay-registry-ci"))


def clair_binary() -> Path | None:
    """The Clair binary: ``CLAIR_BIN``, else the one scripts/build-go-tools caches; None if absent."""
    env = os.environ.get("CLAIR_BIN")
    candidates = [Path(env)] if env else []
    candidates += [ci_cache() / "go" / "bin" / "clair", ci_cache() / "go" / f"clair-{CLAIR_VERSION}"]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def generate_psk() -> str:
    """A fresh PSK, base64-encoded like Quay's SECURITY_SCANNER_V4_PSK."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def psk_jwt(psk: str, issuer: str = ISSUER, lifetime: int = 300) -> str:
    """An HS256 JWT signed with the decoded PSK, as Quay signs its calls to Clair."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": issuer, "iat": now, "nbf": now - 5, "exp": now + lifetime}
    signing_input = f"{_b64url(canonical_json(header))}.{_b64url(canonical_json(claims))}"
    sig = hmac.new(base64.b64decode(psk), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(sig)}"


def clair_config(
    *,
    dsn: str,
    port: int,
    introspection_port: int,
    feed: VulnFeed,
    psk: str,
    webhook_url: str | None = None,
    period: str = "1m",
    log_level: str = "info",
) -> dict[str, Any]:
    """Clair's config.yaml (combo mode) as a dict; see the module docstring for what matters."""
    config: dict[str, Any] = {
        "http_listen_addr": f"127.0.0.1:{port}",
        "introspection_addr": f"127.0.0.1:{introspection_port}",
        "log_level": log_level,
        "indexer": {
            "connstring": dsn,
            "migrations": True,
            "scanlock_retry": 1,
            "layer_scan_concurrency": 2,
            "airgap": True,  # layer fetches and scanners: loopback/private addresses only
            # Red Hat's two mapping files (without the first, every layer's scan fails).
            "scanner": feed.clair_indexer_scanner_config(),
        },
        "matcher": {
            "connstring": dsn,
            "migrations": True,
            "period": period,  # updaters run at start, then every period (minimum 1m)
            "disable_updaters": False,
            "disable_enrichment": True,  # CVSS enrichment needs the clair.cvss (NVD) updater
        },
        "updaters": {"sets": ["debian"], "config": feed.clair_updater_config()},
        "notifier": {
            "connstring": dsn,
            "migrations": True,
            "poll_interval": "1m",  # the minimum Clair accepts (lower becomes 6h)
            "delivery_interval": "1m",  # the minimum Clair accepts (lower becomes 1h)
        },
        "auth": {"psk": {"key": psk, "iss": [ISSUER]}},
        "metrics": {"name": "prometheus"},
    }
    if webhook_url:
        config["notifier"]["webhook"] = {
            "target": webhook_url,
            "callback": f"http://127.0.0.1:{port}/notifier/api/v1/notification/",
        }
    return config


class ClairError(AssertionError):
    """Clair answered unexpectedly or did not get somewhere in time; the message has its log tail."""


@dataclass
class ClairServer:
    workdir: Path
    port: int
    introspection_port: int
    psk: str
    config_path: Path
    log_path: Path
    binary: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120, trust_env=False))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.introspection_port}"

    def jwt(self, issuer: str = ISSUER) -> str:
        """A fresh PSK-signed token for direct API calls (valid five minutes)."""
        return psk_jwt(self.psk, issuer)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt()}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def fail(self, message: str) -> ClairError:
        return ClairError(f"{message}\n--- clair log (tail) ---\n{self.log()[-8000:]}")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated request to Clair's API (``path`` like ``/indexer/api/v1/index_state``)."""
        url = path if path.startswith("http") else f"{self.url}{path}"
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, binary: Path, timeout: float = 120.0) -> ClairServer:
        self.binary = binary
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self.proc = subprocess.Popen(
            [str(binary), "-conf", str(self.config_path), "-mode", "combo"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self.fail(f"clair exited with {self.proc.returncode}")
            try:
                ready = self.http.get(f"{self.introspection_url}/readyz", timeout=2).status_code == 200
                api = self.http.get(f"{self.url}/indexer/api/v1/index_state", timeout=5).status_code
                if ready and api in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise self.fail(f"clair did not become ready in {timeout}s")

    def _terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def restart(self) -> ClairServer:
        """Stop and start again on the same ports, config and database (the updaters run at startup)."""
        assert self.binary is not None
        self._terminate()
        return self.start(self.binary)

    def stop(self) -> None:
        self._terminate()
        self.http.close()

    # -- updaters -----------------------------------------------------------------------------

    def update_operations(self, latest: bool = True) -> dict[str, list[dict[str, Any]]]:
        """``GET /matcher/api/v1/internal/update_operation``: updater -> its update operations."""
        res = self.request("GET", "/matcher/api/v1/internal/update_operation", params={"latest": str(latest).lower()})
        if res.status_code != 200:
            raise self.fail(f"update_operation: {res.status_code} {res.text}")
        return dict(res.json())

    def wait_for_feed(self, feed: VulnFeed, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until the Debian updater has ingested the feed as it is now; returns the update operation.

        The updater's fingerprint is the feed's ``Last-Modified``, which every ``plant()`` changes.
        """
        want = feed.last_modified
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for uo in self.update_operations().get(UPDATER, []):
                if uo.get("fingerprint") == want:
                    return uo
            if self.proc and self.proc.poll() is not None:
                raise self.fail(f"clair exited with {self.proc.returncode}")
            time.sleep(0.5)
        raise self.fail(f"the Debian updater did not ingest the feed (Last-Modified {want}) in {timeout}s")

    # -- indexer / matcher --------------------------------------------------------------------

    def index(self, manifest_digest: str, layers: Sequence[tuple[str, str, dict[str, list[str]]]]) -> dict[str, Any]:
        """``POST /indexer/api/v1/index_report`` with (layer digest, URI, headers) per layer, as Quay does."""
        body = {
            "hash": manifest_digest,
            "layers": [{"hash": d, "uri": uri, "headers": headers} for d, uri, headers in layers],
        }
        res = self.request("POST", "/indexer/api/v1/index_report", json=body)
        if res.status_code not in (200, 201):
            raise self.fail(f"index_report POST: {res.status_code} {res.text}")
        return dict(res.json())

    def index_report(self, manifest_digest: str) -> httpx.Response:
        return self.request("GET", f"/indexer/api/v1/index_report/{manifest_digest}")

    def wait_indexed(self, manifest_digest: str, timeout: float = 180.0) -> dict[str, Any]:
        """Wait for the index report's state to be IndexFinished; IndexError state raises."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            res = self.index_report(manifest_digest)
            if res.status_code == 200:
                report = dict(res.json())
                last = str(report.get("state"))
                if last == "IndexFinished":
                    return report
                if last == "IndexError":
                    raise self.fail(f"indexing {manifest_digest} failed: {report.get('err')}")
            elif res.status_code != 404:
                raise self.fail(f"index_report GET: {res.status_code} {res.text}")
            time.sleep(0.5)
        raise self.fail(f"{manifest_digest} not indexed in {timeout}s (last state {last or 'none'})")

    def vulnerability_report(self, manifest_digest: str) -> dict[str, Any]:
        res = self.request("GET", f"/matcher/api/v1/vulnerability_report/{manifest_digest}")
        if res.status_code != 200:
            raise self.fail(f"vulnerability_report: {res.status_code} {res.text}")
        return dict(res.json())

    # -- notifier -----------------------------------------------------------------------------

    def notification_pages(self, callback: str) -> list[dict[str, Any]]:
        """Every notification behind a webhook's ``callback`` URL (following ``page.next``)."""
        found: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        while True:
            res = self.request("GET", callback, params=params)
            if res.status_code != 200:
                raise self.fail(f"notification GET {callback}: {res.status_code} {res.text}")
            body = res.json()
            found += body.get("notifications") or []
            nxt = (body.get("page") or {}).get("next")
            if not nxt or nxt == "-1":
                return found
            params = {"next": nxt}

    def delete_notification(self, callback: str) -> None:
        res = self.request("DELETE", callback)
        if res.status_code not in (200, 204):
            raise self.fail(f"notification DELETE {callback}: {res.status_code} {res.text}")


def start_clair(
    workdir: Path,
    dsn: str,
    *,
    feed: VulnFeed,
    webhook_url: str | None = None,
    psk: str | None = None,
    period: str = "1m",
    binary: Path | None = None,
    log_level: str = "info",
) -> ClairServer:
    """Write config.yaml (mode 0600) into ``workdir`` and start ``clair -mode combo``; ready on return."""
    binary = binary or clair_binary()
    if binary is None:
        raise FileNotFoundError("no Clair binary (run scripts/build-go-tools, or set CLAIR_BIN)")
    workdir.mkdir(parents=True, exist_ok=True)
    psk = psk or generate_psk()
    if "sslmode=" not in dsn:  # loopback PostgreSQL without TLS: say so instead of trying TLS first
        dsn += ("&" if "?" in dsn else "?") + "sslmode=disable"
    last_error: ClairError | None = None
    for _ in range(3):  # a lost race for a free port is retried on new ports
        port, introspection_port = free_port(), free_port()
        config = clair_config(
            dsn=dsn,
            port=port,
            introspection_port=introspection_port,
            feed=feed,
            psk=psk,
            webhook_url=webhook_url,
            period=period,
            log_level=log_level,
        )
        config_path = workdir / "config.yaml"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        server = ClairServer(
            workdir=workdir,
            port=port,
            introspection_port=introspection_port,
            psk=psk,
            config_path=config_path,
            log_path=workdir / f"clair-{port}.log",
        )
        try:
            return server.start(binary)
        except ClairError as exc:
            last_error = exc
            if "address already in use" not in str(exc):
                raise
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------------------------
# Test images with a real Debian package database
# --------------------------------------------------------------------------------------------

DEFAULT_PACKAGE = "gzip"  # Essential, in every debootstrap; its source package builds only it
DPKG_FILES = ("etc/os-release", "usr/lib/os-release", "etc/debian_version", "var/lib/dpkg/status")


class DebianRootfsUnavailable(RuntimeError):
    """No cached debootstrap rootfs and it cannot be made here (no debootstrap, not root, no mirror)."""


def _debian_mirror() -> str:
    """The bookworm mirror apt uses on this machine (as scripts/test-molecule finds it)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        stanzas = path.read_text().split("\n\n")
        for stanza in stanzas:
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith("#"):
                    key, value = line.split(":", 1)
                    fields[key.strip()] = value.strip()
            if "bookworm" in fields.get("Suites", "").split() and "main" in fields.get("Components", ""):
                return fields["URIs"].split()[0]
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[0] == "deb" and parts[2] == "bookworm" and "main" in parts[3:]:
                    return parts[1]
    raise DebianRootfsUnavailable("no bookworm mirror in /etc/apt/sources.list*")


def debian_rootfs_tarball() -> Path:
    """A cached debootstrap rootfs tarball: scripts/test-molecule's, else one made here once."""
    images = ci_cache() / "images"
    molecule = sorted(images.glob("debian12-systemd-*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
    if molecule:
        return molecule[0]
    own = images / "debian12-minbase.tar"
    if own.is_file():
        return own
    debootstrap = shutil.which("debootstrap")
    if not debootstrap or os.geteuid() != 0:
        raise DebianRootfsUnavailable(
            f"no debootstrap rootfs in {images} (scripts/test-molecule --image-only makes one) "
            "and debootstrap cannot run here (apt-get install debootstrap; needs root)"
        )
    images.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="rootfs.", dir=images))
    try:
        res = subprocess.run(
            [debootstrap, "--variant=minbase", "bookworm", str(root), _debian_mirror()],
            capture_output=True, text=True, timeout=900, check=False,
        )
        if res.returncode != 0:
            raise DebianRootfsUnavailable(f"debootstrap failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()  # the downloaded packages: 100 MB nobody reads
        tmp = own.with_suffix(".tar.tmp")
        subprocess.run(["tar", "-C", str(root), "-cf", str(tmp), "."], check=True, timeout=600)
        tmp.replace(own)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return own


@lru_cache(maxsize=2)
def debian_package_db(tarball: Path | None = None) -> dict[str, bytes]:
    """The package database and os-release files of the rootfs (path -> content, symlinks resolved)."""
    tarball = tarball or debian_rootfs_tarball()
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    with tarfile.open(tarball) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            wanted = name in DPKG_FILES or (name.startswith("var/lib/dpkg/info/") and name.endswith(".md5sums"))
            if not wanted:
                continue
            if member.issym():
                links[name] = os.path.normpath(os.path.join(os.path.dirname(name), member.linkname))
            elif member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                files[name] = f.read()
    for name, target in links.items():
        if target in files:
            files[name] = files[target]
    missing = [p for p in DPKG_FILES if p not in files]
    if missing:
        raise DebianRootfsUnavailable(f"{tarball} lacks {missing}")
    return files


def dpkg_stanzas(status: bytes) -> list[dict[str, str]]:
    """The dpkg status file as a list of {field: value} (first line of each field only)."""
    out = []
    for block in status.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            out.append(fields)
    return out


@dataclass
class DebianImage:
    """A built test image. ``package``/``version``/``source`` are the chosen installed package."""

    image: OciImage
    package: str
    version: str
    source: str  # the source package (the tracker JSON is keyed by it)
    has_package: bool
    layer_digests: list[str]


def build_debian_image(
    layout: Path,
    tag: str = "latest",
    *,
    with_package: bool = True,
    package: str = DEFAULT_PACKAGE,
    seed: str | None = None,
) -> DebianImage:
    """An amd64 OCI image in ``layout`` with the rootfs's real dpkg database (minus ``package`` if asked)."""
    files = debian_package_db()
    status = files["var/lib/dpkg/status"]
    blocks = status.decode().split("\n\n")
    stanza = next((s for s in dpkg_stanzas(status) if s.get("Package") == package), None)
    if stanza is None or "installed" not in stanza.get("Status", ""):
        raise ValueError(f"{package} is not installed in the rootfs")
    version = stanza["Version"]
    source = stanza.get("Source", package).split(" ")[0]
    if not with_package:
        blocks = [b for b in blocks if f"Package: {package}" not in b.splitlines()]
        status = "\n\n".join(blocks).encode()
    seed = seed or f"{layout.name}-{tag}-{'with' if with_package else 'without'}-{package}"
    entries: list[tuple[str, bytes | None, str | None]] = [
        ("etc/", None, None),
        ("etc/os-release", files["etc/os-release"], None),
        ("etc/debian_version", files["etc/debian_version"], None),
        ("etc/registry-app-test-seed", f"{seed}\n".encode(), None),
        ("usr/", None, None),
        ("usr/lib/", None, None),
        ("usr/lib/os-release", files["usr/lib/os-release"], None),
        ("var/", None, None),
        ("var/lib/", None, None),
        ("var/lib/dpkg/", None, None),
        ("var/lib/dpkg/status", status, None),
        ("var/lib/dpkg/info/", None, None),
    ]
    for name in sorted(files):
        if name.startswith("var/lib/dpkg/info/"):
            pkg = name.rsplit("/", 1)[1].removesuffix(".md5sums").split(":")[0]
            if with_package or pkg != package:
                entries.append((name, files[name], None))
    layer = Layer.from_files(entries)
    writer = LayoutWriter(layout)
    writer.blob(layer.data)
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Labels": {"test.seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "tests.support.clair debian package db"}],
    }
    config_bytes = canonical_json(config)
    config_digest = writer.blob(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [layer.descriptor()],
    }
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    digest = writer.blob(manifest_bytes)
    writer.tag(tag, {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest_bytes)})
    image = OciImage(
        layout=layout,
        tag=tag,
        digest=digest,
        media_type=OCI_MANIFEST,
        manifest=manifest_bytes,
        blob_digests={layer.digest, config_digest, digest},
    )
    return DebianImage(image, package, version, source, with_package, [layer.digest])

"""Security scanning through Clair v4, as Quay's ``secscan_v4_model`` does it.

- ``ClairClient`` speaks Clair's v4 HTTP API (indexer, matcher, notifier); with a PSK every request
  carries an HS256 JWT (``iss: quay``) signed with the base64-decoded ``SECURITY_SCANNER_V4_PSK``.
- ``security_information`` turns a Clair ``VulnerabilityReport`` into Quay's response shape
  (``data.Layer.Features[].Vulnerabilities[]``); pure, unit-tested.
- ``SecurityScanner`` is the security worker: a background thread in every server process, of
  which only the holder of a database lease works (one per deployment, whatever the number of
  granian workers or hosts). Each round it pages through queued Clair notifications and indexes
  new, failed (a bounded number of times) and outdated manifests.

Secrets (the PSK, Clair JWTs, registry pull tokens) are never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from registry_app.db import secscan as db
from registry_app.db.secscan import Candidate, QueuedNotification, SecscanStore
from registry_app.db.store import ManifestRow, RepoRow
from registry_app.services import manifests as mf
from registry_app.services.auth import ANONYMOUS, AuthService, Scope

log = logging.getLogger("registry_app.secscan")

LEASE_NAME = "security-worker"
DOWNLOAD_TOKEN_LIFETIME_S = 300  # how long Clair may use a layer URL's pull token
INDEX_REQUEST_TIMEOUT_S = 600  # Quay's INDEX_REQUEST_TIMEOUT: indexing big images takes a while
REQUEST_TIMEOUT_S = 30
TAG_LIMIT = 100  # Quay's TAG_LIMIT for event payloads
NOTIFICATION_MAX_ATTEMPTS = 10
BATCH = 100

# Layer media types Clair can index (Quay's OCI_IMAGE_LAYER_CONTENT_TYPES + Docker schema 2 layers).
CONTAINER_LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)

# Quay's util/secscan PRIORITY_LEVELS, the parts used here (title and score).
PRIORITY_SCORES = {"Unknown": 0, "Negligible": 1, "Low": 3, "Medium": 6, "High": 9, "Critical": 10}

# The API's status names (Quay's SecurityScanStatus) for each stored index status.
STATUS_NAMES = {
    db.COMPLETED: "scanned",
    db.FAILED: "failed",
    db.IN_PROGRESS: "queued",
    db.MANIFEST_UNSUPPORTED: "unsupported",
    db.MANIFEST_LAYER_TOO_LARGE: "manifest_layer_too_large",
}


# -- configuration -----------------------------------------------------------------------------
_SIZE = re.compile(r"^([0-9]+)([BKMGT])$", re.IGNORECASE)
_UNITS = {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_layer_size(value: Any) -> int | None:
    """``SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE`` in bytes (``8G``, ``512M``, an integer); None:
    no limit. Raises ValueError for anything else."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    m = _SIZE.match(str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a size such as 512M or 8G")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def decode_psk(psk: str) -> bytes:
    """The PSK's key bytes; raises ValueError when it is not base64 or decodes to nothing."""
    try:
        key = base64.b64decode(psk.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64 (Clair's auth.psk.key takes the same base64 string)") from None
    if not key:
        raise ValueError("decodes to an empty key")
    return key


def secscan_config_problems(values: dict[str, Any]) -> list[str]:
    """Checks the schema cannot make: the endpoint is required with the feature, the PSK must be
    base64 (the schema checks the endpoint's and the layer size's forms)."""
    problems = []
    if values.get("FEATURE_SECURITY_SCANNER") and not values.get("SECURITY_SCANNER_V4_ENDPOINT"):
        problems.append("SECURITY_SCANNER_V4_ENDPOINT: required when FEATURE_SECURITY_SCANNER is true")
    psk = values.get("SECURITY_SCANNER_V4_PSK")
    if isinstance(psk, str) and psk:
        try:
            decode_psk(psk)
        except ValueError as exc:
            problems.append(f"SECURITY_SCANNER_V4_PSK: {exc}")  # the value itself is never shown
    return problems


# -- the Clair v4 API --------------------------------------------------------------------------
class ClairError(Exception):
    """A request to Clair failed (Quay's APIRequestFailure). ``status`` is None when Clair could
    not be reached at all."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]+")


class ClairBadRequest(ClairError):
    """Clair answered 400: it cannot use what was sent (Quay's InvalidContentSent)."""


def sign_psk_jwt(key: bytes, lifetime_s: int = 300) -> str:
    """Quay's ``_sign_jwt``: ``{"iss": "quay", "exp": now + 5 min}``, HS256 with the PSK."""
    return jwt.encode({"iss": "quay", "exp": int(time.time()) + lifetime_s}, key, algorithm="HS256")


def verify_psk_jwt(authorization: str | None, key: bytes) -> bool:
    """Check Clair's notifier callback: ``Authorization: Bearer <HS256 JWT signed with the PSK>``."""
    if not authorization:
        return False
    kind, _, token = authorization.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return False
    try:
        jwt.decode(token.strip(), key, algorithms=["HS256"], options={"verify_aud": False}, leeway=30)
    except jwt.PyJWTError:
        return False
    return True


@dataclass(frozen=True)
class ClairResponse:
    status: int
    headers: dict[str, str]
    body: Any


class ClairClient:
    """Clair v4's HTTP API, the calls Quay's ``ClairSecurityScannerAPI`` makes."""

    def __init__(self, endpoint: str, psk: str | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._key = decode_psk(psk) if psk else None

    def _perform(self, method: str, path: str, body: Any = None, timeout: float = REQUEST_TIMEOUT_S) -> ClairResponse:
        url = self.endpoint + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http(s) checked in config)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._key is not None:
            req.add_header("Authorization", f"Bearer {sign_psk_jwt(self._key)}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                status, headers, raw = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, headers, raw = exc.code, dict(exc.headers.items()), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClairError(
                f"Connection error when trying to connect to security scanner endpoint: {reason}"
            ) from None
        if status == 400:
            detail = _BEARER.sub("Bearer <redacted>", raw[:500].decode(errors="replace"))
            raise ClairBadRequest(f"Security scanner endpoint responded with 400 HTTP status code: {detail}", status)
        if status // 100 != 2:
            raise ClairError(f"Security scanner endpoint responded with non-200 HTTP status code: {status}", status)
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ClairError("Received incompatible response from security scanner", status) from None
        return ClairResponse(status, {k.lower(): v for k, v in headers.items()}, parsed)

    def _or_none(self, method: str, path: str) -> Any:
        """The response body, or None when Clair answers 404 (an unknown digest or notification)."""
        try:
            return self._perform(method, path).body
        except ClairError as exc:
            if exc.status == 404:
                return None
            raise

    def _get_or_none(self, path: str) -> Any:
        return self._or_none("GET", path)

    def index_state(self) -> str:
        body = self._perform("GET", "/indexer/api/v1/index_state").body
        if not isinstance(body, dict) or not isinstance(body.get("state"), str):
            raise ClairError("Received incompatible response from security scanner")
        return str(body["state"])

    def index(self, request: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """POST the manifest; returns (IndexReport, indexer state from the ETag)."""
        resp = self._perform("POST", "/indexer/api/v1/index_report", request, timeout=INDEX_REQUEST_TIMEOUT_S)
        if not isinstance(resp.body, dict) or "state" not in resp.body:
            raise ClairError("Received incompatible response from security scanner", resp.status)
        etag = resp.headers.get("etag")
        return resp.body, etag.strip().removeprefix("W/").strip('"') if etag else None

    def vulnerability_report(self, digest: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/matcher/api/v1/vulnerability_report/{digest}")

    def index_report(self, digest: str) -> dict[str, Any] | None:
        return self._get_or_none(f"/indexer/api/v1/index_report/{digest}")

    def delete_index_report(self, digest: str) -> None:
        self._or_none("DELETE", f"/indexer/api/v1/index_report/{digest}")

    def notification_page(self, notification_id: str, next_page: str | None = None) -> dict[str, Any] | None:
        query = "?" + urllib.parse.urlencode({"next": next_page}) if next_page else ""
        return self._get_or_none(f"/notifier/api/v1/notification/{urllib.parse.quote(notification_id)}{query}")

    def delete_notification(self, notification_id: str) -> None:
        self._or_none("DELETE", f"/notifier/api/v1/notification/{urllib.parse.quote(notification_id)}")


# -- Quay's response shape ---------------------------------------------------------------------
def maybe_urlencoded(fixed_in: str) -> str:
    """Clair's ``fixed_in_version`` may be URL-encoded (``fixed=1.2&...``), as Quay handles it."""
    try:
        return urllib.parse.parse_qs(fixed_in)["fixed"][0]
    except (ValueError, KeyError, TypeError):
        return fixed_in


def link_to_cves(text: str | None) -> list[str]:
    return sorted(set(re.findall(r"CVE-\d{4}-\d{4,7}", text or "")))


def priority_from_cvss(score: Any) -> str:
    try:
        s = float(score)
    except (TypeError, ValueError):
        return "Unknown"
    if 0 < s < 4:
        return "Low"
    if 4 <= s < 7:
        return "Medium"
    if 7 <= s < 9:
        return "High"
    if 9 <= s < 10:
        return "Critical"
    return "Unknown"


def vuln_severity(vuln: dict[str, Any], enrichments: dict[str, Any]) -> str:
    """Quay's ``fetch_vuln_severity``: Clair's normalized severity, else the CVSS score's."""
    normalized = vuln.get("normalized_severity")
    if normalized and normalized != "Unknown":
        return str(normalized)
    score = (enrichments.get(str(vuln.get("id"))) or {}).get("baseScore")
    return priority_from_cvss(score) if score else "Unknown"


def _enrichments(report: dict[str, Any]) -> dict[str, Any]:
    """The CVSS enrichment per vulnerability id, highest base score first (Quay's features_for)."""
    out: dict[str, Any] = {}
    for entries in (report.get("enrichments") or {}).values():
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            continue
        for vuln_id, scores in entries[0].items():
            if isinstance(scores, list):
                scores = [s for s in scores if isinstance(s, dict) and "baseScore" in s]
                if scores:
                    out[vuln_id] = max(scores, key=lambda s: s["baseScore"])
        break  # Quay reads the first enrichment kind only
    return out


def security_information(report: dict[str, Any]) -> dict[str, Any]:
    """A Clair VulnerabilityReport as Quay's ``SecurityInformation.to_dict()``."""
    enrichments = _enrichments(report)
    vulnerabilities = report.get("vulnerabilities") or {}
    environments = report.get("environments") or {}
    package_vulns = report.get("package_vulnerabilities") or {}
    seen: set[str] = set()
    features = []
    for pkg_id, pkg in (report.get("packages") or {}).items():
        envs = environments.get(pkg_id) or [{}]
        pkg_vulns = []
        for vuln_id in package_vulns.get(pkg_id) or []:
            vuln = vulnerabilities.get(vuln_id)
            if vuln is None:
                continue
            # Quay ignores the same vulnerability reported from different repositories.
            key = f"{pkg.get('name', '')}_{pkg.get('version', '')}_{vuln.get('name', '')}"
            if key not in seen:
                pkg_vulns.append(vuln)
            seen.add(key)
        shaped = [_vulnerability(v, enrichments) for v in pkg_vulns]
        features.append(
            {
                "Name": pkg.get("name", ""),
                "VersionFormat": "",
                "NamespaceName": "",
                "AddedBy": envs[0].get("introduced_in", ""),
                "Version": pkg.get("version", ""),
                "BaseScores": [
                    v["Metadata"]["NVD"]["CVSSv3"]["Score"] for v in shaped if v["Metadata"]["NVD"]["CVSSv3"]["Score"]
                ],
                "CVEIds": sorted({cve for v in shaped for cve in link_to_cves(v["Link"])}),
                "Vulnerabilities": shaped,
            }
        )
    return {
        "Layer": {
            "Name": report.get("manifest_hash", ""),
            "ParentName": "",
            "NamespaceName": "",
            "IndexedByVersion": 4,
            "Features": features,
        }
    }


def _vulnerability(vuln: dict[str, Any], enrichments: dict[str, Any]) -> dict[str, Any]:
    fixed = vuln.get("fixed_in_version") or ""
    repository = vuln.get("repository") or {}
    distribution = vuln.get("distribution") or {}
    cvss = enrichments.get(str(vuln.get("id"))) or {}
    return {
        "Severity": vuln_severity(vuln, enrichments),
        "NamespaceName": vuln.get("updater", ""),
        "Link": vuln.get("links", ""),
        "FixedBy": maybe_urlencoded(fixed if fixed != "0" else ""),
        "Description": vuln.get("description", ""),
        "Name": vuln.get("name", ""),
        "Metadata": {
            "UpdatedBy": vuln.get("updater", ""),
            "RepoName": repository.get("name"),
            "RepoLink": repository.get("uri"),
            "DistroName": distribution.get("name"),
            "DistroVersion": distribution.get("version"),
            "NVD": {"CVSSv3": {"Vectors": cvss.get("vectorString", ""), "Score": cvss.get("baseScore", "")}},
        },
    }


def repository_event_data(scheme: str, hostname: str, repo: RepoRow, extra: dict[str, Any]) -> dict[str, Any]:
    """Quay's ``build_repository_event_data``."""
    name = f"{repo.namespace}/{repo.name}"
    return {
        "repository": name,
        "namespace": repo.namespace,
        "name": repo.name,
        "docker_url": f"{hostname}/{name}",
        "homepage": f"{scheme}://{hostname}/repository/{name}",
        **extra,
    }


def notification_vulnerability(vuln: dict[str, Any]) -> dict[str, Any]:
    """The ``vulnerability`` of a vulnerability_found event from a Clair notification's summary
    (Quay's process_notification_page + the notification worker's event data)."""
    # Quay reads ``normalized_severity``; Clair's notifier (v4.9 VulnSummary) sends the normalized
    # severity as ``severity``. Either is accepted, so the priority is not always "Unknown".
    severity = vuln.get("normalized_severity") or vuln.get("severity") or "Unknown"
    title = severity if severity in PRIORITY_SCORES else "Unknown"
    return {
        "id": vuln.get("name"),
        "description": vuln.get("description"),
        "link": vuln.get("links"),
        "priority": title,
        "has_fix": bool(maybe_urlencoded(vuln.get("fixed_in_version") or "")),
    }


class ScannerUnavailable(Exception):
    """Clair could not be asked (Quay answers DownstreamIssue, HTTP 520)."""


# -- the security worker -----------------------------------------------------------------------
class SecurityScanner:
    def __init__(self, store: SecscanStore, auth: AuthService, config: Any, client: ClairClient | None = None) -> None:
        self.store = store
        self.auth = auth
        self.client = client or ClairClient(
            str(config["SECURITY_SCANNER_V4_ENDPOINT"]), config.get("SECURITY_SCANNER_V4_PSK")
        )
        psk = config.get("SECURITY_SCANNER_V4_PSK")
        self.webhook_key = decode_psk(psk) if psk else None
        self.interval = float(config.get("SECURITY_SCANNER_INDEXING_INTERVAL") or 30)
        self.reindex_threshold_ms = int(config.get("SECURITY_SCANNER_V4_REINDEX_THRESHOLD", 86400)) * 1000
        self.batch_size = int(config.get("SECURITY_SCANNER_V4_BATCH_SIZE") or 0)
        self.max_layer_size = parse_layer_size(config.get("SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE"))
        self.max_retries = int(config.get("REGISTRY_APP_SECSCAN_MAX_RETRIES", 3))
        self.cleanup = bool(config.get("SECURITY_SCANNER_V4_MANIFEST_CLEANUP", True))
        self.notifications = bool(
            config.get("FEATURE_SECURITY_NOTIFICATIONS") or config.get("SECURITY_SCANNER_NOTIFICATIONS")
        )
        self.notify_on_new_index = bool(config.get("FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX"))
        self.min_severity_on_new_index = str(config.get("NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX") or "High")
        self.scheme = str(config.get("PREFERRED_URL_SCHEME", "http"))
        self.hostname = str(config["SERVER_HOSTNAME"])
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl_ms = int(max(60.0, 3 * self.interval) * 1000)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the API shows --------------------------------------------------------------------
    def security_status(self, manifest: ManifestRow) -> dict[str, Any]:
        """Quay's ``getRepoManifestSecurity`` answer; raises ScannerUnavailable when Clair fails."""
        if manifest.media_type in mf.INDEX_TYPES:
            return {"status": "unsupported", "data": None}
        status = self.store.status(manifest.id)
        if status is None or status.index_status != db.COMPLETED:
            name = STATUS_NAMES.get(status.index_status, "queued") if status is not None else "queued"
            return {"status": name, "data": None}
        try:
            report = self.client.vulnerability_report(manifest.digest)
        except ClairError as exc:
            raise ScannerUnavailable(exc.message) from None
        if report is None:
            return {"status": "queued", "data": None}
        return {"status": "scanned", "data": security_information(report)}

    # -- the worker thread ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="security-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.store.release_lease(LEASE_NAME, self.holder)
        except Exception as exc:
            log.warning("security worker: cannot release its lease: %s", _short(exc))

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.store.acquire_lease(LEASE_NAME, self.holder, self.lease_ttl_ms):
                    self.run_once()
            except Exception as exc:  # never let the thread die: log and try again next round
                log.error("security worker: round failed: %s", _short(exc))
            self._wake.wait(self.interval)
            self._wake.clear()

    def _renew(self) -> bool:
        return self.store.acquire_lease(LEASE_NAME, self.holder, self.lease_ttl_ms)

    def run_once(self) -> None:
        if self.notifications:
            self.process_notifications()
        self.index_round()

    # -- indexing ------------------------------------------------------------------------------
    def index_round(self) -> int:
        """Index every candidate manifest once; returns how many were sent to Clair."""
        try:
            state = self.client.index_state()
        except ClairError as exc:
            log.warning("security worker: Clair's index_state unavailable: %s", exc.message)
            return 0
        now = int(time.time() * 1000)
        limit = self.batch_size or BATCH
        after = 0
        sent = 0
        while not self._stop.is_set():
            batch = self.store.candidates(state, now - self.reindex_threshold_ms, self.max_retries, limit, after)
            if not batch:
                break
            for cand in batch:
                after = cand.manifest_id
                if self._stop.is_set() or not self._renew():
                    return sent
                if self._backing_off(cand, now):
                    continue
                try:
                    if self.index_manifest(cand, state):
                        sent += 1
                except ClairError as exc:
                    if exc.status is None:  # Clair went away: stop the round, try again later
                        log.warning("security worker: %s", exc.message)
                        return sent
                    raise
            if self.batch_size:
                break
        return sent

    def _backing_off(self, cand: Candidate, now: int) -> bool:
        st = cand.status
        if st is None or st.index_status != db.FAILED or st.retries == 0:
            return False
        if st.retries >= self.max_retries:
            return False  # chosen because Clair's state changed: try again
        return now < st.last_indexed_ms + int(self.interval * 1000) * (2 ** (st.retries - 1))

    def index_request(self, cand: Candidate) -> dict[str, Any] | int:
        """Clair's index request for the manifest, or the IndexStatus it gets without indexing."""
        if cand.media_type in mf.INDEX_TYPES:
            return db.MANIFEST_UNSUPPORTED
        try:
            doc = json.loads(cand.content)
        except ValueError:
            return db.MANIFEST_UNSUPPORTED
        layers = [x for x in (doc.get("layers") or []) if isinstance(x, dict)]
        if not layers:
            return db.MANIFEST_UNSUPPORTED  # artifacts without layers, Quay: "manifest has no layers"
        if cand.media_type == mf.OCI_MANIFEST and any(x.get("mediaType") not in CONTAINER_LAYER_TYPES for x in layers):
            return db.MANIFEST_UNSUPPORTED  # an artifact (Helm chart, signature, ...), not an image
        if self.max_layer_size and any(int(x.get("size") or 0) > self.max_layer_size for x in layers):
            return db.MANIFEST_LAYER_TOO_LARGE
        repo = f"{cand.namespace}/{cand.repository}"
        token, _ = self.auth.issue_token(
            ANONYMOUS, [Scope("repository", repo, ("pull",))], None, lifetime=DOWNLOAD_TOKEN_LIFETIME_S
        )
        body: dict[str, Any] = {"hash": cand.digest, "layers": []}
        for layer in layers:
            urls = layer.get("urls")
            headers: dict[str, list[str]] = {"Accept": ["application/gzip"]}
            if layer.get("mediaType") in mf.FOREIGN_LAYERS and isinstance(urls, list) and urls:
                uri = str(urls[0])
            else:
                uri = f"{self.scheme}://{self.hostname}/v2/{repo}/blobs/{layer['digest']}"
                headers["Authorization"] = [f"Bearer {token}"]
            body["layers"].append({"hash": str(layer.get("digest")), "uri": uri, "headers": headers})
        return body

    def index_manifest(self, cand: Candidate, state: str) -> bool:
        """Index one manifest and store its status; True when Clair was asked."""
        where = f"{cand.namespace}/{cand.repository}@{cand.digest}"
        request = self.index_request(cand)
        if isinstance(request, int):
            self.store.set_status(cand.manifest_id, cand.repository_id, request, "none")
            log.info("security worker: %s not indexed (%s)", where, STATUS_NAMES[request])
            return False
        retries = cand.status.retries if cand.status and cand.status.index_status == db.FAILED else 0
        if cand.status and cand.status.index_status == db.FAILED and retries >= self.max_retries:
            retries = 0  # Clair's state changed since the last attempts: a fresh set of retries
        try:
            report, indexer_hash = self.client.index(request)
        except ClairBadRequest as exc:
            self.store.set_status(cand.manifest_id, cand.repository_id, db.MANIFEST_UNSUPPORTED, state, exc.message)
            log.warning("security worker: Clair refused %s: %s", where, exc.message)
            return True
        except ClairError as exc:
            if exc.status is None:
                raise
            self.store.set_status(cand.manifest_id, cand.repository_id, db.FAILED, state, exc.message, retries + 1)
            log.warning("security worker: indexing %s failed (attempt %d): %s", where, retries + 1, exc.message)
            return True
        if report.get("state") == "IndexFinished":
            first = cand.status is None
            self.store.set_status(cand.manifest_id, cand.repository_id, db.COMPLETED, indexer_hash or state)
            log.info("security worker: indexed %s", where)
            if first and self.notify_on_new_index:
                self._notify_new_index(cand)
        elif report.get("state") == "IndexError":
            err = report.get("err") or "IndexError"
            self.store.set_status(
                cand.manifest_id, cand.repository_id, db.FAILED, indexer_hash or state, err, retries + 1
            )
            log.warning("security worker: Clair could not index %s (attempt %d): %s", where, retries + 1, err)
        return True

    def _notify_new_index(self, cand: Candidate) -> None:
        """FEATURE_SECURITY_SCANNER_NOTIFY_ON_NEW_INDEX: events for the vulnerabilities at or
        above NOTIFICATION_MIN_SEVERITY_ON_NEW_INDEX found by the first index of a manifest."""
        try:
            report = self.client.vulnerability_report(cand.digest)
        except ClairError:
            return
        lowest = PRIORITY_SCORES.get(self.min_severity_on_new_index, PRIORITY_SCORES["High"])
        tags = self.store.tag_names(cand.manifest_id, TAG_LIMIT) or [cand.digest]
        repo = RepoRow(cand.repository_id, 0, cand.namespace, cand.repository, "")
        events = []
        for vuln in ((report or {}).get("vulnerabilities") or {}).values():
            if PRIORITY_SCORES.get(vuln.get("normalized_severity"), 0) < lowest:
                continue
            extra = {
                "tags": tags,
                "vulnerable_index_report_created": "true",
                "vulnerability": {
                    "id": vuln.get("id"),
                    "description": vuln.get("description"),
                    "link": vuln.get("links"),
                    "priority": vuln.get("severity"),
                    "has_fix": bool(vuln.get("fixed_in_version")),
                },
            }
            events.append(
                (
                    "vulnerability_found",
                    cand.repository_id,
                    repository_event_data(self.scheme, self.hostname, repo, extra),
                )
            )
        self.store.record_events(events)

    # -- Clair's notifier ----------------------------------------------------------------------
    def webhook_authorized(self, authorization: str | None) -> bool:
        """Quay verifies the callback's JWT only when a PSK is configured (Clair signs with it)."""
        return self.webhook_key is None or verify_psk_jwt(authorization, self.webhook_key)

    def queue_notification(self, notification_id: str) -> None:
        self.store.queue_notification(notification_id)
        self.wake()

    def process_notifications(self) -> int:
        handled = 0
        for queued in self.store.due_notifications():
            if self._stop.is_set():
                break
            if self.handle_notification(queued):
                handled += 1
        return handled

    def handle_notification(self, queued: QueuedNotification) -> bool:
        """Page through one Clair notification, record vulnerability_found events for every
        repository holding an affected manifest, then delete the notification at Clair."""
        nid = queued.notification_id
        page_index = queued.next_page
        while True:
            try:
                page = self.client.notification_page(nid, page_index)
            except ClairError as exc:
                attempts = queued.attempts + 1
                if attempts >= NOTIFICATION_MAX_ATTEMPTS:
                    log.error("security worker: giving up on Clair notification %s: %s", nid, exc.message)
                    self.store.delete_notification(nid)
                else:
                    delay = int(self.interval * 1000) * (2 ** min(attempts, 6))
                    self.store.update_notification(nid, page_index, attempts, delay)
                    log.warning("security worker: Clair notification %s: %s; retrying", nid, exc.message)
                return False
            if page is None:  # the notification no longer exists at Clair
                self.store.delete_notification(nid)
                return False
            self.store.record_events(self.events_for_page(page.get("notifications") or []))
            page_index = (page.get("page") or {}).get("next")
            if not page_index or page_index == "-1":
                break
            self.store.update_notification(nid, page_index, queued.attempts, 0)
        for _ in range(5):
            try:
                self.client.delete_notification(nid)
                break
            except ClairError as exc:
                log.warning("security worker: cannot delete Clair notification %s: %s", nid, exc.message)
        self.store.delete_notification(nid)
        return True

    def events_for_page(self, notifications: list[dict[str, Any]]) -> list[tuple[str, int, dict[str, Any]]]:
        events = []
        for item in notifications:
            if item.get("reason") != "added" or not isinstance(item.get("vulnerability"), dict):
                continue
            vulnerability = notification_vulnerability(item["vulnerability"])
            for manifest_id, repo in self.store.manifests_with_digest(str(item.get("manifest"))):
                tags = self.store.tag_names(manifest_id, TAG_LIMIT)
                if not tags:
                    continue  # as Quay: only tagged manifests are reported
                extra = {"tags": tags, "vulnerability": vulnerability}
                events.append(
                    ("vulnerability_found", repo.id, repository_event_data(self.scheme, self.hostname, repo, extra))
                )
        return events

    # -- manifest deletion ---------------------------------------------------------------------
    def manifests_deleted(self, digests: list[str]) -> None:
        """SECURITY_SCANNER_V4_MANIFEST_CLEANUP: delete the index reports of digests no repository
        holds any more. Runs in a background thread: a delete never waits for Clair."""
        if not self.cleanup or not digests:
            return
        threading.Thread(target=self._cleanup, args=(list(digests),), name="secscan-cleanup", daemon=True).start()

    def _cleanup(self, digests: list[str]) -> None:
        for digest in digests:
            try:
                if not self.store.digest_in_use(digest):
                    self.client.delete_index_report(digest)
                    log.info("security worker: deleted Clair's index report of %s", digest)
            except Exception as exc:
                log.warning("security worker: cannot delete Clair's index report of %s: %s", digest, _short(exc))


def _short(exc: BaseException) -> str:
    if isinstance(exc, ClairError):
        return exc.message
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "ClairBadRequest",
    "ClairClient",
    "ClairError",
    "ScannerUnavailable",
    "SecurityScanner",
    "decode_psk",
    "maybe_urlencoded",
    "parse_layer_size",
    "secscan_config_problems",
    "security_information",
    "sign_psk_jwt",
    "verify_psk_jwt",
]

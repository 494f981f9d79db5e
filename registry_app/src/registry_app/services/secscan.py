"""Security scanning through Clair v4, as Quay's ``secscan_v4_model`` does it: the domain side.

- ``security_information`` turns a Clair ``VulnerabilityReport`` into Quay's response shape
  (``data.Layer.Features[].Vulnerabilities[]``); pure, unit-tested.
- ``SecurityScanner`` decides what is indexed and how (Quay's three candidate queries, bounded
  retries, the index request with layer URLs and a short-lived pull token), pages through queued
  Clair notifications into ``vulnerability_found`` events, answers the API's security status and
  queues deleted manifests' digests for the Clair cleanup.
- Clair's HTTP API and the PSK JWTs are ``clients/clair.py``; the background rounds are workers
  (``workers/security.py``: indexing and notifications, one process at a time by a database
  lease; ``workers/clair_cleanup.py``: the cleanup queue).

Secrets (the PSK, Clair JWTs, registry pull tokens) are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from registry_app.clients.clair import (
    ClairBadRequest,
    ClairClient,
    ClairError,
    sign_psk_jwt,
    verify_psk_jwt,
)
from registry_app.db import secscan as db
from registry_app.db.secscan import Candidate, QueuedNotification, SecscanStore
from registry_app.db.store import ManifestRow, RepoRow
from registry_app.services import manifests as mf
from registry_app.services.auth import ANONYMOUS, AuthService, Scope
from registry_app.settings.scanner import ScannerSettings

log = logging.getLogger("registry_app.secscan")

DOWNLOAD_TOKEN_LIFETIME_S = 300  # how long Clair may use a layer URL's pull token
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


def _always() -> bool:
    return True


class SecurityScanner:
    """The scanning service. Its rounds (``index_round``, ``process_notifications``) run in the
    security worker, which passes ``proceed``: checked between manifests and notifications, it
    says stop when the worker is stopping or lost its lease."""

    def __init__(
        self, store: SecscanStore, auth: AuthService, settings: ScannerSettings, client: ClairClient | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.auth = auth
        self.client = client or ClairClient(settings.endpoint, settings.psk_key)
        self.webhook_key = settings.psk_key
        self.notifications = settings.notifications  # whether /secscan/notification is served
        self.scheme = settings.scheme
        self.hostname = settings.hostname
        # Set by the wiring to the in-process workers' wake(), so queued work starts at once there.
        self.on_notification_queued: Callable[[], None] | None = None
        self.on_cleanup_queued: Callable[[], None] | None = None

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

    # -- indexing ------------------------------------------------------------------------------
    def index_round(self, proceed: Callable[[], bool] = _always) -> int:
        """Index every candidate manifest once (one batch with SECURITY_SCANNER_V4_BATCH_SIZE);
        returns how many were sent to Clair. Stops early when ``proceed()`` is False."""
        try:
            state = self.client.index_state()
        except ClairError as exc:
            log.warning("security worker: Clair's index_state unavailable: %s", exc.message)
            return 0
        now = int(time.time() * 1000)
        settings = self.settings
        limit = settings.batch_size or BATCH
        reindex_before = now - settings.reindex_threshold_s * 1000
        after = 0
        sent = 0
        while proceed():
            batch = self.store.candidates(state, reindex_before, settings.max_retries, limit, after)
            if not batch:
                break
            for cand in batch:
                after = cand.manifest_id
                if not proceed():
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
            if settings.batch_size:
                break
        return sent

    def _backing_off(self, cand: Candidate, now: int) -> bool:
        st = cand.status
        if st is None or st.index_status != db.FAILED or st.retries == 0:
            return False
        if st.retries >= self.settings.max_retries:
            return False  # chosen because Clair's state changed: try again
        return now < st.last_indexed_ms + int(self.settings.interval_s * 1000) * (2 ** (st.retries - 1))

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
        max_size = self.settings.max_layer_size
        if max_size and any(int(x.get("size") or 0) > max_size for x in layers):
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
        if cand.status and cand.status.index_status == db.FAILED and retries >= self.settings.max_retries:
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
            if first and self.settings.notify_on_new_index:
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
        lowest = PRIORITY_SCORES.get(self.settings.min_severity_on_new_index, PRIORITY_SCORES["High"])
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
        if self.on_notification_queued is not None:
            self.on_notification_queued()

    def process_notifications(self, proceed: Callable[[], bool] = _always) -> int:
        handled = 0
        for queued in self.store.due_notifications():
            if not proceed():
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
                    delay = int(self.settings.interval_s * 1000) * (2 ** min(attempts, 6))
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
        """SECURITY_SCANNER_V4_MANIFEST_CLEANUP: queue the deleted manifests' digests; the
        clair-cleanup worker deletes Clair's index report of each digest no repository holds any
        more. A delete never waits for Clair, and a failure here never fails the delete."""
        if not self.settings.cleanup or not digests:
            return
        try:
            self.store.queue_cleanup(list(digests))
        except Exception as exc:
            log.warning("security scanner: cannot queue %d digests for Clair's cleanup: %s", len(digests), _short(exc))
            return
        if self.on_cleanup_queued is not None:
            self.on_cleanup_queued()

    def clean_up(self, digest: str) -> bool:
        """Delete Clair's index report of ``digest`` unless a repository still holds a manifest
        with it (Clair's reports are shared by digest). True when it was deleted; raises
        ClairError when Clair failed."""
        if self.store.digest_in_use(digest):
            return False
        self.client.delete_index_report(digest)
        log.info("security worker: deleted Clair's index report of %s", digest)
        return True


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
    "maybe_urlencoded",
    "security_information",
    "sign_psk_jwt",
    "verify_psk_jwt",
]

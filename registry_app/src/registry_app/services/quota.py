"""Namespace quotas (Quay's FEATURE_QUOTA_MANAGEMENT): the quota and its limits, consumption
reports, and the check a push passes.

Quay's rules, kept: one quota per namespace; limits are ``Warning`` or ``Reject`` at 1-100 percent
of the quota; a quota without limits refuses nothing; without a quota,
DEFAULT_SYSTEM_REJECT_QUOTA_BYTES (0: none) is a Reject limit at 100 %. A push is refused once the
namespace's consumption would reach a Reject limit (``usage >= bytes``, Quay's ``check_limits``):
a blob upload when the namespace's consumption plus the repository's uploads in progress reaches it,
a manifest when the namespace's consumption plus the new blobs it references would. The refusal is
Quay's ``DENIED`` 403 "Quota has been exceeded on namespace", which podman and docker print.

Events (Quay's payloads, in ``repository_event`` for the notifications worker): ``quota_warning``
when an accepted manifest takes consumption across a Warning limit, ``quota_error`` when a push is
refused (at most one undelivered per repository).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from registry_app.db.quota import LimitRow, QuotaRow, QuotaStore
from registry_app.db.store import RepoRow
from registry_app.services.errors import RegistryError
from registry_app.settings.quota import QuotaSettings

QUOTA_TYPES = ("Warning", "Reject")
QUOTA_EXCEEDED = "Quota has been exceeded on namespace"  # Quay's endpoints/v2/errors.py QuotaExceeded


class QuotaExceeded(RegistryError):
    """A push that would pass a Reject limit (Quay's ``QuotaExceeded``: DENIED, 403)."""

    code = "DENIED"
    status = 403


class QuotaError(Exception):
    """A quota request the API refuses: ``status`` 400 (invalid) or 404 (no such quota or limit)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limit:
    id: int
    type: str
    limit_percent: int


@dataclass(frozen=True)
class Quota:
    """A namespace's quota; ``id`` None for the system default (DEFAULT_SYSTEM_REJECT_QUOTA_BYTES)."""

    id: int | None
    limit_bytes: int
    limits: tuple[Limit, ...]
    default_config: bool


@dataclass(frozen=True)
class Check:
    """Quay's ``check_limits`` result for a consumption."""

    usage_bytes: int
    quota_limit_bytes: int
    limit_bytes: int  # bytes of the highest limit reached (0: none)
    severity_level: str | None  # "Warning", "Reject" or None
    threshold_percent: int | None


_UNITS = {
    "": 1, "B": 1,
    "K": 1024, "KI": 1024, "KIB": 1024, "KB": 1000,
    "M": 1024**2, "MI": 1024**2, "MIB": 1024**2, "MB": 1000**2,
    "G": 1024**3, "GI": 1024**3, "GIB": 1024**3, "GB": 1000**3,
    "T": 1024**4, "TI": 1024**4, "TIB": 1024**4, "TB": 1000**4,
    "P": 1024**5, "PI": 1024**5, "PIB": 1024**5, "PB": 1000**5,
}  # fmt: skip
_LIMIT = re.compile(r"^(\d+)\s?([A-Za-z]*)$")
MAX_LIMIT_BYTES = 2**63 - 1  # a signed 64-bit column in both databases


def parse_limit(text: str) -> int:
    """Quay's human-readable ``limit`` ("10 GiB", "500MB", "2G"): binary units for K/Ki/KiB...,
    decimal for KB, MB, ... (ValueError for anything else)."""
    found = _LIMIT.match(text.strip())
    if not found or found.group(2).upper() not in _UNITS:
        raise ValueError(text)
    return int(found.group(1)) * _UNITS[found.group(2).upper()]


def human_bytes(n: int) -> str:
    """bitmath's ``best_prefix().format("{value:.1f} {unit}")`` as Quay's ``limit`` shows it."""
    value = float(n)
    for unit in ("Byte", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def formatted_bytes(n: int) -> str:
    """Quay's ``_format_bytes`` (the quota events' ``*_formatted`` fields)."""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _limit(row: LimitRow) -> Limit:
    return Limit(row.id, row.quota_type, row.percent_of_limit)


def _quota_type(name: str) -> str:
    for known in QUOTA_TYPES:
        if name.lower() == known.lower():
            return known
    raise QuotaError(400, "Quota type must be one of [Warning, Reject]")


def _percent(value: int) -> int:
    if not 0 < value <= 100:
        raise QuotaError(400, "Quota limit threshold must be between 1 and 100")
    return value


def _limit_bytes(value: int) -> int:
    if not 0 < value <= MAX_LIMIT_BYTES:
        raise QuotaError(400, f"Invalid quota size limit value: '{value}'")
    return value


class QuotaService:
    def __init__(self, store: QuotaStore, settings: QuotaSettings) -> None:
        self.store = store
        self.settings = settings

    # -- quotas and limits -------------------------------------------------------------------------
    def _view(self, row: QuotaRow) -> Quota:
        return Quota(row.id, row.limit_bytes, tuple(_limit(r) for r in self.store.limits(row.id)), False)

    def quotas(self, namespace_id: int, with_default: bool = True) -> list[Quota]:
        """The namespace's quota; without one, the system default when there is one (Quay's list)."""
        row = self.store.quota(namespace_id)
        if row is not None:
            return [self._view(row)]
        if with_default and self.settings.default_reject_bytes:
            return [Quota(None, self.settings.default_reject_bytes, (), True)]
        return []

    def quota(self, namespace_id: int, quota_id: int) -> Quota:
        row = self.store.quota(namespace_id)
        if row is None or row.id != quota_id:
            raise QuotaError(404, "Not Found")
        return self._view(row)

    def create(self, namespace_id: int, namespace: str, limit_bytes: int) -> Quota:
        created = self.store.create_quota(namespace_id, _limit_bytes(limit_bytes))
        if created is None:
            raise QuotaError(400, f"Organization quota for '{namespace}' already exists")
        return self._view(created)

    def change(self, namespace_id: int, quota_id: int, limit_bytes: int) -> Quota:
        self.quota(namespace_id, quota_id)
        self.store.set_limit_bytes(quota_id, _limit_bytes(limit_bytes))
        return self.quota(namespace_id, quota_id)

    def delete(self, namespace_id: int, quota_id: int) -> Quota:
        quota = self.quota(namespace_id, quota_id)
        self.store.delete_quota(quota_id)
        return quota

    def limit(self, namespace_id: int, quota_id: int, limit_id: int) -> Limit:
        for found in self.quota(namespace_id, quota_id).limits:
            if found.id == limit_id:
                return found
        raise QuotaError(404, "Not Found")

    def add_limit(self, namespace_id: int, quota_id: int, quota_type: str, percent: int) -> Limit:
        quota = self.quota(namespace_id, quota_id)
        kind, percent = _quota_type(quota_type), _percent(percent)
        if any(lim.type == kind and lim.limit_percent == percent for lim in quota.limits):
            raise QuotaError(400, "Quota limit already exists")
        if kind == "Reject" and any(lim.type == "Reject" for lim in quota.limits):
            raise QuotaError(400, "Only one quota limit of type 'Reject' allowed.")
        created = self.store.create_limit(quota_id, kind, percent)
        if created is None:  # a concurrent request made the same one
            raise QuotaError(400, "Quota limit already exists")
        return _limit(created)

    def change_limit(
        self, namespace_id: int, quota_id: int, limit_id: int, quota_type: str | None, percent: int | None
    ) -> Limit:
        quota = self.quota(namespace_id, quota_id)
        current = self.limit(namespace_id, quota_id, limit_id)
        kind = current.type if quota_type is None else _quota_type(quota_type)
        pct = current.limit_percent if percent is None else _percent(percent)
        others = [lim for lim in quota.limits if lim.id != limit_id]
        if kind == "Reject" and any(lim.type == "Reject" for lim in others):
            raise QuotaError(400, "Only one quota limit of type 'Reject' allowed.")
        if not self.store.update_limit(limit_id, kind, pct):
            raise QuotaError(400, "Quota limit already exists")
        return Limit(limit_id, kind, pct)

    def delete_limit(self, namespace_id: int, quota_id: int, limit_id: int) -> Limit:
        found = self.limit(namespace_id, quota_id, limit_id)
        self.store.delete_limit(limit_id)
        return found

    # -- consumption -------------------------------------------------------------------------------
    def configured_bytes(self, namespace_id: int) -> int | None:
        """The quota's bytes, the system default's, or None (Quay's ``configured_quota``)."""
        row = self.store.quota(namespace_id)
        if row is not None:
            return row.limit_bytes
        return self.settings.default_reject_bytes or None

    def namespace_report(self, namespace_id: int) -> dict[str, Any]:
        """Quay's ``quota_report`` of a user or organization. Consumption is computed when asked, so
        the backfill Quay reports is always complete."""
        return {
            "quota_bytes": self.store.namespace_size(namespace_id),
            "configured_quota": self.configured_bytes(namespace_id),
            "running_backfill": "complete",
            "backfill_status": "complete",
        }

    def repository_reports(self, repos: list[tuple[int, int]]) -> dict[int, dict[str, Any]]:
        """Quay's per-repository ``quota_report`` for (repository id, namespace id) pairs."""
        sizes = self.store.repository_sizes([rid for rid, _ in repos])
        configured: dict[int, int | None] = {}
        for _, ns in repos:
            if ns not in configured:
                configured[ns] = self.configured_bytes(ns)
        return {rid: {"quota_bytes": sizes[rid], "configured_quota": configured[ns]} for rid, ns in repos}

    def check(self, namespace_id: int, usage: int) -> Check:
        """Quay's ``check_limits``: the highest limit that ``usage`` reaches."""
        row = self.store.quota(namespace_id)
        if row is None:
            default = self.settings.default_reject_bytes
            hit = default > 0 and usage >= default
            return Check(usage, default, default, "Reject" if hit else None, 100 if hit else None)
        reached = 0
        severity: str | None = None
        threshold: int | None = None
        for lim in self.store.limits(row.id):
            allowed = row.limit_bytes * lim.percent_of_limit // 100
            if usage >= allowed and reached < allowed:
                reached, severity, threshold = allowed, lim.quota_type, lim.percent_of_limit
        return Check(usage, row.limit_bytes, reached, severity, threshold)

    # -- the push checks ---------------------------------------------------------------------------
    def check_upload(self, repo: RepoRow) -> None:
        """Before a blob upload takes bytes: refused (QuotaExceeded) when the namespace's consumption
        plus the repository's uploads in progress reaches a Reject limit."""
        if not self.settings.enabled:
            return
        usage = self.store.namespace_size(repo.namespace_id) + self.store.uploads_bytes(repo.id)
        result = self.check(repo.namespace_id, usage)
        if result.severity_level == "Reject":
            self._event("quota_error", repo, result, once=True)
            raise QuotaExceeded(QUOTA_EXCEEDED, {})

    def check_manifest(self, repo: RepoRow, blob_digests: list[str]) -> Check | None:
        """Before a manifest is stored: refused when the namespace's consumption with the blobs it
        adds would reach a Reject limit. Returns the check, for ``after_manifest``."""
        if not self.settings.enabled:
            return None
        before = self.store.namespace_size(repo.namespace_id)
        after = before + self.store.added_bytes(repo.namespace_id, blob_digests)
        result = self.check(repo.namespace_id, after)
        if result.severity_level == "Reject":
            self._event("quota_error", repo, result, once=True)
            raise QuotaExceeded(QUOTA_EXCEEDED, {})
        if after > before and result.severity_level == "Warning":
            if self.check(repo.namespace_id, before).threshold_percent != result.threshold_percent:
                self._event("quota_warning", repo, result)  # crossed a Warning limit upward
        return result

    def _event(self, kind: str, repo: RepoRow, result: Check, once: bool = False) -> None:
        """Quay's namespace event data (``build_namespace_event_data``) with the quota fields."""
        s = self.settings
        limit = result.quota_limit_bytes
        payload = {
            "namespace": repo.namespace,
            "homepage": f"{s.scheme}://{s.hostname}/organization/{repo.namespace}",
            "threshold_percent": result.threshold_percent,
            "usage_bytes": result.usage_bytes,
            "limit_bytes": limit,
            "usage_percent": result.usage_bytes * 100 // limit if limit else 0,
            "usage_bytes_formatted": formatted_bytes(result.usage_bytes),
            "limit_bytes_formatted": formatted_bytes(limit),
        }
        self.store.record_event(kind, repo.id, payload, once=once)


__all__ = [
    "QUOTA_EXCEEDED",
    "QUOTA_TYPES",
    "Check",
    "Limit",
    "Quota",
    "QuotaError",
    "QuotaExceeded",
    "QuotaService",
    "QuotaSettings",
    "formatted_bytes",
    "human_bytes",
    "parse_limit",
]

"""/api/v1/repository/{namespace}/{repository}/manifest/{digest}/security: a manifest's scan status
and vulnerabilities from Clair, as Quay's endpoints/api/secscan.py answers (only with
FEATURE_SECURITY_SCANNER, like Quay's ``show_if``; otherwise the path does not exist)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry_app.http import incidents
from registry_app.http.api.common import ApiError, Caller, Ctx
from registry_app.http.api.manifest import BASE, _manifest
from registry_app.services.secscan import ClairError, ScannerUnavailable

router = APIRouter(tags=["secscan"])

TRUTHY = {"true", "1", "yes", "y", "t", "on"}


@router.get(BASE + "/security", summary="Security scan status and vulnerabilities of a manifest")
def get_repo_manifest_security(
    namespace: str,
    repository: str,
    manifestref: str,
    ident: Caller,
    ctx: Ctx,
    vulnerabilities: str = "false",
    raw: str = "false",
) -> Any:
    """Quay's ``getRepoManifestSecurity``: ``{"status": queued|scanned|failed|unsupported|
    manifest_layer_too_large, "data": {"Layer": {..., "Features": [...]}} or null}`` (read access).
    Clair unreachable: Quay's DownstreamIssue (520, ``downstream_issue``). ``raw=true`` returns
    Clair's own vulnerability report."""
    scanner = ctx.secscan
    assert scanner is not None  # the router is only included with FEATURE_SECURITY_SCANNER
    _repo, manifest = _manifest(ctx, ident, namespace, repository, manifestref, "read")
    try:
        result = scanner.security_status(manifest)
        if raw.strip().lower() in TRUTHY and result["status"] == "scanned":
            return scanner.client.vulnerability_report(manifest.digest)
    except (ScannerUnavailable, ClairError) as exc:
        # Quay's DownstreamIssue; Clair's words (its address, its error text) are only logged.
        ref = incidents.log_incident(f"security scanner request for {manifest.digest} failed", str(exc))
        message = incidents.public_message("the security scanner is unavailable", ref)
        raise ApiError(520, message, "downstream_issue") from None
    # ``vulnerabilities`` is accepted as Quay does; with Clair v4 the data is the same either way.
    del vulnerabilities
    return result

"""Pull statistics (``FEATURE_IMAGE_PULL_STATS``), as Quay's endpoints/api/tag.py
(``getTagPullStatistics``) and endpoints/api/manifest.py (``getManifestPullStatistics``) answer:
the counts the pull-stats worker has written to the database (a pull shows up within a round or
two of that worker, as in Quay)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx
from registry_app.http.api.manifest import _lookup
from registry_app.http.api.tag import format_date, repository_for, tag_service
from registry_app.services.pull_stats import PullStats

router = APIRouter(tags=["tag", "manifest"])


def _stats(ctx: ApiContext) -> PullStats:
    stats = ctx.registry.pull_stats
    if stats is None:  # the router is only mounted with the feature on
        raise ApiError(404, "pull statistics are off", "not_found")
    return stats


def _date(ms: int | None) -> str | None:
    return format_date(ms / 1000) if ms is not None else None


@router.get(
    "/repository/{namespace}/{repository}/tag/{tag}/pull_statistics", summary="Pull statistics of a tag"
)
def get_tag_pull_statistics(namespace: str, repository: str, tag: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    repo = repository_for(ctx, ident, namespace, repository, "read")
    live = tag_service(ctx).live_tag(repo, tag)
    if live is None:
        raise ApiError(404, f"no tag {tag!r}", "not_found")
    stats = _stats(ctx)
    tag_stats = stats.tag(repo.id, tag)
    manifest_stats = stats.manifest(repo.id, live.manifest_digest)
    return {
        "tag_name": tag,
        "tag_pull_count": tag_stats.pull_count,
        "last_tag_pull_date": _date(tag_stats.last_pull_ms),
        "current_manifest_digest": tag_stats.manifest_digest or live.manifest_digest,
        "manifest_pull_count": manifest_stats.pull_count,
        "last_manifest_pull_date": _date(manifest_stats.last_pull_ms),
    }


@router.get(
    "/repository/{namespace}/{repository}/manifest/{manifestref}/pull_statistics",
    summary="Pull statistics of a manifest",
)
def get_manifest_pull_statistics(
    namespace: str, repository: str, manifestref: str, ident: Caller, ctx: Ctx
) -> dict[str, Any]:
    repo = repository_for(ctx, ident, namespace, repository, "read")
    manifest = _lookup(ctx, repo, manifestref)
    stats = _stats(ctx).manifest(repo.id, manifest.digest)
    return {
        "manifest_digest": manifest.digest,
        "manifest_pull_count": stats.pull_count,
        "last_manifest_pull_date": _date(stats.last_pull_ms),
    }

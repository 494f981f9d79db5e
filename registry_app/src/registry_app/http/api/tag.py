"""/api/v1/repository/{namespace}/{repository}/tag: tag history, moves, expiration, deletion and
restoring (Quay's "time machine"), as Quay's endpoints/api/tag.py answers them."""

from __future__ import annotations

import math
from email.utils import formatdate
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from registry_app.db.store import RepoRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, PageNumber, QueryInt
from registry_app.http.api.repository import audit_repo, authorize
from registry_app.services.auth import Identity
from registry_app.services.tags import TagRecord, TagService

router = APIRouter(tags=["tag"])

FALSE_WORDS = frozenset({"false", "False", "0", "FALSE", "", "null"})  # Quay's truthy_bool


def tag_service(ctx: ApiContext) -> TagService:
    return TagService(
        ctx.registry.store,
        ctx.registry.storage,
        ctx.settings.tags,
        immutable_can_expire=ctx.settings.tag_policy.immutable_can_expire,
    )


def repository_for(ctx: ApiContext, ident: Identity, namespace: str, name: str, need: str) -> RepoRow:
    """The repository, if the caller holds ``need`` (read, write, admin) on it (see
    repository.authorize: 401/403 before 404, as in Quay). Changes (``need`` above read) are
    refused with 503 while the repository is not in the NORMAL state (read-only, mirror)."""
    info, _role = authorize(ctx, ident, namespace, name, need)
    if need != "read" and info.state != "NORMAL":
        raise ApiError(503, f"Repository is in read only or mirror mode: {info.state}", "invalid_request")
    return info.row


def format_date(seconds: float | None) -> str | None:
    """Quay's RFC 2822 dates (``Mon, 01 Jan 2024 00:00:00 -0000``)."""
    return None if seconds is None else formatdate(int(seconds))


def tag_view(record: TagRecord, immutable_tags: bool = True) -> dict[str, Any]:
    row = record.row
    start_ts = row.lifetime_start_ms // 1000
    end_ms = row.end_ms
    end_ts = end_ms // 1000 if end_ms is not None else None
    out: dict[str, Any] = {"name": row.name, "reversion": False}
    if immutable_tags:  # Quay 3.17 shows the flag while FEATURE_IMMUTABLE_TAGS is on
        out["immutable"] = row.immutable
    if start_ts > 0:
        out["start_ts"] = start_ts
    if end_ts:
        out["end_ts"] = end_ts
    out["manifest_digest"] = row.manifest_digest
    out["is_manifest_list"] = record.is_manifest_list
    out["size"] = record.size
    if start_ts > 0:
        out["last_modified"] = format_date(start_ts)
    if end_ts is not None:
        out["expiration"] = format_date(end_ts)
    return out


@router.get("/repository/{namespace}/{repository}/tag/", summary="Tag history of a repository")
def list_repo_tags(
    namespace: str,
    repository: str,
    ident: Caller,
    ctx: Ctx,
    onlyActiveTags: str = "false",
    page: PageNumber = 1,
    limit: QueryInt = 50,
    specificTag: str = "",
    filter_tag_name: str = "",
) -> dict[str, Any]:
    """Quay's ``listRepoTags``: every tag row, live and ended, newest first (``onlyActiveTags``
    keeps live ones); ``end_ts``/``expiration`` appear on ended and expiring rows."""
    repo = repository_for(ctx, ident, namespace, repository, "read")
    page = max(1, page)
    records, more = tag_service(ctx).history(
        repo, page, limit, specificTag or None, filter_tag_name or None, onlyActiveTags not in FALSE_WORDS
    )
    on = ctx.tag_policy is not None and ctx.tag_policy.settings.immutable_tags
    return {"tags": [tag_view(r, on) for r in records], "page": page, "has_additional": more}


@router.put("/repository/{namespace}/{repository}/tag/{tag}", summary="Move a tag or change its expiration")
def change_tag(
    namespace: str,
    repository: str,
    tag: str,
    body: Annotated[dict[str, Any], Body()],
    ident: Caller,
    ctx: Ctx,
    request: Request,
) -> JSONResponse:
    """Quay's ``changeTag``: ``expiration`` (Unix seconds, or null to clear) changes the live tag's
    expiration; ``immutable`` (Quay 3.17; write permission sets it, admin permission unsets it)
    makes the tag immutable or not; ``manifest_digest`` points the tag (created if needed) at a
    manifest of the repository, without expiration. An immutable tag is neither moved nor given
    an expiration (409 ``tag_immutable``). Answers 201 "Updated"."""
    repo = repository_for(ctx, ident, namespace, repository, "write")
    svc = tag_service(ctx)
    svc.check_tag_name(tag)
    common = {"username": ident.username, "repo": repository, "tag": tag, "namespace": namespace}
    if "expiration" in body:
        expiration = body["expiration"]
        if expiration is not None and (
            isinstance(expiration, bool)
            or not isinstance(expiration, int | float)
            or (isinstance(expiration, float) and not math.isfinite(expiration))
        ):
            raise ApiError(400, "expiration: must be a number (Unix seconds) or null")
        old_ms, _new_ms = svc.change_expiration(repo, tag, expiration)
        if not (old_ms is None and expiration is None):
            audit_repo(
                ctx,
                request,
                ident,
                "change_tag_expiration",
                repo,
                {
                    **common,
                    "expiration_date": int(expiration) if expiration is not None else None,
                    "old_expiration_date": old_ms,
                },
            )
    if "immutable" in body and ctx.tag_policy is not None and ctx.tag_policy.settings.immutable_tags:
        change_immutability(ctx, request, ident, repo, namespace, repository, tag, body["immutable"])
    if "manifest_digest" in body:
        digest = body["manifest_digest"]
        if digest is not None and not isinstance(digest, str):
            raise ApiError(400, "manifest_digest: must be a string")
        before = svc.retarget(repo, tag, digest)
        if ctx.tag_policy is not None:
            ctx.tag_policy.tags_created(repo, [tag])
        audit_repo(
            ctx,
            request,
            ident,
            "move_tag" if before is not None else "create_tag",
            repo,
            {**common, "manifest_digest": digest, "original_manifest_digest": before},
        )
    return JSONResponse("Updated", status_code=201)


def change_immutability(
    ctx: ApiContext,
    request: Request,
    ident: Identity,
    repo: RepoRow,
    namespace: str,
    repository: str,
    tag: str,
    immutable: Any,
) -> None:
    """The ``immutable`` field of changeTag, logged as Quay's ``change_tag_immutability``."""
    if not isinstance(immutable, bool):
        raise ApiError(400, "immutable: must be a boolean")
    live = tag_service(ctx).live_tag(repo, tag)
    if live is None:
        raise ApiError(404, "Not Found", "not_found")
    if not immutable and live.immutable:
        authorize(ctx, ident, namespace, repository, "admin")  # unsetting needs the admin role
    previous = ctx.tag_policy.set_immutable(repo, tag, immutable, live.expiration_ms is not None)
    if previous == immutable:
        return
    audit_repo(
        ctx,
        request,
        ident,
        "change_tag_immutability",
        repo,
        {
            "username": ident.username,
            "repo": repository,
            "tag": tag,
            "namespace": namespace,
            "immutable": immutable,
            "previous_immutable": previous,
        },
    )


@router.delete("/repository/{namespace}/{repository}/tag/{tag}", summary="Delete a tag (its history is kept)")
def delete_tag(namespace: str, repository: str, tag: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    repo = repository_for(ctx, ident, namespace, repository, "write")
    tag_service(ctx).delete(repo, tag)
    audit_repo(
        ctx,
        request,
        ident,
        "delete_tag",
        repo,
        {"username": ident.username, "repo": repository, "namespace": namespace, "tag": tag},
    )
    return Response(status_code=204)


@router.post("/repository/{namespace}/{repository}/tag/{tag}/restore", summary="Point a tag at an earlier manifest")
def restore_tag(
    namespace: str,
    repository: str,
    tag: str,
    body: Annotated[dict[str, Any], Body()],
    ident: Caller,
    ctx: Ctx,
    request: Request,
) -> dict[str, Any]:
    """Quay's ``restoreTag``: the tag points again at ``manifest_digest``, which must still be in
    the repository (tagged or not)."""
    repo = repository_for(ctx, ident, namespace, repository, "write")
    digest = body.get("manifest_digest")
    if digest is None:
        raise ApiError(400, "Missing manifest_digest")
    if not isinstance(digest, str):
        raise ApiError(400, "manifest_digest: must be a string")
    svc = tag_service(ctx)
    svc.check_tag_name(tag)
    svc.retarget(repo, tag, digest)
    if ctx.tag_policy is not None:
        ctx.tag_policy.tags_created(repo, [tag])
    audit_repo(
        ctx,
        request,
        ident,
        "revert_tag",
        repo,
        {"username": ident.username, "repo": repository, "tag": tag, "manifest_digest": digest},
    )
    return {}


__all__ = ["format_date", "repository_for", "router", "tag_service"]

"""/api/v1/repository: create, list, show, describe, delete and change the visibility of repositories.

Permission checks come before existence checks, as in Quay: a caller without the needed role gets
401 (anonymous) or 403 (signed in) whether or not the repository exists; only callers who would be
allowed see 404 for a missing one. Repository paths are ``namespace/name`` with a one-component name.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from registry_app.db.repositories import RepoInfo, RepositoryStore
from registry_app.db.store import RepoRow
from registry_app.http.api.common import (
    ApiContext,
    ApiError,
    Caller,
    Ctx,
    client_ip,
    decode_page_token,
    encode_page_token,
)
from registry_app.services.auth import ROLE_ORDER, Identity
from registry_app.services.names import COMPONENT, MAX_NAME

router = APIRouter(tags=["repository"])

REPOS_PER_PAGE = 100  # Quay's page size for repository listings
MAX_TAGS = 500  # tags shown by GET /repository/{repo}, as Quay
DEFAULT_TAG_EXPIRATION_S = 1209600  # Quay's default time machine window (two weeks)
POPULARITY_WINDOW_MS = 7 * 24 * 3600 * 1000
POPULARITY_KINDS = ("pull_repo",)
# The API-token scopes that let a caller use a role (a token with repo:admin may also read).
ROLE_SCOPES = {
    "read": ("repo:read", "repo:write", "repo:admin"),
    "write": ("repo:write", "repo:admin"),
    "admin": ("repo:admin",),
}


# -- shared with permission.py --------------------------------------------------------------------
def repositories(ctx: ApiContext) -> RepositoryStore:
    return RepositoryStore(ctx.registry.store.engine)


def denied(ident: Identity) -> ApiError:
    """Quay's ``Unauthorized``: 401 for anonymous callers, 403 for signed-in ones."""
    if ident.anonymous:
        return ApiError(401, "Requires authentication", "invalid_token")
    return ApiError(403, "Unauthorized", "insufficient_scope")


def scope_allows(ident: Identity, need: str) -> bool:
    return ident.scopes is None or any(s in ident.scopes for s in ROLE_SCOPES[need])


def authorize(ctx: ApiContext, ident: Identity, namespace: str, name: str, need: str) -> tuple[RepoInfo, str]:
    """The repository and the caller's role on it, which is at least ``need``."""
    info = repositories(ctx).get(namespace, name)
    role = ctx.auth.role(ident, namespace, info.row if info is not None else None)
    if ROLE_ORDER[role] < ROLE_ORDER[need] or not scope_allows(ident, need):
        raise denied(ident)
    if info is None or role is None:
        raise ApiError(404, "Not Found")
    return info, role


def audit_repo(
    ctx: ApiContext, request: Request, ident: Identity, kind: str, info: RepoInfo | RepoRow, metadata: dict[str, Any]
) -> None:
    """One audit entry about a repository (used by every repository-scoped endpoint module)."""
    ctx.audit.record(
        kind,
        account_id=info.namespace_id,
        performer_id=ident.user_id,
        repository_id=info.id,
        ip=client_ip(request),
        metadata=metadata,
    )


# -- formatting -----------------------------------------------------------------------------------
def quay_date(ms: int) -> str:
    """Quay's ``format_date``: RFC 2822 in UTC, e.g. ``Tue, 05 Mar 2024 10:00:00 -0000``."""
    return formatdate(ms / 1000)


def truthy(value: str | None) -> bool:
    """Quay's ``truthy_bool`` for query parameters."""
    return value is not None and value not in ("false", "False", "FALSE", "0", "", "null")




def valid_repository_name(name: str) -> bool:
    return len(name) <= MAX_NAME and COMPONENT.fullmatch(name) is not None


# -- endpoints ------------------------------------------------------------------------------------
class NewRepo(BaseModel):
    repository: str
    visibility: Literal["public", "private"]
    namespace: str | None = None
    description: str | None = None
    repo_kind: Literal["image", "application"] | None = None


@router.post("/repository", status_code=201, summary="Create a repository")
def create_repo(body: NewRepo, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Quay's ``createRepo``. The namespace defaults to the caller's; the creator gets an explicit
    admin role on the new repository. API tokens need the ``repo:create`` scope."""
    if ident.anonymous:
        raise denied(ident)
    namespace = body.namespace or ident.username or ""
    ns = ctx.auth.identities.get(namespace)
    if not ctx.auth.can_create(ident, namespace, ns is not None):
        raise denied(ident)
    if ns is None or ns.robot:
        raise ApiError(400, f"Namespace {namespace} does not exist")
    store = repositories(ctx)
    if store.get(namespace, body.repository) is not None:
        raise ApiError(400, "Repository already exists")
    if not valid_repository_name(body.repository):
        raise ApiError(400, "Invalid repository name")
    kind = body.repo_kind or "image"
    if kind != "image":
        raise ApiError(400, "Application repositories are not supported")
    info = store.create(ns.id, body.repository, body.visibility, body.description, kind, ident.user_id)
    if info is None:  # created concurrently
        raise ApiError(400, "Repository already exists")
    audit_repo(ctx, request, ident, "create_repo", info, {"repo": info.name, "namespace": namespace})
    return {"namespace": namespace, "name": info.name, "kind": kind}


@router.get("/repository", summary="List the repositories visible to the caller")
def list_repos(
    ident: Caller,
    ctx: Ctx,
    namespace: str | None = None,
    starred: str | None = None,
    public: str | None = None,
    last_modified: str | None = None,
    popularity: str | None = None,
    repo_kind: str = "image",
    next_page: str | None = None,
) -> dict[str, Any]:
    """Quay's ``listRepos``: repositories the caller has a role on (``public=true`` adds every
    public one), optionally in one namespace, in pages of ``REPOS_PER_PAGE`` linked by
    ``next_page``. Stars are not kept: ``starred=true`` lists nothing."""
    want_starred, want_public = truthy(starred), truthy(public)
    if not namespace and not want_starred and not want_public:
        raise ApiError(400, "namespace, starred or public are required for this API call")
    if not scope_allows(ident, "read"):
        raise denied(ident)
    if want_starred and ident.anonymous:
        raise ApiError(400, "starred requires a signed-in user")
    if ident.anonymous and not ctx.auth.anonymous_access:
        raise denied(ident)
    if want_starred:
        return {"repositories": []}
    store = repositories(ctx)
    everything = ident.superuser or ctx.auth.anonymous_push
    found = store.visible(
        user_id=ident.user_id,
        everything=everything,
        include_public=want_public,
        namespace=namespace or None,
        kind=repo_kind,
        after_id=decode_page_token(next_page, "start_id"),
        limit=REPOS_PER_PAGE + 1,
    )
    page, more = found[:REPOS_PER_PAGE], len(found) > REPOS_PER_PAGE
    ids = [r.id for r in page]
    modified = store.last_modified(ids) if truthy(last_modified) else {}
    counts = (
        store.action_counts(ids, POPULARITY_KINDS, int(time.time() * 1000) - POPULARITY_WINDOW_MS)
        if truthy(popularity)
        else {}
    )
    items = []
    for r in page:
        item: dict[str, Any] = {
            "namespace": r.namespace,
            "name": r.name,
            "description": r.description,
            "is_public": r.public,
            "kind": r.kind,
            "state": r.state,
        }
        if truthy(last_modified):
            ms = modified.get(r.id)
            item["last_modified"] = ms // 1000 if ms is not None else None
        if truthy(popularity):
            item["popularity"] = float(counts.get(r.id, 0))
        if not ident.anonymous:
            item["is_starred"] = False
        items.append(item)
    if ctx.quota is not None:  # Quay's add_quota_view (FEATURE_QUOTA_MANAGEMENT)
        reports = ctx.quota.repository_reports([(r.id, r.namespace_id) for r in page])
        for r, item in zip(page, items, strict=True):
            item["quota_report"] = reports[r.id]
    out: dict[str, Any] = {"repositories": items}
    if more:
        out["next_page"] = encode_page_token("start_id", page[-1].id)
    return out


@router.get("/repository/{namespace}/{repository}", summary="Show a repository")
def get_repo(namespace: str, repository: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    """Quay's ``getRepo``, with up to ``MAX_TAGS`` live tags."""
    info, role = authorize(ctx, ident, namespace, repository, "read")
    tags: dict[str, Any] = {}
    for t in repositories(ctx).live_tags(info.id, MAX_TAGS):
        tag: dict[str, Any] = {"name": t.name, "image_id": None, "size": t.size}
        if t.lifetime_start_ms > 0:
            tag["last_modified"] = quay_date(t.lifetime_start_ms)
        if t.expiration_ms:
            tag["expiration"] = quay_date(t.expiration_ms)
        tag["manifest_digest"] = t.manifest_digest
        tags[t.name] = tag
    view: dict[str, Any] = {
        "namespace": info.namespace,
        "name": info.name,
        "kind": info.kind,
        "description": info.description,
        "is_public": info.public,
        "is_organization": info.namespace_is_org,
        "is_starred": False,
        "status_token": "",
        "trust_enabled": False,
        "tag_expiration_s": info.namespace_tag_expiration_s or DEFAULT_TAG_EXPIRATION_S,
        "is_free_account": True,
        "state": info.state,
        "tags": tags,
        "can_write": ROLE_ORDER[role] >= ROLE_ORDER["write"] and info.state == "NORMAL",
        "can_admin": role == "admin",
    }
    if ctx.quota is not None:  # as in Quay's repository list (registry_app also shows it here)
        view["quota_report"] = ctx.quota.repository_reports([(info.id, info.namespace_id)])[info.id]
    return view


class RepoUpdate(BaseModel):
    description: str


@router.put("/repository/{namespace}/{repository}", summary="Change a repository's description")
def update_repo(
    namespace: str, repository: str, body: RepoUpdate, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    """Quay's ``updateRepo`` (write role)."""
    info, _ = authorize(ctx, ident, namespace, repository, "write")
    repositories(ctx).set_description(info.id, body.description)
    audit_repo(
        ctx,
        request,
        ident,
        "set_repo_description",
        info,
        {"repo": info.name, "namespace": info.namespace, "description": body.description},
    )
    return {"success": True}


@router.delete("/repository/{namespace}/{repository}", status_code=204, summary="Delete a repository")
def delete_repo(namespace: str, repository: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    """Quay's ``deleteRepository`` (admin role): tags, manifests and permissions go at once; blob
    files stay in storage for garbage collection."""
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    digests = ctx.secscan.store.repository_digests(info.id) if ctx.secscan is not None else []
    if not repositories(ctx).delete(info.id):
        raise ApiError(404, "Not Found")
    if ctx.secscan is not None:
        ctx.secscan.manifests_deleted(digests)  # Clair's index reports, in the background
    audit_repo(ctx, request, ident, "delete_repo", info, {"repo": info.name, "namespace": info.namespace})
    return Response(status_code=204)


class ChangeVisibility(BaseModel):
    visibility: Literal["public", "private"]


@router.post("/repository/{namespace}/{repository}/changevisibility", summary="Make a repository public or private")
def change_visibility(
    namespace: str, repository: str, body: ChangeVisibility, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    """Quay's ``changeRepoVisibility`` (admin role). Pulls see the change at once."""
    info, _ = authorize(ctx, ident, namespace, repository, "admin")
    ctx.registry.store.set_visibility(info.id, body.visibility)
    audit_repo(
        ctx,
        request,
        ident,
        "change_repo_visibility",
        info,
        {"repo": info.name, "namespace": info.namespace, "visibility": body.visibility},
    )
    return {"success": True}

"""Quay's namespace quota API (FEATURE_QUOTA_MANAGEMENT; absent without it, as Quay's ``show_if``).

- ``/organization/{org}/quota[/{id}[/limit[/{limit_id}]]]``: members (and superusers) read;
  superusers create, change and delete (Quay's ``allow_if_superuser_with_full_access``).
- ``/user/quota[/{id}[/limit[/{limit_id}]]]``: the signed-in user reads their own.
- ``/superuser/organization/{ns}/quota`` and ``/superuser/users/{ns}/quota`` (``/{id}``): superusers
  list, create, change and delete any namespace's quota.
Shapes are Quay's ``quota_view`` and ``limit_view``; the services decide, this module formats.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from registry_app.db.store import UserRow
from registry_app.http.api.common import (
    ID_MAX,
    ApiContext,
    ApiError,
    Caller,
    Ctx,
    client_ip,
    require_superuser,
    require_user,
)
from registry_app.http.api.organization import forbidden, not_found
from registry_app.services.auth import Identity
from registry_app.services.quota import Limit, Quota, QuotaError, QuotaService, human_bytes, parse_limit

router = APIRouter(tags=["quota"])
LIMIT_PATTERN = r"^\d+\s?[A-Za-z]*$"


class NewQuota(BaseModel):
    """Quay's ``NewOrgQuota``: ``limit_bytes`` or a human-readable ``limit`` ("10 GiB")."""

    limit_bytes: int | None = Field(default=None, ge=1, le=ID_MAX)
    limit: str | None = Field(default=None, max_length=64, pattern=LIMIT_PATTERN)


class UpdateQuota(NewQuota):
    model_config = ConfigDict(extra="forbid")


class NewLimit(BaseModel):
    """Quay's ``NewOrgQuotaLimit``."""

    type: str = Field(max_length=16, description='"Warning" or "Reject"')
    threshold_percent: int = Field(ge=-(2**31), le=2**31 - 1, description="percent of the quota")


class UpdateLimit(BaseModel):
    type: str | None = Field(default=None, max_length=16)
    threshold_percent: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)


# -- views -----------------------------------------------------------------------------------------
def limit_view(limit: Limit) -> dict[str, Any]:
    return {"id": limit.id, "type": limit.type, "limit_percent": limit.limit_percent}


def quota_view(quota: Quota, default_exists: bool) -> dict[str, Any]:
    return {
        "id": quota.id,
        "limit_bytes": quota.limit_bytes,
        "limit": human_bytes(quota.limit_bytes),
        "default_config": quota.default_config,
        "limits": [limit_view(lim) for lim in quota.limits],
        "default_config_exists": default_exists,
    }


def namespace_quota_fields(ctx: ApiContext, namespace_id: int) -> dict[str, Any]:
    """``quotas`` and ``quota_report`` as Quay adds them to an organization or user view."""
    svc = service(ctx)
    return {
        "quotas": [quota_view(q, default_exists(ctx)) for q in svc.quotas(namespace_id, with_default=False)],
        "quota_report": svc.namespace_report(namespace_id),
    }


# -- helpers ---------------------------------------------------------------------------------------
def service(ctx: ApiContext) -> QuotaService:
    assert ctx.quota is not None, "the router is mounted only with FEATURE_QUOTA_MANAGEMENT"
    svc: QuotaService = ctx.quota
    return svc


def default_exists(ctx: ApiContext) -> bool:
    return bool(service(ctx).settings.default_reject_bytes)


def quay_call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except QuotaError as exc:
        raise ApiError(exc.status, exc.message) from None


def limit_bytes_of(body: NewQuota) -> int | None:
    if body.limit is not None:
        try:
            return parse_limit(body.limit)
        except ValueError:
            raise ApiError(400, "Invalid limit format, use a number followed by a unit (e.g. 1GiB)") from None
    return body.limit_bytes


def readable_org(ctx: ApiContext, ident: Identity, orgname: str) -> UserRow:
    """Quay's read rule: organization members, and superusers (403 for others, as Quay; no
    particular token scope, as Quay's ``listOrganizationQuota`` names none)."""
    require_user(ident)
    org = ctx.auth.identity.organization(orgname)
    if ident.superuser:
        if org is None:
            raise not_found()
        return org
    if org is None or ctx.auth.org_role(ident, org) is None:
        raise forbidden()
    return org


def superuser_namespace(ctx: ApiContext, ident: Identity, namespace: str, org: bool | None) -> UserRow:
    require_superuser(ident)
    found = ctx.auth.identities.get(namespace)
    if found is None or found.robot or (org is not None and found.organization != org):
        raise not_found()
    return found


def audit(ctx: ApiContext, request: Request, ident: Identity, kind: str, ns: UserRow, meta: dict[str, Any]) -> None:
    ctx.audit.record(
        kind,
        account_id=ns.id,
        performer_id=ident.user_id,
        ip=client_ip(request),
        metadata={"namespace": ns.username, **meta},
    )


def create_quota(ctx: ApiContext, request: Request, ident: Identity, ns: UserRow, body: NewQuota) -> str:
    limit_bytes = limit_bytes_of(body)
    if limit_bytes is None:
        raise ApiError(400, "limit_bytes or limit is required")
    quay_call(service(ctx).create, ns.id, ns.username, limit_bytes)
    audit(ctx, request, ident, "org_create_quota", ns, {"limit_bytes": limit_bytes, "limit": human_bytes(limit_bytes)})
    return "Created"


def change_quota(
    ctx: ApiContext, request: Request, ident: Identity, ns: UserRow, quota_id: int, body: UpdateQuota
) -> dict[str, Any]:
    svc = service(ctx)
    previous = quay_call(svc.quota, ns.id, quota_id)
    limit_bytes = limit_bytes_of(body)
    if limit_bytes is not None:
        quay_call(svc.change, ns.id, quota_id, limit_bytes)
        audit(ctx, request, ident, "org_change_quota", ns, {
            "limit_bytes": limit_bytes, "limit": human_bytes(limit_bytes),
            "previous_limit_bytes": previous.limit_bytes, "previous_limit": human_bytes(previous.limit_bytes),
        })  # fmt: skip
    return quota_view(quay_call(svc.quota, ns.id, quota_id), default_exists(ctx))


def delete_quota(ctx: ApiContext, request: Request, ident: Identity, ns: UserRow, quota_id: int) -> Response:
    gone = quay_call(service(ctx).delete, ns.id, quota_id)
    audit(ctx, request, ident, "org_delete_quota", ns, {
        "quota_id": quota_id, "limit_bytes": gone.limit_bytes, "limit": human_bytes(gone.limit_bytes),
    })  # fmt: skip
    return Response(status_code=204)


QuotaId = int  # path ids: FastAPI answers 422→400 for non-integers (see create_api)


# -- /organization/{orgname}/quota -----------------------------------------------------------------
@router.get("/organization/{orgname}/quota", summary="An organization's quota (Quay: listOrganizationQuota)")
def list_org_quota(orgname: str, ident: Caller, ctx: Ctx) -> list[dict[str, Any]]:
    org = readable_org(ctx, ident, orgname)
    return [quota_view(q, default_exists(ctx)) for q in service(ctx).quotas(org.id)]


@router.post("/organization/{orgname}/quota", status_code=201, summary="Create an organization's quota (superusers)")
def create_org_quota(orgname: str, body: NewQuota, ident: Caller, ctx: Ctx, request: Request) -> str:
    require_superuser(ident)
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    return create_quota(ctx, request, ident, org, body)


@router.get("/organization/{orgname}/quota/{quota_id}", summary="One quota of an organization")
def get_org_quota(orgname: str, quota_id: QuotaId, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    org = readable_org(ctx, ident, orgname)
    return quota_view(quay_call(service(ctx).quota, org.id, quota_id), default_exists(ctx))


@router.put("/organization/{orgname}/quota/{quota_id}", summary="Change an organization's quota (superusers)")
def change_org_quota(
    orgname: str, quota_id: QuotaId, body: UpdateQuota, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    require_superuser(ident)
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    return change_quota(ctx, request, ident, org, quota_id, body)


@router.delete("/organization/{orgname}/quota/{quota_id}", status_code=204, summary="Delete an organization's quota")
def delete_org_quota(orgname: str, quota_id: QuotaId, ident: Caller, ctx: Ctx, request: Request) -> Response:
    require_superuser(ident)
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    return delete_quota(ctx, request, ident, org, quota_id)


@router.get("/organization/{orgname}/quota/{quota_id}/limit", summary="The limits of an organization's quota")
def list_org_limits(orgname: str, quota_id: QuotaId, ident: Caller, ctx: Ctx) -> list[dict[str, Any]]:
    org = readable_org(ctx, ident, orgname)
    return [limit_view(lim) for lim in quay_call(service(ctx).quota, org.id, quota_id).limits]


@router.post("/organization/{orgname}/quota/{quota_id}/limit", status_code=201, summary="Add a Warning or Reject limit")
def create_org_limit(
    orgname: str, quota_id: QuotaId, body: NewLimit, ident: Caller, ctx: Ctx, request: Request
) -> str:
    require_superuser(ident)
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    made = quay_call(service(ctx).add_limit, org.id, quota_id, body.type, body.threshold_percent)
    meta = {"type": made.type, "threshold_percent": made.limit_percent}
    audit(ctx, request, ident, "org_create_quota_limit", org, meta)
    return "Created"


@router.get("/organization/{orgname}/quota/{quota_id}/limit/{limit_id}", summary="One limit")
def get_org_limit(orgname: str, quota_id: QuotaId, limit_id: QuotaId, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    org = readable_org(ctx, ident, orgname)
    return limit_view(quay_call(service(ctx).limit, org.id, quota_id, limit_id))


@router.put("/organization/{orgname}/quota/{quota_id}/limit/{limit_id}", summary="Change a limit (superusers)")
def change_org_limit(
    orgname: str, quota_id: QuotaId, limit_id: QuotaId, body: UpdateLimit, ident: Caller, ctx: Ctx, request: Request
) -> dict[str, Any]:
    require_superuser(ident)
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    svc = service(ctx)
    before = quay_call(svc.limit, org.id, quota_id, limit_id)
    after = quay_call(svc.change_limit, org.id, quota_id, limit_id, body.type, body.threshold_percent)
    audit(ctx, request, ident, "org_change_quota_limit", org, {
        "limit_id": limit_id, "type": after.type, "threshold_percent": after.limit_percent,
        "previous_type": before.type, "previous_threshold_percent": before.limit_percent,
    })  # fmt: skip
    return quota_view(quay_call(svc.quota, org.id, quota_id), default_exists(ctx))


@router.delete(
    "/organization/{orgname}/quota/{quota_id}/limit/{limit_id}", status_code=204, summary="Delete a limit (superusers)"
)
def delete_org_limit(
    orgname: str, quota_id: QuotaId, limit_id: QuotaId, ident: Caller, ctx: Ctx, request: Request
) -> Response:
    require_superuser(ident)
    org = ctx.auth.identity.organization(orgname)
    if org is None:
        raise not_found()
    gone = quay_call(service(ctx).delete_limit, org.id, quota_id, limit_id)
    audit(ctx, request, ident, "org_delete_quota_limit", org, {
        "limit_id": limit_id, "type": gone.type, "threshold_percent": gone.limit_percent,
    })  # fmt: skip
    return Response(status_code=204)


# -- /user/quota -----------------------------------------------------------------------------------
def own_namespace(ctx: ApiContext, ident: Identity) -> UserRow:
    require_user(ident, "user:read")
    user = ctx.auth.identities.get(ident.username or "")
    if user is None:
        raise not_found()
    return user


@router.get("/user/quota", summary="The signed-in user's quota (Quay: listUserQuota)")
def list_user_quota(ident: Caller, ctx: Ctx) -> list[dict[str, Any]]:
    user = own_namespace(ctx, ident)
    return [quota_view(q, default_exists(ctx)) for q in service(ctx).quotas(user.id)]


@router.get("/user/quota/{quota_id}", summary="One quota of the signed-in user")
def get_user_quota(quota_id: QuotaId, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    user = own_namespace(ctx, ident)
    return quota_view(quay_call(service(ctx).quota, user.id, quota_id), default_exists(ctx))


@router.get("/user/quota/{quota_id}/limit", summary="The limits of the signed-in user's quota")
def list_user_limits(quota_id: QuotaId, ident: Caller, ctx: Ctx) -> list[dict[str, Any]]:
    user = own_namespace(ctx, ident)
    return [limit_view(lim) for lim in quay_call(service(ctx).quota, user.id, quota_id).limits]


@router.get("/user/quota/{quota_id}/limit/{limit_id}", summary="One limit of the signed-in user's quota")
def get_user_limit(quota_id: QuotaId, limit_id: QuotaId, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    user = own_namespace(ctx, ident)
    return limit_view(quay_call(service(ctx).limit, user.id, quota_id, limit_id))


# -- /superuser/{users,organization}/{namespace}/quota ---------------------------------------------
def _su_routes(kind: str, org: bool) -> None:
    base = f"/superuser/{kind}/{{namespace}}/quota"
    noun = "organization" if org else "user"

    @router.get(base, summary=f"A {noun}'s quota (superusers)", operation_id=f"list_{noun}_quota_superuser")
    def su_list(namespace: str, ident: Caller, ctx: Ctx) -> list[dict[str, Any]]:
        ns = superuser_namespace(ctx, ident, namespace, org)
        return [quota_view(q, default_exists(ctx)) for q in service(ctx).quotas(ns.id, with_default=False)]

    @router.post(
        base, status_code=201, summary=f"Create a {noun}'s quota", operation_id=f"create_{noun}_quota_superuser"
    )
    def su_create(namespace: str, body: NewQuota, ident: Caller, ctx: Ctx, request: Request) -> str:
        return create_quota(ctx, request, ident, superuser_namespace(ctx, ident, namespace, org), body)

    @router.put(
        f"{base}/{{quota_id}}", summary=f"Change a {noun}'s quota", operation_id=f"change_{noun}_quota_superuser"
    )
    def su_change(
        namespace: str, quota_id: QuotaId, body: UpdateQuota, ident: Caller, ctx: Ctx, request: Request
    ) -> dict[str, Any]:
        return change_quota(ctx, request, ident, superuser_namespace(ctx, ident, namespace, org), quota_id, body)

    @router.delete(
        f"{base}/{{quota_id}}", status_code=204, summary=f"Delete a {noun}'s quota",
        operation_id=f"delete_{noun}_quota_superuser",
    )  # fmt: skip
    def su_delete(namespace: str, quota_id: QuotaId, ident: Caller, ctx: Ctx, request: Request) -> Response:
        return delete_quota(ctx, request, ident, superuser_namespace(ctx, ident, namespace, org), quota_id)


_su_routes("users", org=False)
_su_routes("organization", org=True)

__all__ = ["limit_view", "namespace_quota_fields", "quota_view", "router"]

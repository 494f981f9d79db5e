"""/api/v1/user: first-user initialization and the signed-in user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from registry_app.http.api.common import ApiError, Caller, Ctx, avatar, client_ip, require_user
from registry_app.services.identity import ALL_SCOPES
from registry_app.services.passwords import PASSWORDS

router = APIRouter(tags=["user"])


class InitializeBody(BaseModel):
    username: str = Field(min_length=2, max_length=255)
    password: str = Field(min_length=8, max_length=1024)
    email: str = Field(min_length=3, max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")
    access_token: bool = False


@router.post("/user/initialize", summary="Create the first user of an empty registry")
def initialize(body: InitializeBody, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Quay's ``POST /api/v1/user/initialize``: only with FEATURE_USER_INITIALIZE and no user yet.
    The user is a superuser when listed in SUPER_USERS. ``access_token: true`` returns an API token
    with every scope."""
    if not ctx.settings.auth.user_initialize:
        raise ApiError(404, "FEATURE_USER_INITIALIZE is not enabled", "not_found")
    if ctx.auth.identities.count_people() > 0:
        raise ApiError(400, "Cannot initialize user in a non-empty database")
    user = ctx.auth.identity.create_user(body.username, PASSWORDS.hash(body.password), body.email)
    ctx.audit.record(
        "user_create",
        account_id=user.id,
        performer_id=user.id,
        ip=client_ip(request),
        metadata={"username": user.username, "via": "user/initialize"},
        now=True,
    )
    out: dict[str, Any] = {"username": user.username, "email": user.email}
    if body.access_token:
        out["access_token"] = ctx.auth.identity.create_api_token(user, ALL_SCOPES, "initialize")
    return out


@router.get("/user/", summary="The signed-in user")
def get_user(ident: Caller, ctx: Ctx) -> dict[str, Any]:
    require_user(ident, "user:read")
    user = ctx.auth.identities.get(ident.username or "")
    if user is None:
        raise ApiError(404, "user not found")
    orgs = [] if user.robot else ctx.auth.identities.user_organizations(user.id)
    view: dict[str, Any] = {
        "anonymous": False,
        "username": user.username,
        "email": user.email,
        "verified": True,
        "avatar": avatar(user.username),
        "super_user": ident.superuser,
        "is_me": True,
        "can_create_repo": True,
        "invoice_email": False,
        "tag_expiration_s": user.tag_expiration_s or 1209600,
        "prompts": [],
        "logins": [],
        "organizations": [
            {
                "name": o.username,
                "avatar": avatar(o.username, "org"),
                "is_org_admin": ctx.auth.identities.org_role(user.id, o.id) == "admin",
                "can_create_repo": True,
                "public": False,
            }
            for o in orgs
        ],
    }
    if ctx.quota is not None:  # Quay's quotas and quota_report (FEATURE_QUOTA_MANAGEMENT)
        from registry_app.http.api.quota import namespace_quota_fields

        view.update(namespace_quota_fields(ctx, user.id))
    return view

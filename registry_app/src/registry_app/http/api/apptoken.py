"""/api/v1/user/apptoken: app-specific tokens, as Quay's endpoints/api/appspecifictokens.py.

An app-specific token is a password for registry clients (``docker login -u '$app' -p TOKEN``)
that its owner can revoke on its own. The list never shows token codes; creating a token and
asking for one token by uuid do. ``FEATURE_APP_SPECIFIC_TOKENS`` (default on) turns the endpoints
on; ``APP_SPECIFIC_TOKEN_EXPIRATION`` (e.g. ``52w``; default none) sets the lifetime of new tokens.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from registry_app.db.identity import TokenRow
from registry_app.db.store import UserRow, now_ms
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, client_ip, require_user
from registry_app.http.api.logs import format_ms
from registry_app.services.auth import Identity

router = APIRouter(tags=["apptoken"])

DEFAULT_EXPIRING_WINDOW_S = 4 * 604800  # Quay's window for ?expiring=true without a lifetime


class NewTokenBody(BaseModel):
    title: str = Field(min_length=1, max_length=255)


def token_view(ctx: ApiContext, row: TokenRow, include_code: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "uuid": row.uuid,
        "title": row.title,
        "last_accessed": format_ms(row.last_accessed_ms),
        "created": format_ms(row.created_ms),
        "expiration": format_ms(row.expires_ms),
    }
    if include_code:
        data["token_code"] = ctx.auth.identity.app_token_code(row)
    return data


def _owner(ctx: ApiContext, ident: Identity) -> UserRow:
    """The signed-in person (``user:admin`` scope for API tokens); not a robot, not an app token."""
    if not ctx.settings.auth.app_tokens:
        raise ApiError(404, "app-specific tokens are not enabled (FEATURE_APP_SPECIFIC_TOKENS)")
    require_user(ident, "user:admin")
    if ident.kind == "robot":
        raise ApiError(403, "robot accounts cannot have app-specific tokens", "insufficient_scope")
    if ident.via == "app":
        raise ApiError(403, "an app-specific token cannot manage app-specific tokens", "insufficient_scope")
    user = ctx.auth.identities.get(ident.username or "")
    if user is None:
        raise ApiError(401, "Requires authentication", "invalid_token")
    return user


def _token(ctx: ApiContext, user: UserRow, token_uuid: str) -> TokenRow:
    row = ctx.auth.identities.app_token_by_uuid(user.id, token_uuid)
    if row is None:
        raise ApiError(404, "app-specific token not found")
    return row


def _record(ctx: ApiContext, request: Request, kind: str, user: UserRow, row: TokenRow) -> None:
    # Quay's metadata: the title and the uuid (which identifies the token but is not its code).
    ctx.audit.record(
        kind,
        account_id=user.id,
        performer_id=user.id,
        ip=client_ip(request),
        metadata={"app_specific_token_title": row.title, "app_specific_token": row.uuid},
    )


@router.get("/user/apptoken", summary="The signed-in user's app-specific tokens (without codes)")
def list_tokens(ident: Caller, ctx: Ctx, expiring: bool | None = None) -> dict[str, Any]:
    """``expiring=true``: only tokens expiring within a tenth of the configured lifetime."""
    user = _owner(ctx, ident)
    rows = ctx.auth.identities.app_tokens(user.id)
    if expiring:
        lifetime = ctx.settings.auth.app_token_lifetime_s or DEFAULT_EXPIRING_WINDOW_S
        soon = now_ms() + max(1, -(-lifetime // 10)) * 1000
        rows = [r for r in rows if r.expires_ms is not None and r.expires_ms <= soon]
    return {"tokens": [token_view(ctx, r) for r in rows], "only_expiring": expiring}


@router.post("/user/apptoken", summary="Create an app-specific token")
def create_token(body: NewTokenBody, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    user = _owner(ctx, ident)
    lifetime = ctx.settings.auth.app_token_lifetime_s
    row = ctx.auth.identity.create_app_token(user, body.title, lifetime)
    _record(ctx, request, "create_app_specific_token", user, row)
    return {"token": token_view(ctx, row, include_code=True)}


@router.get("/user/apptoken/{token_uuid}", summary="One app-specific token, with its code")
def get_token(token_uuid: str, ident: Caller, ctx: Ctx) -> dict[str, Any]:
    user = _owner(ctx, ident)
    return {"token": token_view(ctx, _token(ctx, user, token_uuid), include_code=True)}


@router.delete("/user/apptoken/{token_uuid}", status_code=204, summary="Revoke an app-specific token")
def revoke_token(token_uuid: str, ident: Caller, ctx: Ctx, request: Request) -> Response:
    user = _owner(ctx, ident)
    row = _token(ctx, user, token_uuid)
    ctx.auth.identities.delete_app_token(row.id)
    _record(ctx, request, "revoke_app_specific_token", user, row)
    return Response(status_code=204)

"""``/api/v1/user/apitoken``: API tokens the signed-in user makes, lists and revokes (a
registry_app extension). Quay makes such tokens through an OAuth application's "Generate token";
here a person makes one directly, with the scopes they choose, for ``Authorization: Bearer`` on
/api/v1 and ``$oauthtoken`` logins of registry clients. The token is shown once; only its SHA-256
is kept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel, Field

from registry_app.db.api_tokens import ApiTokenRow, ApiTokenStore
from registry_app.db.store import UserRow
from registry_app.http.api.common import ApiContext, ApiError, Caller, Ctx, client_ip, require_user
from registry_app.http.api.logs import format_ms
from registry_app.services.auth import Identity
from registry_app.services.identity import ALL_SCOPES

router = APIRouter(tags=["user"])

MAX_LIFETIME_S = 10 * 365 * 86400


class NewApiToken(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    scopes: list[str] = Field(min_length=1, max_length=len(ALL_SCOPES))
    expiration_s: int | None = Field(default=None, gt=0, le=MAX_LIFETIME_S)


def _store(ctx: ApiContext) -> ApiTokenStore:
    return ApiTokenStore(ctx.registry.store.engine)


def _person(ctx: ApiContext, ident: Identity) -> UserRow:
    require_user(ident, "user:admin")
    if ident.kind != "user" or ident.user_id is None or ident.via == "app":
        raise ApiError(403, "only a person can manage API tokens", "insufficient_scope")
    user = ctx.auth.identities.user_by_id(ident.user_id)
    if user is None:
        raise ApiError(401, "Requires authentication", "invalid_token")
    return user


def _view(row: ApiTokenRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "scopes": row.scopes.split(),
        "created": format_ms(row.created_ms),
        "expiration": format_ms(row.expires_ms),
    }


@router.get("/user/apitoken", summary="The signed-in user's API tokens (without the tokens)")
def list_api_tokens(ident: Caller, ctx: Ctx) -> dict[str, Any]:
    user = _person(ctx, ident)
    return {"tokens": [_view(r) for r in _store(ctx).of_user(user.id)]}


@router.post("/user/apitoken", status_code=201, summary="Make an API token (shown once)")
def create_api_token(body: NewApiToken, ident: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    """``scopes`` from Quay's (repo:read, repo:write, repo:admin, repo:create, user:read,
    user:admin, org:admin, super:user): a token made with a token gets no scope its maker lacks,
    and super:user only for superusers."""
    user = _person(ctx, ident)
    scopes = tuple(dict.fromkeys(body.scopes))
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ApiError(400, f"unknown scopes: {', '.join(unknown)}")
    beyond = [s for s in scopes if ident.scopes is not None and s not in ident.scopes]
    if "super:user" in scopes and not ident.superuser:
        beyond.append("super:user")
    if beyond:
        raise ApiError(
            403, f"you cannot give a token these scopes: {', '.join(sorted(set(beyond)))}", "insufficient_scope"
        )
    token = ctx.auth.identity.create_api_token(user, scopes, body.title, body.expiration_s)
    ctx.audit.record(
        "create_api_token",
        account_id=user.id,
        performer_id=user.id,
        ip=client_ip(request),
        metadata={"title": body.title, "scopes": " ".join(scopes)},
    )
    row = max(_store(ctx).of_user(user.id), key=lambda r: r.id)
    return {"token": {**_view(row), "access_token": token}}


@router.delete("/user/apitoken/{token_id}", status_code=204, summary="Revoke one of the user's API tokens")
def revoke_api_token(
    token_id: Annotated[int, FastApiPath(ge=1, le=2**31 - 1)], ident: Caller, ctx: Ctx, request: Request
) -> Response:
    user = _person(ctx, ident)
    if not _store(ctx).delete(user.id, token_id):
        raise ApiError(404, "no such API token", "not_found")
    ctx.audit.record(
        "revoke_api_token", account_id=user.id, performer_id=user.id, ip=client_ip(request), metadata={"id": token_id}
    )
    return Response(status_code=204)

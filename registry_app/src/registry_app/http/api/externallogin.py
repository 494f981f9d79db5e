"""Sign-in through OpenID Connect providers (services/external_login.py), with Quay's paths:
``POST /api/v1/externallogin/{service_id}`` answers the provider's authorization URL (and keeps the
sign-in's state, nonce and PKCE verifier in a short-lived HttpOnly cookie, SameSite=Lax so that it
comes back with the provider's redirect), and ``GET /oauth2/{service_id}/callback`` finishes it:
the session cookie is set and the browser goes to ``/``; a failure goes to ``/signin?error=...``."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from registry_app.db.store import UserRow
from registry_app.http.api.common import SESSION_COOKIE, ApiContext, ApiError, Caller, Ctx, client_ip
from registry_app.http.api.signin import secure_cookie
from registry_app.services.external_login import FLOW_LIFETIME_S, ExternalLoginError, ExternalLoginService

router = APIRouter(tags=["signin"])
web_router = APIRouter(tags=["signin"])

FLOW_COOKIE = "registry_oauth"


class GetLogin(BaseModel):
    kind: Literal["login", "attach", "cli"] = "login"


def _service(ctx: ApiContext) -> ExternalLoginService[UserRow]:
    if ctx.external_logins is None:
        raise ApiError(404, "no external sign-in service is configured", "not_found")
    return ctx.external_logins


@router.post("/externallogin/{service_id}", summary="Start a sign-in with an OpenID Connect provider")
def external_login(
    service_id: str, ctx: Ctx, request: Request, _ident: Caller, body: GetLogin | None = None
) -> JSONResponse:
    """Quay's ``retrieveExternalLoginAuthorizationUrl`` (``kind: login``): the URL to send the
    browser to. ``attach`` and ``cli`` are not offered."""
    if body is not None and body.kind != "login":
        raise ApiError(400, f"kind {body.kind!r} is not supported; use login")
    try:
        started = _service(ctx).begin(service_id)
    except ExternalLoginError as exc:
        raise ApiError(404 if "no sign-in service" in str(exc) else 520, str(exc)) from None
    response = JSONResponse({"auth_url": started.auth_url}, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        FLOW_COOKIE,
        started.flow,
        max_age=FLOW_LIFETIME_S,
        path=f"/oauth2/{service_id}/",
        secure=secure_cookie(ctx, request),
        httponly=True,
        samesite="lax",
    )
    return response


@web_router.get("/oauth2/{service_id}/callback", summary="Where an OpenID Connect provider sends the browser back")
def callback(
    service_id: str,
    ctx: Ctx,
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> RedirectResponse:
    service = _service(ctx)
    secure = secure_cookie(ctx, request)
    try:
        user = service.finish(service_id, request.cookies.get(FLOW_COOKIE), code, state, error)
        if ctx.sessions is None:
            raise ExternalLoginError("browser sessions are not enabled")
        cookie, _session = ctx.sessions.start(user)
    except ExternalLoginError as exc:
        ctx.audit.record(
            "login_failure",
            ip=client_ip(request),
            metadata={"type": "oauth", "service": service_id, "message": str(exc)},
        )
        response = RedirectResponse(f"/signin?{urlencode({'error': str(exc)})}", status_code=302)
    else:
        ctx.audit.record(
            "login_success",
            account_id=user.id,
            performer_id=user.id,
            ip=client_ip(request),
            metadata={"type": "oauth", "service": service_id},
        )
        response = RedirectResponse("/", status_code=302)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=ctx.sessions.lifetime_s if ctx.sessions else None,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(FLOW_COOKIE, path=f"/oauth2/{service_id}/", secure=secure, httponly=True, samesite="lax")
    return response

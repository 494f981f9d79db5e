"""Browser sign-in for the web UI, with Quay's paths and shapes: ``POST /api/v1/signin``,
``/signin/verify``, ``/signout``, sign-up (``POST /api/v1/user/``), account changes
(``PUT /api/v1/user/``) and ``GET /csrf_token``.

The session lives in services/sessions.py; this module only sets and clears its cookie
(HttpOnly, SameSite=Strict, Secure under HTTPS) and hands the CSRF token over in Quay's
``X-Next-CSRF-Token`` header. common.py's ``_identify`` accepts the cookie on every /api/v1 call
and wants the token in ``X-CSRF-Token`` on unsafe methods.

Signing in needs no CSRF token: the body must be JSON, which a cross-site form cannot send
without a CORS preflight this server never grants, and a new session id is made every time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from registry_app.db.store import UserRow
from registry_app.http.api.common import (
    SESSION_COOKIE,
    SESSION_KEY,
    ApiContext,
    ApiError,
    Caller,
    Ctx,
    client_ip,
    ctx_of,
    require_user,
)
from registry_app.http.api.user import get_user
from registry_app.services.auth import PASSWORDS, Identity
from registry_app.services.errors import Unauthorized
from registry_app.services.sessions import Session, SessionService

router = APIRouter(tags=["signin"])
web_router = APIRouter(tags=["signin"])  # Quay's paths outside /api/v1

CSRF_HEADER = "X-Next-CSRF-Token"  # Quay's header for a new CSRF token
EMAIL = r"^[^@\s]+@[^@\s]+$"


class SigninBody(BaseModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)
    invite_code: str | None = None


class VerifyBody(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class NewUserBody(BaseModel):
    username: str = Field(min_length=2, max_length=255)
    password: str = Field(min_length=8, max_length=1024)
    email: str | None = Field(default=None, min_length=3, max_length=255, pattern=EMAIL)
    invite_code: str | None = None
    recaptcha_response: str | None = None


class UpdateUserBody(BaseModel):
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    email: str | None = Field(default=None, min_length=3, max_length=255, pattern=EMAIL)
    tag_expiration_s: int | None = Field(default=None, ge=0)


def _sessions(ctx: ApiContext) -> SessionService[UserRow]:
    if ctx.sessions is None:
        raise ApiError(404, "browser sessions are not enabled", "not_found")
    return ctx.sessions


def current_session(request: Request, ident: Identity) -> Session | None:
    """The session the request was authenticated with, if any: common._identify leaves it in the
    scope; when the body guard (guard.py) identified the caller on a copy of the scope, the
    cookie is looked up again."""
    found = request.scope.get(SESSION_KEY)
    if isinstance(found, Session):
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    ctx = ctx_of(request)
    if ident.via != "session" or not cookie or ctx.sessions is None:
        return None
    resolved = ctx.sessions.resolve(cookie)
    if resolved is None or resolved[0].user_id != ident.user_id:
        return None
    return resolved[0]


def secure_cookie(ctx: ApiContext, request: Request) -> bool:
    """Secure under HTTPS: the request came over TLS, the registry's URLs are https (a TLS proxy in
    front), or Quay's SESSION_COOKIE_SECURE says so."""
    return request.url.scheme == "https" or ctx.settings.web.cookie_secure


def with_session(ctx: ApiContext, request: Request, body: Any, cookie: str, session: Session) -> JSONResponse:
    response = JSONResponse(body, headers={CSRF_HEADER: session.csrf_token, "Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=_sessions(ctx).lifetime_s,
        path="/",
        secure=secure_cookie(ctx, request),
        httponly=True,
        samesite="strict",
    )
    return response


def _refused(message: str) -> JSONResponse:
    """Quay's answer to bad credentials (403, not 401: the UI shows the message)."""
    return JSONResponse(
        {"needsEmailVerification": False, "invalidCredentials": True, "message": message}, status_code=403
    )


def _check_person(ctx: ApiContext, request: Request, username: str, password: str) -> UserRow | None:
    """The user (not a robot or token) whose password this is, or None. Too many failures raise
    429 (services/auth.py's throttle); failures are audited as Quay does."""
    user: UserRow | None = None
    if "+" not in username and not username.startswith("$"):  # robots and tokens are not people
        try:
            ident = ctx.auth.verify_password(username, password)
        except Unauthorized:
            ident = None
        if ident is not None and ident.kind == "user" and ident.user_id is not None:
            user = ctx.auth.identities.user_by_id(ident.user_id)
    if user is None:
        ctx.audit.record(
            "login_failure",
            ip=client_ip(request),
            metadata={"type": "quayauth", "kind": "user", "username": username, "useragent": _agent(request)},
        )
    return user


def _agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:255]


@router.post("/signin", summary="Sign in with a username and password (web UI session cookie)")
def signin(body: SigninBody, _ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    """Quay's ``signinUser``: sets the session cookie and answers ``{"success": true}`` with the
    session's CSRF token in ``X-Next-CSRF-Token``; bad credentials answer 403 with
    ``invalidCredentials``. Database and LDAP users alike."""
    sessions = _sessions(ctx)
    user = _check_person(ctx, request, body.username, body.password)
    if user is None:
        return _refused("Invalid Username or Password")
    cookie, session = sessions.start(user)
    ctx.audit.record(
        "login_success",
        account_id=user.id,
        performer_id=user.id,
        ip=client_ip(request),
        metadata={"type": "quayauth", "useragent": _agent(request)},
    )
    return with_session(ctx, request, {"success": True}, cookie, session)


@router.post("/signin/verify", summary="Check the signed-in user's password again (fresh login)")
def verify(body: VerifyBody, ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    """Quay's ``verifyUser``: account changes need a password check within FRESH_LOGIN_TIMEOUT."""
    require_user(ident)
    session = current_session(request, ident)
    if session is None or ident.username is None:
        raise ApiError(401, "Requires a signed-in browser session", "invalid_token")
    if _check_person(ctx, request, ident.username, body.password) is None:
        return JSONResponse({"message": "Invalid Username or Password", "invalidCredentials": True}, status_code=403)
    session = _sessions(ctx).refresh_login(session)
    return JSONResponse({"success": True}, headers={CSRF_HEADER: session.csrf_token})


@router.post("/signout", summary="Sign out (ends every session of the account, as Quay)")
def signout(ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    """Quay's ``logout``: every session of the account ends, the cookie is cleared."""
    if ctx.sessions is not None and ident.user_id is not None and ident.kind == "user":
        ctx.sessions.end_all(ident.user_id)
        ctx.audit.record(
            "logout_success", account_id=ident.user_id, performer_id=ident.user_id, ip=client_ip(request), metadata={}
        )
    response = JSONResponse({"success": True}, headers={"Cache-Control": "no-store"})
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure_cookie(ctx, request), httponly=True, samesite="strict"
    )
    return response


@web_router.get("/csrf_token", summary="The CSRF token of the caller's browser session")
def csrf_token(request: Request, ctx: Ctx, _ident: Caller) -> JSONResponse:
    """Quay's ``GET /csrf_token`` (outside /api/v1, as in Quay): the token unsafe calls made with
    the session cookie must send in ``X-CSRF-Token``; null without a session."""
    session = current_session(request, _ident)
    return JSONResponse(
        {"csrf_token": session.csrf_token if session is not None else None}, headers={"Cache-Control": "no-store"}
    )


@router.post("/user/", summary="Create an account and sign in (FEATURE_USER_CREATION)")
def create_user(body: NewUserBody, _ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    """Quay's ``createNewUser``: only with FEATURE_USER_CREATION and database authentication. The
    new user is signed in (session cookie) and described as ``GET /api/v1/user/`` does."""
    if not ctx.settings.auth.user_creation or ctx.settings.auth.authentication_type != "Database":
        raise ApiError(404, "user creation is not enabled", "not_found")
    sessions = _sessions(ctx)
    if ctx.auth.identities.get(body.username) is not None:
        raise ApiError(400, "The username already exists")
    user = ctx.auth.identity.create_user(body.username, PASSWORDS.hash(body.password), body.email)
    ctx.audit.record(
        "user_create",
        account_id=user.id,
        performer_id=user.id,
        ip=client_ip(request),
        metadata={"email": body.email, "username": user.username},
    )
    cookie, session = sessions.start(user)
    view = get_user(ctx.auth.identity_of(user, "session"), ctx)
    return with_session(ctx, request, view, cookie, session)


def _fresh(ident: Identity, request: Request) -> None:
    """Quay's ``require_fresh_login`` for browser sessions (tokens and passwords are fresh)."""
    if ident.via != "session":
        return
    session = current_session(request, ident)
    if session is None or not session.fresh:
        raise ApiError(401, "The operation requires a fresh login: verify your password", "fresh_login_required")


@router.put("/user/", summary="Change the signed-in user's password, e-mail or tag expiration")
def change_user(body: UpdateUserBody, ident: Caller, ctx: Ctx, request: Request) -> JSONResponse:
    """Quay's ``changeUserDetails``. A new password ends every other session of the account; the
    caller's own browser gets a new session (cookie and CSRF token), as Quay signs it in again."""
    require_user(ident, "user:admin")
    if ident.kind != "user" or ident.user_id is None:
        raise ApiError(403, "Unauthorized", "insufficient_scope")
    _fresh(ident, request)
    user = ctx.auth.identities.user_by_id(ident.user_id)
    if user is None:
        raise ApiError(401, "Requires authentication", "invalid_token")
    ip = client_ip(request)
    renewed: tuple[str, Session] | None = None
    if body.password is not None:
        if ctx.settings.auth.authentication_type != "Database" or user.federated_uid:
            raise ApiError(400, "Cannot change the password of an account from an external directory")
        ctx.auth.identities.update_account(user.id, password_hash=PASSWORDS.hash(body.password))
        ctx.audit.record("account_change_password", account_id=user.id, performer_id=user.id, ip=ip, metadata={})
        user = ctx.auth.identities.user_by_id(user.id)
        assert user is not None
        if ident.via == "session" and ctx.sessions is not None:
            renewed = ctx.sessions.start(user)
    if body.email is not None and body.email != user.email:
        old = user.email
        ctx.auth.identity.change_email(user, body.email)
        ctx.audit.record(
            "user_change_email",
            account_id=user.id,
            performer_id=user.id,
            ip=ip,
            metadata={"email": body.email, "old_email": old},
        )
    if body.tag_expiration_s is not None:
        ctx.auth.identity.change_tag_expiration(user, body.tag_expiration_s)
        ctx.audit.record(
            "user_change_tag_expiration",
            account_id=user.id,
            performer_id=user.id,
            ip=ip,
            metadata={"tag_expiration": body.tag_expiration_s},
        )
    view = get_user(ident, ctx)
    if renewed is not None:
        return with_session(ctx, request, view, *renewed)
    return JSONResponse(view)

"""What every /api/v1 module shares: the context, the caller, errors, scopes, Quay's JSON shapes."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse

from registry_app.db.store import RepoRow, UserRow
from registry_app.services import client_json
from registry_app.services.audit import AuditLog
from registry_app.services.auth import ANONYMOUS, AuthService, Identity
from registry_app.services.errors import Unauthorized
from registry_app.services.registry import RegistryService
from registry_app.services.sessions import SessionService
from registry_app.settings import Settings


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, error_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or {
            400: "invalid_request",
            401: "invalid_token",
            403: "insufficient_scope",
            404: "not_found",
            409: "conflict",
            429: "too_many_requests",
        }.get(status, "invalid_request")
        self.headers = headers


# -- bounded inputs ----------------------------------------------------------------------------
# Every integer a client sends in a query is bounded where it is declared, so that none reaches
# SQL outside the database's 64-bit range (an OverflowError, answered 500 before). Out of range is
# a 400 naming the parameter and the bound (RequestValidationError, see create_api).
INT32_MAX = 2**31 - 1
ID_MAX = 2**63 - 1  # row ids in page tokens: a signed 64-bit integer in both databases
MAX_PAGE = 1_000_000  # page numbers (the offset page * limit stays far inside 64 bits)
QueryInt = Annotated[int, Query(ge=-INT32_MAX, le=INT32_MAX)]
OptionalQueryInt = Annotated[int | None, Query(ge=-INT32_MAX, le=INT32_MAX)]
PageNumber = Annotated[int, Query(ge=-INT32_MAX, le=MAX_PAGE, description=f"page number, at most {MAX_PAGE}")]


def decode_page_token(token: str | None, key: str, minimum: int = 0) -> int | None:
    """The row id in a ``next_page`` token (base64 of ``{key: id}``) that this API issued.

    None without a token, or for one that does not decode to such an object: the listing starts
    over, as Quay ignores a token it cannot decrypt. A token that does decode to one, but whose id
    is not an integer from ``minimum`` to 2^63-1, was not issued here: 400, not a database error."""
    if not token:
        return None
    try:
        data = client_json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= ID_MAX:
        raise ApiError(400, "next_page: not a page token of this listing; start again without it")
    return value


def encode_page_token(key: str, value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({key: value}).encode()).decode().rstrip("=")


def quay_error(
    request: Request, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Quay's API error body."""
    base = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"
    body = {
        "status": status,
        "error_message": message,
        "title": error_type,
        "error_type": error_type,
        "detail": message,
        "type": f"{base}/api/v1/error/{error_type}",
    }
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class ApiContext:
    auth: AuthService
    registry: RegistryService
    audit: AuditLog
    settings: Settings
    secscan: Any = None  # services.secscan.SecurityScanner when FEATURE_SECURITY_SCANNER is on
    sessions: SessionService[UserRow] | None = None  # the web UI's sign-in sessions (signin.py)
    external_logins: Any = None  # services.external_login.ExternalLoginService with *_LOGIN_CONFIG
    notifications: Any = None  # services.notifications.NotificationService (repository notifications)
    quota: Any = None  # services.quota.QuotaService when FEATURE_QUOTA_MANAGEMENT is on
    tag_policy: Any = None  # services.tag_policy.TagPolicyService (auto-prune, immutability)


def ctx_of(request: Request) -> ApiContext:
    return request.app.state.ctx


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _identify(request: Request) -> Identity:
    ctx = ctx_of(request)
    if ctx.settings.auth.xhr_only:
        ua = request.headers.get("user-agent", "")
        if (
            ua.startswith("Mozilla/")
            and "authorization" not in request.headers
            and request.headers.get("x-requested-with") != "XMLHttpRequest"
        ):
            raise ApiError(400, "API calls must be invoked with an X-Requested-With header if called from a browser")
    header = request.headers.get("authorization")
    if not header:
        return _session_identity(ctx, request)
    kind, _, cred = header.partition(" ")
    kind = kind.lower()
    cred = cred.strip()
    if kind == "bearer":
        found = ctx.auth.identity.api_token(cred)
        if found is None:
            raise ApiError(401, "Invalid or expired access token", "invalid_token")
        user, scopes = found
        return ctx.auth.identity_of(user, "oauth", scopes)
    if kind == "basic":
        try:
            username, _, password = base64.b64decode(cred, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "malformed Basic credentials", "invalid_token") from None
        if username == "$app" or "+" in username:
            # App-specific tokens and robots are registry credentials: robots cannot use the API
            # (as in Quay), and an app token must not carry its account's full API powers.
            # ($oauthtoken:<API token> is the same scoped API token as a Bearer one.)
            raise ApiError(401, "the API takes a user's password or an API token", "invalid_token")
        try:
            return ctx.auth.verify_password(username, password, client_ip(request))
        except Unauthorized as exc:
            ctx.audit.record("login_failure", ip=client_ip(request), metadata={"username": username, "type": "api"})
            raise ApiError(401, exc.message, "invalid_token") from None
    raise ApiError(401, f"unsupported authorization scheme {kind!r}", "invalid_token")


# Where http/api/guard.py leaves the caller it identified before reading a request body.
IDENTITY_KEY = "registry_app.identity"


def identify(request: Request) -> Identity:
    """The caller of an API request, from its headers only (the body is not needed)."""
    return _identify(request)


SESSION_COOKIE = "registry_session"  # the web UI's session (http/api/signin.py sets it)
SESSION_KEY = "registry_app.session"  # where the request's services.sessions.Session is kept
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _session_identity(ctx: ApiContext, request: Request) -> Identity:
    """The web UI's session cookie. Unsafe methods also need the session's CSRF token in
    ``X-CSRF-Token`` (Quay's header); a cookie that names no live session counts as anonymous."""
    cookie = request.cookies.get(SESSION_COOKIE)
    found = ctx.sessions.resolve(cookie) if cookie and ctx.sessions is not None else None
    if found is None:
        return ANONYMOUS
    session, user = found
    if request.method not in SAFE_METHODS and not SessionService.csrf_ok(session, request.headers.get("x-csrf-token")):
        raise ApiError(403, "CSRF token was invalid or missing.", "csrf_invalid")
    request.scope[SESSION_KEY] = session
    return ctx.auth.identity_of(user, "session")


def caller(request: Request) -> Identity:
    ident = request.scope.get(IDENTITY_KEY)
    if ident is None:
        ident = _identify(request)
    request.state.identity = ident
    return ident


Caller = Annotated[Identity, Depends(caller)]
Ctx = Annotated[ApiContext, Depends(ctx_of)]


def require_user(ident: Identity, scope: str | None = None) -> Identity:
    """A signed-in account (not anonymous) whose token, if any, has ``scope``."""
    if ident.anonymous:
        raise ApiError(401, "Requires authentication", "invalid_token")
    if scope is not None and not ident.has_scope(scope):
        raise ApiError(403, f"the token lacks the {scope} scope", "insufficient_scope")
    return ident


def require_superuser(ident: Identity) -> Identity:
    require_user(ident, "super:user")
    if not ident.superuser:
        raise ApiError(403, "Unauthorized: superuser rights required", "insufficient_scope")
    return ident


def avatar(name: str, kind: str = "user") -> dict[str, Any]:
    import hashlib

    h = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return {"name": name, "hash": h, "color": f"#{h[:6]}", "kind": kind}


def user_view(user: UserRow) -> dict[str, Any]:
    """A user/robot/org as Quay's entity references show it."""
    return {
        "name": user.username,
        "kind": user.kind if user.kind != "organization" else "org",
        "is_robot": user.robot,
        "avatar": avatar(user.username, "robot" if user.robot else "user"),
    }


def repo_view(repo: RepoRow, description: str | None = None) -> dict[str, Any]:
    return {
        "namespace": repo.namespace,
        "name": repo.name,
        "description": description,
        "is_public": repo.public,
        "kind": "image",
        "state": "NORMAL",
    }


__all__ = [
    "ID_MAX",
    "INT32_MAX",
    "MAX_PAGE",
    "ApiContext",
    "ApiError",
    "Caller",
    "Ctx",
    "OptionalQueryInt",
    "PageNumber",
    "QueryInt",
    "avatar",
    "client_ip",
    "ctx_of",
    "decode_page_token",
    "encode_page_token",
    "quay_error",
    "repo_view",
    "require_superuser",
    "require_user",
    "user_view",
]

"""/api/v1 request bodies: bounded, and read only after the caller's credentials were checked.

FastAPI reads and parses a request's whole body before it resolves any dependency, so the
``Caller`` dependency (the credentials) ran only once a body of any size was in memory: two
anonymous 200 MiB POSTs took 1.6 GiB. ``ApiBodyGuard`` is an ASGI wrapper in front of FastAPI, so
nothing is buffered before it has decided:

1. A declared Content-Length over ``limit`` (REGISTRY_APP_MAX_API_BODY_SIZE) gets 413 at once.
2. A request that carries a body is identified first, from its headers, by the code ``Caller``
   uses (in the thread pool: a password check is argon2). The identity is handed to ``Caller``
   through the scope, so credentials are not checked twice. Bad credentials get 401 without the
   body being read, and so does an anonymous caller, except on the endpoints that take anonymous
   bodies (``ANONYMOUS_BODIES``) and under FEATURE_ANONYMOUS_PUSH (anonymous callers may then
   change repositories).
3. The body is read here, at most ``limit`` bytes (a longer chunked body: 413), each wait for it
   bounded by the body idle timeout (http/limits.py), and replayed to FastAPI.

Refusals go through the API's own exception handlers (Quay's error JSON). Those sent before the
body was read carry ``Connection: close``: an unread body leaves the connection unusable, and the
server closes it.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from registry_app.http.api.common import IDENTITY_KEY, ApiError, identify
from registry_app.http.base import Blocking
from registry_app.http.base import Receive as BaseReceive
from registry_app.http.base import Request as BodyReader
from registry_app.services.errors import RegistryError
from registry_app.services.identity import IdentityError

# Endpoints that take a body from anonymous callers. Any other endpoint with a body requires
# credentials (every one of them calls require_user or an equivalent check).
ANONYMOUS_BODIES = frozenset({"/api/v1/user/initialize", "/api/v1/signin", "/api/v1/user/"})
ANONYMOUS_BODY_PREFIXES = ("/api/v1/externallogin/",)
REFUSALS = (ApiError, IdentityError, RegistryError)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _carries_body(scope: Scope, length: int | None) -> bool:
    if length is not None:
        return length > 0
    if any(key.lower() == b"transfer-encoding" for key, _ in scope["headers"]):
        return True
    # HTTP/2 and 3 bodies need no Content-Length; HTTP/1.1 without either header has none.
    return scope.get("http_version", "1.1") not in ("1.0", "1.1") and scope["method"] not in ("GET", "HEAD")


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that returns the body already read, then whatever the connection says next."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if not pending:
            return await receive()
        pending = False
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class ApiBodyGuard:
    def __init__(self, api: FastAPI, blocking: Blocking, limit: int, anonymous_push: bool) -> None:
        self.api = api
        self.blocking = blocking
        self.limit = limit
        self.anonymous_push = anonymous_push

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = _content_length(scope)
        if length is not None and length > self.limit:
            await self.refuse(scope, receive, send, self.too_large(), unread=True)
            return
        if not _carries_body(scope, length):
            await self.api(scope, receive, send)
            return
        request = Request({**scope, "app": self.api})
        try:
            ident = await self.blocking(identify, request)
            path = scope["path"]
            anonymous_body = path in ANONYMOUS_BODIES or path.startswith(ANONYMOUS_BODY_PREFIXES)
            if ident.anonymous and not self.anonymous_push and not anonymous_body:
                raise ApiError(401, "Requires authentication", "invalid_token")
        except REFUSALS as exc:
            await self.refuse(scope, receive, send, exc, unread=True)
            return
        try:
            body = await BodyReader(cast(dict[str, Any], scope), cast(BaseReceive, receive)).body(self.limit)
        except OverflowError:
            await self.refuse(scope, receive, send, self.too_large(), unread=True)
            return
        except RegistryError as exc:  # the body paused too long (BodyTimeout)
            await self.refuse(scope, receive, send, exc, unread=True)
            return
        scope[IDENTITY_KEY] = ident
        await self.api(scope, _replay(body, receive), send)

    def too_large(self) -> ApiError:
        return ApiError(
            413,
            f"request body is larger than {self.limit} bytes, the limit for API requests "
            "(REGISTRY_APP_MAX_API_BODY_SIZE)",
            "invalid_request",
        )

    async def refuse(self, scope: Scope, receive: Receive, send: Send, exc: Exception, unread: bool) -> None:
        """Answer with the API's own handler for ``exc``."""
        handlers = self.api.exception_handlers
        handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
        if handler is None:
            raise exc
        response = handler(Request({**scope, "app": self.api}), exc)
        if inspect.isawaitable(response):
            response = await response
        if unread:
            response.headers["connection"] = "close"
        await response(scope, receive, send)


__all__ = ["ANONYMOUS_BODIES", "ApiBodyGuard"]

"""Quay's management API under /api/v1 (FastAPI): same paths, JSON shapes and error format.

Endpoint groups live in modules of this package, each exposing ``router``. Endpoints are plain
(sync) functions: FastAPI runs them in its thread pool, so they call the services directly.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry_app.http import incidents
from registry_app.http.api.common import ApiContext, ApiError, quay_error
from registry_app.http.api.document import complete_document
from registry_app.services.errors import RegistryError
from registry_app.services.identity import IdentityError
from registry_app.services.registry import DATABASE_OUTAGES

ROUTER_MODULES = (
    "pullstats",
    "user",
    "organization",
    "team",
    "robot",
    "repository",
    "permission",
    "tag",
    "manifest",
    "logs",
    "superuser",
    "apptoken",
    "secscan",
    "signin",
    "frontend",
    "externallogin",
    "oauthtoken",
    "notification",
    "quota",
    "policy",
)


def _request_line(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def create_api(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="registry_app API (Quay-compatible)",
        version="1",
        description="Quay's /api/v1 as registry_app implements it.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return quay_error(request, exc.status, exc.error_type, exc.message, exc.headers)

    @app.exception_handler(IdentityError)
    async def _identity_error(request: Request, exc: IdentityError) -> JSONResponse:
        return quay_error(request, exc.status, exc.error_type, exc.message)

    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError) -> JSONResponse:
        status = exc.status
        kind = {401: "invalid_token", 403: "insufficient_scope", 404: "not_found", 429: "too_many_requests"}.get(
            status, "invalid_request" if status < 500 else "server_error"
        )
        if exc.code == "TAG_IMMUTABLE":
            kind = "tag_immutable"  # Quay's ApiErrorType.tag_immutable
        headers = {k: v for k, v in exc.headers.items() if k != "x-scope"}
        message = exc.message
        if status >= 500:  # the detail (log_detail) is logged under a reference, never sent
            message = incidents.server_error(exc, _request_line(request))
        return quay_error(request, status, kind, message, headers)

    async def _infrastructure(request: Request, exc: Exception) -> JSONResponse:
        """A database outage that escaped the services (503), or any other unexpected exception
        (500, traceback logged): the client gets the kind and a reference, the log the detail."""
        domain, message = incidents.unexpected(exc, _request_line(request))
        return quay_error(request, domain.status, "server_error", message)

    for kind in DATABASE_OUTAGES:  # handled by Starlette's ExceptionMiddleware: answered here
        app.add_exception_handler(kind, _infrastructure)
    # Anything else reaches Starlette's ServerErrorMiddleware, which answers with this handler's
    # response and then re-raises (RegistryApp.http drops the re-raised exception: it is logged).
    app.add_exception_handler(Exception, _infrastructure)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return quay_error(request, 400, "invalid_request", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return quay_error(request, exc.status_code, kind, str(exc.detail))

    for name in ROUTER_MODULES:
        if name == "secscan" and ctx.secscan is None:
            continue  # Quay's show_if(FEATURE_SECURITY_SCANNER): no such path without the feature
        if name == "quota" and ctx.quota is None:
            continue  # Quay's show_if(FEATURE_QUOTA_MANAGEMENT)
        if name == "pullstats" and ctx.registry.pull_stats is None:
            continue  # show_if(FEATURE_IMAGE_PULL_STATS)
        module = importlib.import_module(f"registry_app.http.api.{name}")
        app.include_router(module.router, prefix="/api/v1")
        if hasattr(module, "web_router"):  # Quay's few paths outside /api/v1 (/csrf_token, /config)
            app.include_router(module.web_router)

    generate = app.openapi

    def openapi_with_links() -> dict[str, Any]:
        """FastAPI's document (generated once, cached), completed by http/api/document.py."""
        first = app.openapi_schema is None
        document = generate()
        return complete_document(document) if first else document

    app.openapi = openapi_with_links  # type: ignore[method-assign]

    @app.get("/api/v1/discovery", tags=["discovery"], summary="The API described in OpenAPI")
    def discovery() -> dict[str, Any]:
        return app.openapi()

    return app


__all__ = ["ApiContext", "ApiError", "create_api"]

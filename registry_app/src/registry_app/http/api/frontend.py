"""``GET /config``: what the web UI needs to know about this registry, as Quay's ``/config``
(outside /api/v1, as in Quay): the public settings (never a secret) and the features on."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from registry_app.http.api.common import Ctx

router = APIRouter(tags=["config"])  # nothing under /api/v1
web_router = APIRouter(tags=["config"])

def _version() -> str:
    try:
        return f"registry_app {version('registry-app')}"
    except PackageNotFoundError:
        return "registry_app"


@web_router.get("/config", summary="The registry's public settings and features, for the web UI")
def frontend_config(ctx: Ctx) -> JSONResponse:
    """Quay's ``GET /config`` shape: ``config`` (public keys only), ``features`` (names without the
    FEATURE_ prefix), ``oauth``/``external_login`` (none yet), ``registry_state``."""
    config: dict[str, Any] = dict(ctx.settings.web.public_config)
    features = dict(ctx.settings.web.features)
    features["SECURITY_SCANNER"] = ctx.secscan is not None
    body = {
        "config": config,
        "features": features,
        "oauth": {},
        "external_login": ctx.external_logins.public() if ctx.external_logins is not None else [],
        "registry_state": "normal",
        "account_recovery_mode": False,
        "version_number": _version(),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-cache"})

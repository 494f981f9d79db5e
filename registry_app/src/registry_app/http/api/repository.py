"""/api/v1 endpoints: repository (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["repository"])

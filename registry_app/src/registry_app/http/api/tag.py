"""/api/v1 endpoints: tag (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tag"])

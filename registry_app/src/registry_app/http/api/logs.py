"""/api/v1 endpoints: logs (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["logs"])

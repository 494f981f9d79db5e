"""/api/v1 endpoints: robot (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["robot"])

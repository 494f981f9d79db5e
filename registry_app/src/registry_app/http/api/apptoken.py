"""/api/v1 endpoints: apptoken (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["apptoken"])

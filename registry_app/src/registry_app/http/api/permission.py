"""/api/v1 endpoints: permission (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["permission"])

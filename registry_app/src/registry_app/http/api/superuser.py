"""/api/v1 endpoints: superuser (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["superuser"])

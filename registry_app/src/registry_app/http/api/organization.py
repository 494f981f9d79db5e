"""/api/v1 endpoints: organization (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["organization"])

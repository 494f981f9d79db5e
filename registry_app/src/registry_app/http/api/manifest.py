"""/api/v1 endpoints: manifest (Quay-compatible)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["manifest"])

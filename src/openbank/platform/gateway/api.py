"""HTTP endpoints of gateway."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""HTTP endpoints of signed."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

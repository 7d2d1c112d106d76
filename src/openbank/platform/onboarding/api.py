"""HTTP endpoints of onboarding."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

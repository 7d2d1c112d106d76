"""Placeholder router; filled by the customers work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["customers"])

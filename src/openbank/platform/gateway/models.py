"""Tables of gateway."""

from __future__ import annotations

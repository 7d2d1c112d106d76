"""Tables of signed."""

from __future__ import annotations

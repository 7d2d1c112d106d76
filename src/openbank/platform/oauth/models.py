"""Tables of oauth."""

from __future__ import annotations

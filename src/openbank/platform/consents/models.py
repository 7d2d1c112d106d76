"""Tables of consents."""

from __future__ import annotations

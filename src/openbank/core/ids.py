"""Time-ordered identifiers."""

from __future__ import annotations

import uuid

from uuid_utils import compat


def new_id() -> uuid.UUID:
    """A UUIDv7: sortable by creation time, so indexes stay append-mostly."""
    return compat.uuid7()

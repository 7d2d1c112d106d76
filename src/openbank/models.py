"""Every context's tables, imported so Alembic sees one complete metadata."""

from __future__ import annotations


def import_all_models() -> None:
    import openbank.core.models
    import openbank.customers.models
    import openbank.ledger.models
    import openbank.lending.models  # noqa: F401

"""Every context's tables, imported so Alembic sees one complete metadata."""

from __future__ import annotations


def import_all_models() -> None:
    import openbank.core.models
    import openbank.customers.models
    import openbank.ledger.models
    import openbank.lending.models
    import openbank.payments.models
    import openbank.platform.consents.models
    import openbank.platform.gateway.models
    import openbank.platform.models
    import openbank.platform.oauth.models
    import openbank.platform.signed.models
    import openbank.platform.signin.models
    import openbank.platform.webhooks.models  # noqa: F401

"""The open platform: partners and their apps, the FAPI 2.0 authorization server, consents,
the partner gateway (rate limits, idempotency, audit), webhooks and the signed gateway."""

"""Shared kernel: settings, database, money, ids, clock, errors, idempotency."""

"""Lending: product library, schedules and APR, underwriting, contracts and servicing."""

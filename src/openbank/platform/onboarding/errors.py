"""Onboarding error codes: stable, snake_case; each a 4xx, and nothing is written."""

from __future__ import annotations

from openbank.core.errors import DomainError, Forbidden


class OnboardingError(DomainError):
    code = "onboarding_error"
    status = 422
    title = "The account opening was refused"


class IdentityMismatch(OnboardingError):
    code = "identity_mismatch"
    status = 409
    title = "The bank knows this ID number with another name or phone"


class OnboardingNotAllowed(Forbidden):
    code = "insufficient_scope"
    title = "Opening e-accounts needs the e_accounts product"

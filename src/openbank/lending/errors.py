"""Lending error codes: stable, snake_case; each a 4xx, and nothing is written."""

from __future__ import annotations

from openbank.core.errors import DomainError


class LendingError(DomainError):
    code = "lending_error"
    status = 422
    title = "The lending service refused the request"


class InvalidLoanTerms(LendingError):
    code = "invalid_loan_terms"
    title = "The loan terms are not valid"


class UnknownRepaymentMethod(LendingError):
    code = "unknown_repayment_method"
    title = "The repayment method is not one openbank knows"

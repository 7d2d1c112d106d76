"""Checkout error codes: stable, snake_case; each a 4xx, and nothing is written or moved."""

from __future__ import annotations

from openbank.core.errors import DomainError, Forbidden, NotFound


class CheckoutError(DomainError):
    code = "checkout_error"
    status = 422
    title = "The checkout refused the request"


class CsrfFailed(Forbidden):
    code = "checkout_csrf_failed"
    title = "The form is out of date; reload the page and try again"


class OfferNotFound(NotFound):
    code = "checkout_offer_not_found"
    title = "No e-account offer was made for this payment"


class OfferAlreadyConverted(CheckoutError):
    code = "checkout_offer_converted"
    status = 409
    title = "An e-account was already opened from this payment"


class InvalidForm(CheckoutError):
    code = "checkout_invalid_form"
    title = "Some of the details are missing or too long"


class InvalidDateRange(CheckoutError):
    code = "invalid_date_range"
    title = "The date range is not valid"

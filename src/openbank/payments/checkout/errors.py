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


class OfferClosed(CheckoutError):
    code = "checkout_offer_closed"
    status = 409
    title = "The e-account offer of this payment is closed"


class NotThePayingCard(CheckoutError):
    code = "checkout_card_not_the_paying_card"
    title = "Bind the bank card this payment was made with"


class InvalidForm(CheckoutError):
    code = "checkout_invalid_form"
    title = "Some of the details are missing, too long or hold control characters"


class InvalidDateRange(CheckoutError):
    code = "invalid_date_range"
    title = "The date range is not valid"

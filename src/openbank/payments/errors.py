"""Payments error codes: stable, snake_case; each a 4xx, and nothing is written or moved."""

from __future__ import annotations

from openbank.core.errors import DomainError, NotFound


class PaymentsError(DomainError):
    code = "payments_error"
    status = 422
    title = "The payments service refused the request"


class FeePlanNotFound(NotFound):
    code = "fee_plan_not_found"
    title = "Fee plan not found"


class FeePlanExists(PaymentsError):
    code = "fee_plan_exists"
    status = 409
    title = "A fee plan with this code exists"


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    title = "Merchant not found"


class MerchantExists(PaymentsError):
    code = "merchant_exists"
    status = 409
    title = "A merchant with this unified social credit code exists"


class MerchantNotActive(PaymentsError):
    code = "merchant_not_active"
    status = 409
    title = "The merchant is frozen or closed"


class MerchantClosed(PaymentsError):
    code = "merchant_closed"
    status = 409
    title = "The merchant is closed"


class OrderNotFound(NotFound):
    code = "payment_order_not_found"
    title = "Payment order not found"


class OutTradeNoReused(PaymentsError):
    code = "out_trade_no_reused"
    status = 409
    title = "This out_trade_no was already used for another order"


class CurrencyNotSupported(PaymentsError):
    code = "currency_not_supported"
    title = "Payments are taken in CNY only"


class AmountTooLarge(PaymentsError):
    code = "amount_too_large"
    title = "The amount is more than one payment order may ask for"


class InvalidExpiry(PaymentsError):
    code = "invalid_expiry"
    title = "The expiry must be in the future and within 30 days"


class OrderExpired(PaymentsError):
    code = "payment_order_expired"
    status = 409
    title = "The payment order has expired"


class OrderClosed(PaymentsError):
    code = "payment_order_closed"
    status = 409
    title = "The payment order is closed"


class OrderAlreadyPaid(PaymentsError):
    code = "payment_order_already_paid"
    status = 409
    title = "The payment order is already paid"


class OrderStateConflict(PaymentsError):
    code = "payment_order_state_conflict"
    status = 409
    title = "The payment order is not in a state that allows this"


class CaptureExceedsAuthorized(PaymentsError):
    code = "capture_exceeds_authorized"
    status = 409
    title = "The capture is more than the authorized amount"


class AuthorizationExpired(PaymentsError):
    code = "authorization_expired"
    status = 409
    title = "The authorization has expired and was released"


class RefundExceedsCaptured(PaymentsError):
    code = "refund_exceeds_captured"
    status = 409
    title = "The refunds would be more than was captured"


class OutRefundNoReused(PaymentsError):
    code = "out_refund_no_reused"
    status = 409
    title = "This out_refund_no was already used for another refund"


class PayerNotAllowed(PaymentsError):
    code = "payer_not_allowed"
    status = 409
    title = "This payer may not pay this order"

"""Customers error codes: stable, snake_case; each a 4xx, and nothing is written."""

from __future__ import annotations

from openbank.core.errors import DomainError, NotFound


class CustomersError(DomainError):
    code = "customers_error"
    status = 422
    title = "The customers service refused the request"


class InvalidIdNumber(CustomersError):
    code = "invalid_id_number"
    title = "The identity number is not valid"


class InvalidPhone(CustomersError):
    code = "invalid_phone"
    title = "The phone number is not a PRC mobile number"


class InvalidCardNumber(CustomersError):
    code = "invalid_card_number"
    title = "The bank card number is not valid"


class CustomerExists(CustomersError):
    code = "customer_exists"
    status = 409
    title = "A customer with this identity document exists"


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    title = "Customer not found"


class EAccountNotFound(NotFound):
    code = "e_account_not_found"
    title = "E-account not found"


class KycLevelTooLow(CustomersError):
    code = "kyc_level_too_low"
    title = "The customer's KYC level is too low for this e-account class"


class EAccountFrozen(CustomersError):
    code = "e_account_frozen"
    status = 409
    title = "The e-account is frozen"


class EAccountClosed(CustomersError):
    code = "e_account_closed"
    status = 409
    title = "The e-account is closed"


class BalanceNotZero(CustomersError):
    code = "balance_not_zero"
    status = 409
    title = "Only an e-account with a zero balance and nothing pending can be closed"


class SameEAccount(CustomersError):
    code = "same_e_account"
    title = "An e-account cannot transfer to itself"


class LimitExceeded(CustomersError):
    code = "limit_exceeded"
    title = "The movement would exceed a limit of the e-account's class"


class EAccountClassNotAllowed(CustomersError):
    code = "e_account_class_not_allowed"
    title = "This e-account class cannot be used for this purpose"

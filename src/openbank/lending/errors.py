"""Lending error codes: stable, snake_case; each a 4xx, and nothing is written."""

from __future__ import annotations

from openbank.core.errors import DomainError, NotFound


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


class InvalidProduct(LendingError):
    code = "invalid_product"
    title = "The loan product is not valid"


class ProductNotFound(NotFound):
    code = "loan_product_not_found"
    title = "No such loan product"


class ProductRetired(LendingError):
    code = "loan_product_retired"
    status = 409
    title = "The loan product no longer takes applications"


class AmountOutOfRange(LendingError):
    code = "amount_out_of_range"
    title = "The amount is outside the product's range"


class TermNotOffered(LendingError):
    code = "term_not_offered"
    title = "The product does not offer this term"


class MethodNotOffered(LendingError):
    code = "repayment_method_not_offered"
    title = "The product does not offer this repayment method"


class UnknownCreditCharacteristic(LendingError):
    code = "unknown_credit_characteristic"
    title = "The credit profile names a characteristic the scorecard does not know"


class FundingPartnerNotFound(NotFound):
    code = "funding_partner_not_found"
    title = "No such funding partner"


class FundingPartnerExists(LendingError):
    code = "funding_partner_exists"
    status = 409
    title = "A funding partner with this code exists"


class PartnerShareTooLow(LendingError):
    code = "partner_share_too_low"
    title = "The joint-loan partner's funding share is below the minimum"


class PartnerCapExceeded(LendingError):
    code = "partner_cap_exceeded"
    title = "The loan would take the funding partner over its cap on outstanding joint loans"


class ApplicationNotFound(NotFound):
    code = "loan_application_not_found"
    title = "No such loan application"


class OfferNotOpen(LendingError):
    code = "offer_not_open"
    status = 409
    title = "The application has no open offer"


class OfferExpired(LendingError):
    code = "offer_expired"
    status = 409
    title = "The offer has expired"


class EAccountNotOwned(LendingError):
    code = "e_account_not_owned"
    status = 403
    title = "The e-account is not the borrower's"


class PayeeNotAllowed(LendingError):
    code = "payee_not_allowed"
    title = "The payee does not fit the product"


class ContractNotFound(NotFound):
    code = "loan_contract_not_found"
    title = "No such loan contract"


class LoanClosed(LendingError):
    code = "loan_closed"
    status = 409
    title = "The loan is paid off or written off"


class RepaymentExceedsDue(LendingError):
    code = "repayment_exceeds_due"
    title = "The repayment is more than is due"


class PrepaymentTooSmall(LendingError):
    code = "prepayment_too_small"
    title = "The prepayment does not cover what is due and some principal"


class InvalidEffectiveDate(LendingError):
    code = "invalid_effective_date"
    title = "The effective date is before the loan started or in the future"


class EventNotReversible(LendingError):
    code = "event_not_reversible"
    status = 409
    title = "Only a repayment not yet reversed can be reversed"


class EventNotFound(NotFound):
    code = "loan_event_not_found"
    title = "No such loan event"


class WriteOffNotAllowed(LendingError):
    code = "write_off_not_allowed"
    status = 409
    title = "Only a loan more than 90 days past due can be written off"


class InvalidImportFile(LendingError):
    code = "invalid_import_file"
    title = "The product file could not be read"


class OfferStale(LendingError):
    code = "offer_stale"
    status = 409
    title = "The product changed after the offer was made; apply again"


class EAccountCannotRepay(LendingError):
    code = "e_account_cannot_repay"
    title = "Loans are repaid from an active class I or II e-account"


class EndOfDayOutOfOrder(LendingError):
    code = "end_of_day_out_of_order"
    status = 409
    title = "End of day has already run for a later date"


class PartnerFundsInsufficient(LendingError):
    code = "partner_funds_insufficient"
    status = 409
    title = "The funding partner no longer holds what a reversal would take back"

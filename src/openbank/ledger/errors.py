"""Ledger error codes: stable, snake_case, modelled on TigerBeetle's transfer results."""

from __future__ import annotations

from openbank.core.errors import DomainError, NotFound


class LedgerError(DomainError):
    code = "ledger_error"
    status = 422
    title = "The ledger refused the transfer"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "Ledger account not found"


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    title = "Transfer not found"


class DebitAccountNotFound(LedgerError):
    code = "debit_account_not_found"
    status = 404
    title = "The debit account does not exist"


class CreditAccountNotFound(LedgerError):
    code = "credit_account_not_found"
    status = 404
    title = "The credit account does not exist"


class AccountsMustBeDifferent(LedgerError):
    code = "accounts_must_be_different"
    title = "Debit and credit account must differ"


class AmountMustBePositive(LedgerError):
    code = "amount_must_be_positive"
    title = "Amount must be a positive number of minor units"


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"
    title = "Accounts and transfer must share one currency"


class DebitAccountClosed(LedgerError):
    code = "debit_account_closed"
    status = 409
    title = "The debit account is closed"


class CreditAccountClosed(LedgerError):
    code = "credit_account_closed"
    status = 409
    title = "The credit account is closed"


class ExceedsCredits(LedgerError):
    code = "exceeds_credits"
    title = "The debit account's debits would exceed its credits"


class ExceedsDebits(LedgerError):
    code = "exceeds_debits"
    title = "The credit account's credits would exceed its debits"


class TimeoutReservedForPendingTransfer(LedgerError):
    code = "timeout_reserved_for_pending_transfer"
    title = "Only a pending transfer can have a timeout"


class PendingTransferNotFound(LedgerError):
    code = "pending_transfer_not_found"
    status = 404
    title = "The pending transfer does not exist"


class PendingTransferNotPending(LedgerError):
    code = "pending_transfer_not_pending"
    status = 409
    title = "The referenced transfer is not a pending transfer"


class PendingTransferAlreadyPosted(LedgerError):
    code = "pending_transfer_already_posted"
    status = 409
    title = "The pending transfer was already posted"


class PendingTransferAlreadyVoided(LedgerError):
    code = "pending_transfer_already_voided"
    status = 409
    title = "The pending transfer was already voided"


class PendingTransferExpired(LedgerError):
    code = "pending_transfer_expired"
    status = 409
    title = "The pending transfer expired and its funds were released"


class ExceedsPendingTransferAmount(LedgerError):
    code = "exceeds_pending_transfer_amount"
    title = "A post cannot exceed the pending amount"


class TransferExistsWithDifferentFields(LedgerError):
    code = "transfer_exists_with_different_fields"
    status = 409
    title = "A transfer with this id exists with different fields"


class IdempotencyKeyReused(LedgerError):
    code = "idempotency_key_reused"
    status = 409
    title = "Idempotency-Key was already used with a different request"


class LinkedEventFailed(LedgerError):
    code = "linked_event_failed"
    title = "Another transfer in the linked batch failed, so none was applied"


class AccountNotEmpty(LedgerError):
    code = "account_not_empty"
    status = 409
    title = "Only an account with zero balances and nothing pending can be closed"


class VoidTakesNoAmount(LedgerError):
    code = "void_takes_no_amount"
    title = "A void releases the whole pending amount; it takes no amount"


class OverflowsBalance(LedgerError):
    code = "overflows_balance"
    title = "The transfer would overflow an account balance"


class ConflictingFlags(LedgerError):
    code = "conflicting_account_flags"
    title = "An account cannot limit both its debits and its credits"


class AccountExistsWithDifferentFields(LedgerError):
    code = "account_exists_with_different_fields"
    status = 409
    title = "An account with this id exists with different fields"

"""Consent error codes: stable, snake_case; each a 4xx, and nothing is written.

Anything that would tell a caller whether someone else's consent or account exists is a 404
with the same body as a consent or account that does not exist at all."""

from __future__ import annotations

from openbank.core.errors import DomainError, Forbidden, NotFound


class ConsentsError(DomainError):
    code = "consents_error"
    status = 422
    title = "The consent request was refused"


class ConsentNotFound(NotFound):
    code = "consent_not_found"
    title = "No such consent"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "No such account under this consent"


class EnvironmentMismatch(ConsentsError):
    code = "environment_mismatch"
    status = 403
    title = "Sandbox apps serve sandbox customers only, production apps production customers"


class ConsentStateConflict(ConsentsError):
    code = "consent_state_conflict"
    status = 409
    title = "The consent is not in a state that allows this"


class ConsentConsumed(ConsentsError):
    code = "consent_consumed"
    status = 409
    title = "The payment consent was already used for its payment"


class ConsentRevoked(Forbidden):
    code = "consent_revoked"
    title = "The consent was revoked"


class ConsentExpired(Forbidden):
    code = "consent_expired"
    title = "The consent has expired"


class ConsentNotAuthorised(Forbidden):
    code = "consent_not_authorised"
    title = "The consent is not authorised"


class ConsentRequired(Forbidden):
    code = "consent_required"
    title = "This operation needs a customer's token bound to a consent"


class PermissionNotGranted(Forbidden):
    code = "permission_not_granted"
    title = "The consent does not grant this permission"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "The token does not carry the scope this operation needs"


class WrongConsentKind(Forbidden):
    code = "wrong_consent_kind"
    title = "The token's consent is of another kind"


class InvalidPermissions(ConsentsError):
    code = "invalid_permissions"
    title = "Permissions must be a non-empty subset of those the consent allows"


class InvalidExpiration(ConsentsError):
    code = "invalid_expiration"
    title = "The expiration must be in the future and at most a year ahead"


class AccountNotEligible(ConsentsError):
    code = "account_not_eligible"
    title = "Every account a consent covers must be an active account of the customer"


class UnsupportedCurrency(ConsentsError):
    code = "unsupported_currency"
    title = "Payments are in CNY only"


class CreditorAccountInvalid(ConsentsError):
    code = "creditor_account_invalid"
    title = "The creditor e-account does not exist or cannot receive money"


class PaymentDoesNotMatchConsent(ConsentsError):
    code = "payment_does_not_match_consent"
    title = "The payment must carry exactly the terms of its payment consent"

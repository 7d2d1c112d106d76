"""Platform error codes (partners, apps, operators, one-time codes): stable, snake_case.

Sub-areas (oauth, consents, gateway, webhooks, signed) define theirs in their own errors.py."""

from __future__ import annotations

from openbank.core.errors import DomainError, NotFound, Unauthorized


class PlatformError(DomainError):
    code = "platform_error"
    status = 422
    title = "The platform refused the request"


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    title = "No such partner"


class AppNotFound(NotFound):
    code = "app_not_found"
    title = "No such app"


class PartnerExists(PlatformError):
    code = "partner_exists"
    status = 409
    title = "A partner with this unified social credit code exists"


class PartnerNotActive(PlatformError):
    code = "partner_not_active"
    status = 409
    title = "The partner is not active"


class InvalidRedirectUri(PlatformError):
    code = "invalid_redirect_uri"
    title = "Redirect URIs must be absolute https URLs without fragments"


class InvalidJwks(PlatformError):
    code = "invalid_jwks"
    title = "The JWKS is not valid, or holds a key of an algorithm the bank does not accept"


class UnknownProduct(PlatformError):
    code = "unknown_product"
    title = "No such product"


class OperatorExists(PlatformError):
    code = "operator_exists"
    status = 409
    title = "An operator with this username exists"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong username or password"


class OtpInvalid(PlatformError):
    code = "otp_invalid"
    status = 401
    title = "The one-time code is wrong, expired or used"

"""Signed gateway error codes: stable, snake_case, each a 4xx (RFC 9457 problem details).

The gateway checks a request in this order and answers with the first failure."""

from __future__ import annotations

from openbank.core.errors import DomainError, Forbidden, Unauthorized


class SignedGatewayError(DomainError):
    code = "signed_gateway_error"
    status = 400
    title = "The signed gateway refused the request"


class InvalidParameter(SignedGatewayError):
    code = "invalid_parameter"
    title = "A request parameter is missing or not valid"


class InvalidApp(Unauthorized):
    code = "invalid_app"
    title = "No active app with this app_id"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"
    title = "The signature does not verify with the app's key for this sign_type"


class StaleRequest(Unauthorized):
    code = "stale_request"
    title = "The timestamp is too far from the bank's clock"


class ReplayedRequest(Unauthorized):
    code = "replayed_request"
    title = "This nonce was already used by the app"


class EncryptionRequired(SignedGatewayError):
    code = "encryption_required"
    title = "The app's biz_content must be encrypted (encrypt_type)"


class DecryptionFailed(SignedGatewayError):
    code = "decryption_failed"
    title = "biz_content could not be decrypted with the app's key"


class UnknownMethod(SignedGatewayError):
    code = "unknown_method"
    title = "No such method"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "The app is not subscribed to the product of this method"


class InvalidBizContent(SignedGatewayError):
    code = "invalid_biz_content"
    title = "biz_content does not hold what the method needs"


class InvalidPublicKey(SignedGatewayError):
    code = "invalid_public_key"
    status = 422
    title = "The public key is not a valid RSA (≥ 2048 bits) or SM2 key"


class CredentialsNotFound(DomainError):
    code = "gateway_credentials_not_found"
    status = 404
    title = "The app has no signed-gateway credentials"

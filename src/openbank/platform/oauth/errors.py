"""Error codes of the authorization server and of the resource check.

OAuth clients read RFC 6749 §5.2 bodies (`error`, `error_description`); the rest of the API
speaks RFC 9457 problem details. Every error here carries both: the problem-detail fields
from DomainError, with `code` equal to the OAuth `error` string, plus `error` and
`error_description` alongside, so an off-the-shelf OAuth library and a problem-details
client read the same response.

Resource-side errors (401/403 on partner endpoints) also carry the RFC 9449
`WWW-Authenticate: DPoP ...` challenge in `headers`, which the HTTP layer puts on the
response.
"""

from __future__ import annotations

from typing import Any

from openbank.core.errors import DomainError

# Algorithms named in every DPoP challenge (RFC 9449 §7.1 `algs`).
CHALLENGE_ALGS = "PS256 ES256 EdDSA"


class OAuthError(DomainError):
    """An RFC 6749 error response from an OAuth endpoint (PAR, token, revoke, introspect)."""

    code = "invalid_request"
    status = 400
    title = "The OAuth request is not valid"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.extra = {"error": self.code, "error_description": self.detail, **extra}


class InvalidRequest(OAuthError):
    code = "invalid_request"
    title = "The request is missing a parameter, repeats one, or is otherwise malformed"


class InvalidClient(OAuthError):
    code = "invalid_client"
    status = 401
    title = "Client authentication failed"


class InvalidGrant(OAuthError):
    code = "invalid_grant"
    title = "The grant is invalid, expired, revoked or was issued to another client"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"
    title = "The client may not use this grant"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"
    title = "The grant type is not supported"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"
    title = "Only response_type=code is supported"


class InvalidScope(OAuthError):
    code = "invalid_scope"
    title = "The scope is invalid, unknown, or beyond what the app may ask for"


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5: the DPoP proof at an OAuth endpoint is missing or invalid."""

    code = "invalid_dpop_proof"
    title = "The DPoP proof is missing or invalid"


class InvalidAuthorizationRequest(OAuthError):
    """The request_uri the customer's browser brought is unknown, expired, used, or belongs
    to another client (the sign-in pages show it; nothing goes back to the client)."""

    code = "invalid_request_uri"
    title = "The authorization request is unknown, expired or already used"


# -- the resource side (partner endpoints) ---------------------------------------------------


class ResourceAuthError(DomainError):
    """A refused partner call, with the RFC 9449 / RFC 6750 challenge in `headers`."""

    code = "invalid_token"
    status = 401
    title = "The access token is not valid"
    # The `error` parameter of the challenge; None for a request that sent no token.
    challenge_error: str | None = "invalid_token"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        params = [f'algs="{CHALLENGE_ALGS}"']
        if self.challenge_error is not None:
            params.insert(0, f'error="{self.challenge_error}"')
        scope = extra.get("scope")
        if isinstance(scope, str):
            params.append(f'scope="{scope}"')
        super().__init__(detail, headers={"WWW-Authenticate": "DPoP " + ", ".join(params)}, **extra)
        if self.challenge_error is not None:
            self.extra = {"error": self.challenge_error, **extra}


class TokenRequired(ResourceAuthError):
    code = "token_required"
    title = "Partner endpoints need Authorization: DPoP <access token> and a DPoP proof"
    challenge_error = None


class InvalidToken(ResourceAuthError):
    code = "invalid_token"
    title = "The access token is unknown, expired, revoked, or not usable here"
    challenge_error = "invalid_token"


class InvalidResourceProof(ResourceAuthError):
    code = "invalid_dpop_proof"
    title = "The DPoP proof is missing, invalid, or made with another key than the token's"
    challenge_error = "invalid_dpop_proof"


class InsufficientScope(ResourceAuthError):
    code = "insufficient_scope"
    status = 403
    title = "The access token does not carry the scope this endpoint needs"
    challenge_error = "insufficient_scope"
